package gemini_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

func TestCountTokens(t *testing.T) {
	c, srv := newTest(t)
	req := hello("gemini-2.5-flash")
	req.System = "answer in one word"
	req.Tools = []llm.Tool{{Name: "get_weather", Description: "weather of a city", Parameters: json.RawMessage(`{"type":"object"}`)}}
	n, err := c.CountTokens(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	rec := srv.Last(t)
	if rec.Action != "countTokens" || rec.Query.Has("key") || rec.Header.Get("x-goog-api-key") != srv.Key {
		t.Errorf("request %s %v", rec.Path, rec.Query)
	}
	// The system instruction and the tools are counted: the whole
	// generateContentRequest is sent, without generation settings.
	if counts := srv.Counts(); n.Estimated || len(counts) != 1 || n.InputTokens != counts[0] ||
		!strings.Contains(string(rec.Raw), `"systemInstruction"`) || !strings.Contains(string(rec.Raw), `"functionDeclarations"`) ||
		strings.Contains(string(rec.Raw), "generationConfig") {
		t.Errorf("count %+v, fake %v, body %s", n, counts, rec.Raw)
	}
	alone := hello("gemini-2.5-flash")
	m, err := c.CountTokens(context.Background(), alone)
	if err != nil || m.InputTokens >= n.InputTokens {
		t.Errorf("the bare prompt counts %d, with system and tools %d (%v)", m.InputTokens, n.InputTokens, err)
	}
	if _, err := c.CountTokens(context.Background(), hello("gemini-unknown")); llm.KindOf(err) != llm.KindNotFound {
		t.Errorf("unknown model: %v", err)
	}
}
