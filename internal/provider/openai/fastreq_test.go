package openai

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// checkPlain encodes req both ways: the fast path must give json.Marshal's
// bytes exactly, or decline.
func checkPlain(t *testing.T, req *llm.Request, maxField string) {
	t.Helper()
	got, err := encodeRequest(req, maxField)
	if err != nil {
		return
	}
	w, _ := wireRequest(req, maxField)
	want, werr := json.Marshal(w)
	if werr != nil {
		t.Fatalf("json.Marshal: %v", werr)
	}
	if string(got) != string(want) {
		t.Fatalf("encodeRequest:\n got %s\nwant %s", got, want)
	}
}

func TestPlainRequestMatchesJSON(t *testing.T) {
	str := "a <b> & \"c\" \u2028 \x01 é \xff"
	tests := []llm.Request{
		{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}},
		{Model: "m", System: str, Messages: []llm.Message{{Role: llm.RoleUser, Content: str}, {Role: llm.RoleAssistant, Content: ""}},
			MaxTokens: 64, Temperature: ptr(0.7), TopP: ptr(1e-7), Stop: []string{"END", str}, Seed: ptr(int64(-7)),
			User: "u<1>", Candidates: 3, ThinkingLevel: "HIGH", Collect: true},
		{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Temperature: ptr(1e21), TopP: ptr(0.0)},
		{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Temperature: ptr(math.NaN())},
		{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: "{}"}}},
			{Role: llm.RoleTool, ToolCallID: "c1", Content: "42"}}},
		{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{}`)}}},
	}
	for _, maxField := range []string{MaxTokens, MaxCompletionTokens} {
		for i := range tests {
			checkPlain(t, &tests[i], maxField)
		}
	}
}

func FuzzPlainRequest(f *testing.F) {
	f.Add("gpt-4o-mini", "sys", "hello", "answer", "END", "user-1", 0.7, 256, int64(3), true)
	f.Add("m", "", "<&>\u2028", "", "", "", 1e-9, 0, int64(0), false)
	f.Fuzz(func(t *testing.T, model, system, user, assistant, stop, caller string, temp float64, maxTok int, seed int64, collect bool) {
		req := llm.Request{Model: model, System: system, MaxTokens: maxTok, Temperature: &temp, User: caller, Collect: collect,
			Messages: []llm.Message{{Role: llm.RoleUser, Content: user}, {Role: llm.RoleAssistant, Content: assistant}}}
		if stop != "" {
			req.Stop = []string{stop}
		}
		if seed != 0 {
			req.Seed = &seed
		}
		checkPlain(t, &req, MaxCompletionTokens)
	})
}

// BenchmarkEncodeRequestPlain is the common request (text turns, no
// tools) through the fast path and through reflection.
func BenchmarkEncodeRequestPlain(b *testing.B) {
	req := benchRequest()
	req.Tools = nil
	w, err := wireRequest(req, MaxCompletionTokens)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := appendPlainRequest(make([]byte, 0, plainRequestCap(w)), w); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
