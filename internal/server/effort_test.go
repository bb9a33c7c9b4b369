package server

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// thinkingOf is what a decoded request asks of thinking: "level:x",
// "budget:n" or "".
func thinkingOf(r *llm.Request) string {
	switch {
	case r.ThinkingLevel != "" && r.ThinkingBudget != nil:
		return "both"
	case r.ThinkingLevel != "":
		return "level:" + r.ThinkingLevel
	case r.ThinkingBudget != nil:
		return "budget:" + strconv.Itoa(*r.ThinkingBudget)
	}
	return ""
}

// TestThinkingLevelOnEverySurface: /v1/chat/completions reasoning_effort,
// /v1/responses reasoning.effort and Gemini's thinkingConfig.thinkingLevel
// all become llm.Request.ThinkingLevel; "none" turns thinking off
// (budget 0); anything else is a 400 naming the field, in the surface's
// shape.
func TestThinkingLevelOnEverySurface(t *testing.T) {
	chat := func(extra string) string {
		return `{"model":"m","messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	resp := func(extra string) string { return `{"model":"m","input":"hi"` + extra + `}` }
	gem := func(tc string) string {
		return `{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":` + tc + `}}`
	}
	tests := []struct {
		surface, name, body string
		want                string // thinkingOf the request
		refused             string // a 400: the param (OpenAI) or a message part (Gemini)
	}{
		{"chat", "absent", chat(``), "", ""},
		{"chat", "low", chat(`,"reasoning_effort":"low"`), "level:low", ""},
		{"chat", "minimal", chat(`,"reasoning_effort":"minimal"`), "level:minimal", ""},
		{"chat", "high", chat(`,"reasoning_effort":"high"`), "level:high", ""},
		{"chat", "none is off", chat(`,"reasoning_effort":"none"`), "budget:0", ""},
		{"chat", "unknown", chat(`,"reasoning_effort":"extreme"`), "", "reasoning_effort"},
		{"responses", "absent", resp(``), "", ""},
		{"responses", "null", resp(`,"reasoning":null`), "", ""},
		{"responses", "medium", resp(`,"reasoning":{"effort":"medium"}`), "level:medium", ""},
		{"responses", "summary auto", resp(`,"reasoning":{"effort":"high","summary":"auto"}`), "level:high", ""},
		{"responses", "none is off", resp(`,"reasoning":{"effort":"none"}`), "budget:0", ""},
		{"responses", "unknown", resp(`,"reasoning":{"effort":"max"}`), "", "reasoning.effort"},
		{"responses", "detailed summary", resp(`,"reasoning":{"summary":"detailed"}`), "", "reasoning.summary"},
		{"responses", "not an object", resp(`,"reasoning":"high"`), "", "reasoning"},
		{"gemini", "enum name", gem(`{"thinkingLevel":"LOW"}`), "level:low", ""},
		{"gemini", "lower case", gem(`{"thinkingLevel":"minimal"}`), "level:minimal", ""},
		{"gemini", "unspecified", gem(`{"thinkingLevel":"THINKING_LEVEL_UNSPECIFIED"}`), "", ""},
		{"gemini", "budget", gem(`{"thinkingBudget":0}`), "budget:0", ""},
		{"gemini", "level and budget", gem(`{"thinkingLevel":"HIGH","thinkingBudget":1024}`), "", "thinking_budget and thinking_level are not supported together"},
		{"gemini", "unknown level", gem(`{"thinkingLevel":"MAX"}`), "", "thinking_level"},
		{"gemini", "not a string", gem(`{"thinkingLevel":3}`), "", "thinking_level"},
	}
	for _, tt := range tests {
		t.Run(tt.surface+"/"+tt.name, func(t *testing.T) {
			req, refusal, status := decodeFor(tt.surface, tt.body)
			if tt.refused != "" {
				if status != http.StatusBadRequest || !strings.Contains(refusal, tt.refused) {
					t.Fatalf("got %d %q, want a 400 naming %q", status, refusal, tt.refused)
				}
				return
			}
			if status != 0 {
				t.Fatalf("refused %d: %s", status, refusal)
			}
			if got := thinkingOf(req); got != tt.want {
				t.Errorf("thinking %q, want %q", got, tt.want)
			}
		})
	}
}

// decodeFor runs the surface's decoder: the request, or the refusal's
// param (OpenAI) / message (Gemini) and status.
func decodeFor(surface, body string) (*llm.Request, string, int) {
	switch surface {
	case "gemini":
		d, f := DecodeGemini([]byte(body))
		if f != nil {
			return nil, f.message, f.status
		}
		return d.req, "", 0
	}
	decode := decodeOA
	if surface == "responses" {
		decode = func(b []byte) (*oaRequest, *llm.Request, *oaFail) {
			_, r, f := decodeResponses(b)
			return nil, r, f
		}
	}
	_, req, f := decode([]byte(body))
	if f != nil {
		param := f.err.Message
		if f.err.Param != nil {
			param = *f.err.Param
		}
		return nil, param, f.status
	}
	return req, "", 0
}
