package cost

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// noPromptCache lists the embedded models whose provider offers no
// cached-input price: they must leave cached_input out.
var noPromptCache = map[string]bool{"o1-pro": true, "o3-pro": true, "gemini-2.0-flash-lite": true,
	// Embedding models have no prompt cache.
	"gemini-embedding-001": true, "text-embedding-3-small": true, "text-embedding-3-large": true, "text-embedding-ada-002": true}

// TestPriceTableCoverage: every embedded price names a source with a url
// and a checked date no later than the table's; every Claude model
// prices cache reads and both cache writes at Anthropic's multipliers;
// every OpenAI and Gemini model with a prompt cache prices reads.
func TestPriceTableCoverage(t *testing.T) {
	tbl := Default()
	tableDay, err := time.Parse(time.DateOnly, tbl.Date())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tbl.Entries() {
		src, ok := tbl.Source(e.Source)
		if !ok {
			t.Errorf("%s: no source", e.Model)
			continue
		}
		day, err := time.Parse(time.DateOnly, src.Checked)
		if err != nil || day.After(tableDay) || !strings.HasPrefix(src.URL, "https://") {
			t.Errorf("%s: source %q checked %q url %q", e.Model, e.Source, src.Checked, src.URL)
		}
		switch family(e) {
		case "anthropic":
			checkClaude(t, e.Model, e.Input, e.CachedInput, e.CacheWrite, e.CacheWrite1h)
			for _, tier := range e.Tiers {
				checkClaude(t, e.Model+" long context", tier.Input, tier.CachedInput, tier.CacheWrite, tier.CacheWrite1h)
			}
		case "openai", "gemini":
			if noPromptCache[e.Model] {
				if e.CachedInput != nil {
					t.Errorf("%s: listed without a prompt cache but has cached_input", e.Model)
				}
				continue
			}
			if e.CachedInput == nil || *e.CachedInput >= e.Input {
				t.Errorf("%s: cache reads not discounted: %v", e.Model, e.CachedInput)
			}
			if e.CacheWrite != nil || e.CacheWrite1h != nil {
				t.Errorf("%s: a cache write price for a provider that bills none", e.Model)
			}
		}
	}
}

func family(e PriceEntry) string {
	switch m := e.Model; {
	case strings.HasPrefix(m, "claude-"):
		return "anthropic"
	case strings.HasPrefix(m, "gemini-"):
		return "gemini"
	case e.Provider == "" && !strings.Contains(m, "*") || strings.HasPrefix(m, "ft:"):
		return "openai"
	}
	return "local"
}

// checkClaude: reads about 0.1x input (Claude 3 Haiku lists $0.03 on
// $0.25), 5-minute writes 1.25x and 1-hour writes 2x, within 5%.
func checkClaude(t *testing.T, model string, input float64, read, w5, w1 *float64) {
	t.Helper()
	if read == nil || w5 == nil || w1 == nil {
		t.Errorf("%s: cache read %v, write %v, 1h write %v: all three are required", model, read, w5, w1)
		return
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 0.05*want }
	if *read < 0.08*input || *read > 0.125*input || !near(*w5, 1.25*input) || !near(*w1, 2*input) {
		t.Errorf("%s: input %v read %v write %v 1h write %v", model, input, *read, *w5, *w1)
	}
}

// TestCachePricing prices each kind of prompt token at its own rate.
func TestCachePricing(t *testing.T) {
	tests := []struct {
		name, provider, model string
		u                     llm.Usage
		want                  float64 // USD
	}{
		{"claude reads and both writes", "anthropic", "claude-sonnet-4-5",
			llm.Usage{InputTokens: 100_000, CachedInputTokens: 20_000, CacheWriteTokens: 30_000, CacheWrite1hTokens: 40_000, OutputTokens: 1000},
			(10_000*3 + 20_000*0.30 + 30_000*3.75 + 40_000*6.00 + 1000*15) / 1e6},
		{"claude long context tier", "anthropic", "claude-sonnet-4-5",
			llm.Usage{InputTokens: 300_000, CachedInputTokens: 100_000, CacheWriteTokens: 100_000, CacheWrite1hTokens: 50_000, OutputTokens: 1000},
			(50_000*6 + 100_000*0.60 + 100_000*7.50 + 50_000*12 + 1000*22.50) / 1e6},
		{"parts larger than the input are capped", "anthropic", "claude-haiku-4-5",
			llm.Usage{InputTokens: 100, CachedInputTokens: 60, CacheWriteTokens: 60, CacheWrite1hTokens: 60},
			(60*0.10 + 40*1.25) / 1e6},
		{"openai cached and reasoning", "openai", "gpt-5",
			llm.Usage{InputTokens: 10_000, CachedInputTokens: 4000, OutputTokens: 2000, ThinkingTokens: 1500},
			(6000*1.25 + 4000*0.125 + 2000*10) / 1e6},
		{"gemini 3 cached", "google", "gemini-3-flash-preview",
			llm.Usage{InputTokens: 10_000, CachedInputTokens: 5000, OutputTokens: 100, ThinkingTokens: 60},
			(5000*0.50 + 5000*0.05 + 100*3) / 1e6},
		{"a write on a model without a write price costs input", "google", "gemini-2.5-flash",
			llm.Usage{InputTokens: 1000, CacheWriteTokens: 1000}, 1000 * 0.30 / 1e6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Default().Cost(tt.provider, tt.model, tt.u)
			if !ok || math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("cost = %v (known %v), want %v", got, ok, tt.want)
			}
		})
	}
}
