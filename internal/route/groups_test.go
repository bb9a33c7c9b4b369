package route

import (
	"context"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	fp "github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/router"
)

// TestGroupBackendAndFallbacks: a group backend routes "group/model"
// through its deployments, records its real provider (for prices), pins
// the deployments' breakers, and an alias's context_window rule serves a
// prompt too long for the group's window (the built-in table's 1,048,576
// tokens for Gemini 2.5) from the rule's target.
func TestGroupBackendAndFallbacks(t *testing.T) {
	d1, d2, big := fp.New("google"), fp.New("google"), fp.New("ollama")
	d1.SetDefault(fp.Text("d1"))
	d2.SetDefault(fp.Text("d2"))
	big.SetDefault(fp.Text("big"))
	g := &router.Group{Deployments: []router.Deployment{{Name: "pool#1", P: d1}, {Name: "pool#2", P: d2}}}
	tb, err := New(Config{
		Backends: map[string]Backend{
			"pool":   {P: d1, DefaultModel: "gemini-2.5-flash", Group: g, Provider: "google"},
			"ollama": {P: big, DefaultModel: "big"},
		},
		Primary: "ollama",
		Aliases: map[string]Alias{"fast": {Targets: []string{"pool/gemini-2.5-flash"},
			Fallbacks: map[string][]string{llm.CauseContextWindow: {"ollama/big"}}}},
		Policy:        router.DefaultPolicy(),
		ContextWindow: ContextWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tb.Resolve("fast", "")
	if err != nil || r.Provider != "google" || r.Model != "gemini-2.5-flash" {
		t.Fatalf("route %+v %v: want provider google for prices", r, err)
	}
	text := func(req *llm.Request) string {
		var s string
		for c, err := range r.P.Stream(context.Background(), req) {
			if err != nil {
				t.Fatal(err)
			}
			s += c.Delta
		}
		return s
	}
	short := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	if got := text(short); got != "d1" && got != "d2" {
		t.Fatalf("short prompt: %q, want a deployment's answer", got)
	}
	long := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: string(make([]byte, 4_300_000))}}}
	if got := text(long); got != "big" || d1.NumCalls()+d2.NumCalls() != 1 {
		t.Fatalf("long prompt: %q, deployments called %d times", got, d1.NumCalls()+d2.NumCalls())
	}
	for _, name := range []string{"pool#1/gemini-2.5-flash", "pool#2/gemini-2.5-flash"} {
		found := false
		for _, h := range tb.Breakers().Health() {
			found = found || h.Name == name
		}
		if !found {
			t.Errorf("breaker %s not kept", name)
		}
	}
	if ContextWindow("anthropic", "claude-sonnet-4-5") != 200_000 || ContextWindow("ollama", "llama3") != 0 || ContextWindow("openai", "gpt-4o-mini") != 128_000 {
		t.Fatal("context window table")
	}
}
