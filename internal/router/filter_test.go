package router

import (
	"context"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	fp "github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

// TestTargetFilter is issue 18 item 4 at the router: the request's
// llm.TargetFilter (a key's allow-list) holds for every target tried,
// the fallback included; nothing allowed is KindForbidden.
func TestTargetFilter(t *testing.T) {
	onlyGoogle := func(_, target string) bool { return target == "google/gemini" }
	onlyOllama := func(_, target string) bool { return target == "ollama/llama" }
	theAlias := func(route, _ string) bool { return route == "mixed" }
	nothing := func(_, _ string) bool { return false }
	tests := []struct {
		name       string
		filter     llm.TargetFilter
		googleFail bool
		wantKind   llm.Kind // when wantErr
		wantErr    bool
		wantText   string
		ollamaN    int // calls the fallback saw
	}{
		{"google fails, fallback not allowed", onlyGoogle, true, llm.KindUnavailable, true, "", 0},
		{"primary not allowed, fallback answers", onlyOllama, false, 0, false, "from ollama", 1},
		{"the route itself allowed", theAlias, true, 0, false, "from ollama", 1},
		{"nothing allowed", nothing, false, llm.KindForbidden, true, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := []fp.Step{fp.Text("from google")}
			if tt.googleFail {
				step = []fp.Step{fp.Err(unavailable("google"))}
			}
			prim := fp.New("google")
			prim.SetDefault(step...)
			sec := fp.New("ollama")
			sec.SetDefault(fp.Text("from ollama"))
			p := testPolicy()
			p.Retries = 0
			r, _ := newTestRouter(t, p, nil, gemini(prim), ollama(sec))
			r.Named("mixed")
			res := drain(llm.WithTargetFilter(context.Background(), tt.filter), r)
			if tt.wantErr != (res.err != nil) || tt.wantErr && llm.KindOf(res.err) != tt.wantKind {
				t.Fatalf("err = %v (kind %v), want kind %v", res.err, llm.KindOf(res.err), tt.wantKind)
			}
			if res.text != tt.wantText || sec.NumCalls() != tt.ollamaN {
				t.Errorf("text %q, fallback calls %d; want %q, %d", res.text, sec.NumCalls(), tt.wantText, tt.ollamaN)
			}
		})
	}
}
