package cost

import (
	"math"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// TestCostGolden prices the usage shapes recorded in
// ../shared/reference/wire.md after the adapters' normalisation
// (cached ⊂ input, thinking ⊂ output). want is worked out by hand in the
// comment beside each case, in USD per 1M tokens.
func TestCostGolden(t *testing.T) {
	tests := []struct {
		name            string
		provider, model string
		usage           llm.Usage
		want            float64
	}{{
		// wire.md §1.3: promptTokenCount 12, candidatesTokenCount 7,
		// thoughtsTokenCount 180, totalTokenCount 199.
		// 12×0.30 + (7+180)×2.50 = 3.6 + 467.5
		name: "gemini flash with thoughts", provider: "gemini", model: "gemini-2.5-flash",
		usage: llm.Usage{InputTokens: 12, OutputTokens: 187, ThinkingTokens: 180, TotalTokens: 199},
		want:  471.1e-6,
	}, {
		// wire.md §1.4 last stream chunk: prompt 5, candidates 44, thoughts 186, total 235.
		// 5×0.30 + 230×2.50 = 1.5 + 575
		name: "gemini flash stream final usage", provider: "gemini", model: "models/gemini-2.5-flash",
		usage: llm.Usage{InputTokens: 5, OutputTokens: 230, ThinkingTokens: 186, TotalTokens: 235},
		want:  576.5e-6,
	}, {
		// prompt 10000 of which cachedContentTokenCount 8000, candidates 500, thoughts 1500.
		// 2000×0.30 + 8000×0.03 + 2000×2.50 = 600 + 240 + 5000
		name: "gemini flash with cached content", provider: "gemini", model: "gemini-2.5-flash",
		usage: llm.Usage{InputTokens: 10000, CachedInputTokens: 8000, OutputTokens: 2000, ThinkingTokens: 1500},
		want:  5840e-6,
	}, {
		// Exactly 200k prompt tokens stays in the base tier: 200000×1.25 + 4000×10
		name: "gemini pro at 200k", provider: "gemini", model: "gemini-2.5-pro",
		usage: llm.Usage{InputTokens: 200000, OutputTokens: 4000, ThinkingTokens: 3000},
		want:  0.29,
	}, {
		// Above 200k the whole request moves up: 250000×2.50 + 4000×15
		name: "gemini pro above 200k", provider: "gemini", model: "gemini-2.5-pro",
		usage: llm.Usage{InputTokens: 250000, OutputTokens: 4000, ThinkingTokens: 3000},
		want:  0.685,
	}, {
		// 100 prompt + 20 toolUsePromptTokenCount, billed as input: 120×0.10 + 50×0.40
		name: "gemini flash-lite with tool-use prompt", provider: "gemini", model: "gemini-2.5-flash-lite",
		usage: llm.Usage{InputTokens: 100, ToolUseInputTokens: 20, OutputTokens: 50},
		want:  32e-6,
	}, {
		// wire.md §4.2: prompt_tokens 9, completion_tokens 2, cached 0, reasoning 0.
		// 9×0.15 + 2×0.60 = 1.35 + 1.2
		name: "openai gpt-4o-mini dated", provider: "openai", model: "gpt-4o-mini-2024-07-18",
		usage: llm.Usage{InputTokens: 9, OutputTokens: 2, TotalTokens: 11},
		want:  2.55e-6,
	}, {
		// prompt 2000 (cached_tokens 1024), completion 500 (reasoning_tokens 384).
		// 976×1.10 + 1024×0.275 + 500×4.40 = 1073.6 + 281.6 + 2200
		name: "openai o4-mini reasoning and cache", provider: "openai", model: "o4-mini",
		usage: llm.Usage{InputTokens: 2000, CachedInputTokens: 1024, OutputTokens: 500, ThinkingTokens: 384},
		want:  3555.2e-6,
	}, {
		// prompt 1000 (cached 500), completion 100: 500×2.50 + 500×1.25 + 100×10
		name: "openai gpt-4o cached", provider: "openai", model: "gpt-4o",
		usage: llm.Usage{InputTokens: 1000, CachedInputTokens: 500, OutputTokens: 100},
		want:  2875e-6,
	}, {
		// Fine-tuned: 1000×0.30 + 1000×1.20
		name: "openai fine-tuned gpt-4o-mini", provider: "openai", model: "ft:gpt-4o-mini-2024-07-18:acme::AbC123",
		usage: llm.Usage{InputTokens: 1000, OutputTokens: 1000},
		want:  1500e-6,
	}, {
		// wire.md §5.2: input_tokens 12, output_tokens 6, no cache. 12×3 + 6×15
		name: "anthropic sonnet 4.5", provider: "anthropic", model: "claude-sonnet-4-5-20250929",
		usage: llm.Usage{InputTokens: 12, OutputTokens: 6},
		want:  126e-6,
	}, {
		// input_tokens 25 + cache_read_input_tokens 1000 (normalised into
		// input), output_tokens 15: 25×3 + 1000×0.30 + 15×15 = 75 + 300 + 225
		name: "anthropic cache read", provider: "anthropic", model: "claude-sonnet-4-5",
		usage: llm.Usage{InputTokens: 1025, CachedInputTokens: 1000, OutputTokens: 15},
		want:  600e-6,
	}, {
		// 1000×1 + 2000×5 (thinking inside output)
		name: "anthropic haiku 4.5 thinking", provider: "anthropic", model: "claude-haiku-4-5-20251001",
		usage: llm.Usage{InputTokens: 1000, OutputTokens: 2000, ThinkingTokens: 1500},
		want:  11000e-6,
	}, {
		// ollama-recorded/06: prompt_eval_count 15, eval_count 11. Free.
		name: "ollama native", provider: "ollama", model: "tiny",
		usage: llm.Usage{InputTokens: 15, OutputTokens: 11, TotalTokens: 26},
		want:  0,
	}, {
		name: "ollama prefixed, provider unknown", provider: "", model: "ollama/llama3.2:1b",
		usage: llm.Usage{InputTokens: 15, OutputTokens: 11},
		want:  0,
	}, {
		name: "ollama named like a paid model", provider: "ollama", model: "gpt-4o",
		usage: llm.Usage{InputTokens: 1000, OutputTokens: 1000},
		want:  0,
	}}
	table := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := table.Cost(tt.provider, tt.model, tt.usage)
			if !known {
				t.Fatalf("Cost(%q, %q): known = false", tt.provider, tt.model)
			}
			if math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Cost(%q, %q) = %.10f, want %.10f", tt.provider, tt.model, got, tt.want)
			}
		})
	}
}

func TestCostUnknown(t *testing.T) {
	for _, m := range []struct{ provider, model string }{
		{"openai", "gpt-99"},
		{"gemini", "tunedModels/my-model-x1"},
		{"", "mystery"},
		{"anthropic", "claude-opus-5"},
	} {
		got, known := Default().Cost(m.provider, m.model, llm.Usage{InputTokens: 10, OutputTokens: 10})
		if known || got != 0 {
			t.Errorf("Cost(%q, %q) = %v, %v; want 0, false", m.provider, m.model, got, known)
		}
	}
}

func TestTableWithOverrides(t *testing.T) {
	half := 0.5
	base := Default()
	tbl, err := base.With([]PriceEntry{
		{Provider: "gemini", Model: "tunedModels/my-model-x1", Input: 0.30, Output: 2.50},
		{Model: "gpt-4o", Input: 1, Output: 2, CachedInput: &half},
		{Provider: "vllm", Model: "*", Input: 0.01, Output: 0.02},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Version() == base.Version() || !strings.HasPrefix(tbl.Version(), base.Version()+"+cfg.") {
		t.Errorf("version %q does not name the overrides on top of %q", tbl.Version(), base.Version())
	}
	u := llm.Usage{InputTokens: 1_000_000, CachedInputTokens: 500_000, OutputTokens: 1_000_000}
	for _, c := range []struct {
		provider, model string
		want            float64
	}{
		{"gemini", "tunedModels/my-model-x1", 0.15 + 0.15 + 2.50}, // no cached price: input price
		{"openai", "gpt-4o-2024-08-06", 0.5 + 0.25 + 2},           // replaced
		{"vllm", "meta-llama/Llama-3-8B", 0.01 + 0.02},
		{"openai", "gpt-4o-mini", 0.075 + 0.0375 + 0.60}, // untouched
	} {
		got, known := tbl.Cost(c.provider, c.model, u)
		if !known || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Cost(%q, %q) = %v, %v; want %v", c.provider, c.model, got, known, c.want)
		}
	}
	if _, known := base.Cost("gemini", "tunedModels/my-model-x1", u); known {
		t.Error("With changed the base table")
	}
}

func TestParseTableErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"no version":   "date: x\nmodels: []\n",
		"negative":     "version: v\ndate: d\nmodels:\n  - {model: m, input: -1, output: 1}\n",
		"no model":     "version: v\ndate: d\nmodels:\n  - {input: 1, output: 1}\n",
		"bad tier":     "version: v\ndate: d\nmodels:\n  - {model: m, input: 1, output: 1, tiers: [{input: 2, output: 2}]}\n",
		"not yaml map": "version: [\n",
	} {
		if _, err := ParseTable([]byte(doc)); err == nil {
			t.Errorf("%s: ParseTable succeeded", name)
		}
	}
}

func TestEmbeddedTable(t *testing.T) {
	tbl := Default()
	if tbl.Version() == "" || len(tbl.Date()) != len("2006-01-02") {
		t.Fatalf("version %q date %q", tbl.Version(), tbl.Date())
	}
	// Every model the gateway routes to by default has a price.
	for _, m := range []struct{ provider, model string }{
		{"gemini", "gemini-2.5-flash"}, {"gemini", "gemini-2.5-flash-lite"}, {"gemini", "gemini-2.5-pro"},
		{"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"}, {"openai", "gpt-4.1"}, {"openai", "gpt-4.1-mini"},
		{"openai", "gpt-4.1-nano"}, {"openai", "o1"}, {"openai", "o3"}, {"openai", "o3-mini"}, {"openai", "o4-mini"},
		{"anthropic", "claude-sonnet-4-5"}, {"anthropic", "claude-opus-4-1-20250805"},
		{"anthropic", "claude-3-5-haiku-latest"}, {"anthropic", "claude-haiku-4-5"},
		{"ollama", "qwen3:0.6b"}, {"local", "anything"},
	} {
		p, ok := tbl.Lookup(m.provider, m.model)
		if !ok {
			t.Errorf("no price for %s/%s", m.provider, m.model)
			continue
		}
		if p.CachedInput > p.Input {
			t.Errorf("%s/%s: cached input %v costs more than input %v", m.provider, m.model, p.CachedInput, p.Input)
		}
	}
}

func TestLookupSpecificity(t *testing.T) {
	tbl := Default()
	mini, _ := tbl.Lookup("", "gpt-4o-mini")
	ftMini, _ := tbl.Lookup("openai", "ft:gpt-4o-mini-2024-07-18:org::x")
	ft4o, _ := tbl.Lookup("openai", "ft:gpt-4o-2024-08-06:org::x")
	if ftMini.Input == mini.Input || ftMini.Input == ft4o.Input {
		t.Errorf("fine-tuned mini priced like another model: %v", ftMini)
	}
	lite, _ := tbl.Lookup("gemini", "gemini-2.5-flash-lite-preview-06-17")
	flash, _ := tbl.Lookup("gemini", "gemini-2.5-flash-preview-09-2025")
	if lite.Input != 0.10 || flash.Input != 0.30 {
		t.Errorf("preview patterns: lite %v, flash %v", lite.Input, flash.Input)
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"gpt-4o-mini-2024-07-18":      "gpt-4o-mini",
		"claude-sonnet-4-5-20250929":  "claude-sonnet-4-5",
		"claude-3-5-haiku-latest":     "claude-3-5-haiku",
		"models/gemini-2.0-flash-001": "gemini-2.0-flash",
		"gpt-4.1":                     "gpt-4.1",
		"o3":                          "o3",
		"claude-opus-4-1":             "claude-opus-4-1",
	} {
		if got := baseName(in); got != want {
			t.Errorf("baseName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "ac", true},
		{"a*c", "ab", false}, {"a*b*c", "axbyc", true}, {"a*b*c", "acb", false}, {"a*a", "a", false},
		{"ft:gpt-4o-mini-2024-07-18:*", "ft:gpt-4o-mini-2024-07-18:org::id", true},
	} {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

func BenchmarkTableCost(b *testing.B) {
	tbl := Default()
	u := llm.Usage{InputTokens: 2000, CachedInputTokens: 1024, OutputTokens: 500, ThinkingTokens: 384}
	b.Run("exact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tbl.Cost("openai", "o4-mini", u)
		}
	})
	b.Run("dated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tbl.Cost("anthropic", "claude-sonnet-4-5-20250929", u)
		}
	})
	b.Run("pattern", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tbl.Cost("openai", "ft:gpt-4o-mini-2024-07-18:org::abc", u)
		}
	})
}
