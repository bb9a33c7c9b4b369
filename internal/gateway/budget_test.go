package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

// recordingBudget remembers the worst case it was asked to hold and the
// cost committed for it.
type recordingBudget struct {
	worst     []float64
	committed []float64
}

func (b *recordingBudget) Reserve(_ context.Context, _ Identity, worst float64) (func(float64), error) {
	b.worst = append(b.worst, worst)
	return func(usd float64) { b.committed = append(b.committed, usd) }, nil
}

// pricedModels prices only the models it lists, $1 per million input
// and $4 per million output tokens.
type pricedModels map[string]bool

func (p pricedModels) Cost(provider, model string, u llm.Usage) (float64, bool) {
	if !p[provider+"/"+model] {
		return 0, false
	}
	return (float64(u.InputTokens) + 4*float64(u.OutputTokens)) / 1e6, true
}
func (pricedModels) Version() string { return "test-1" }

// The budget's reservation is a true upper bound (issue 18 item 6): it
// covers a call that bills one token per prompt byte, the chat
// template's tokens, max_tokens and the thinking budget; and an answer
// from an unpriced model version is priced by the configured model,
// never as $0.
func TestBudgetWorstCaseIsAnUpperBound(t *testing.T) {
	prompt := strings.Repeat("x", 400)
	system := strings.Repeat("s", 200)
	// The upstream bills every byte as a token, 40 template tokens, the
	// whole answer budget and 64 thinking tokens.
	usage := &llm.Usage{InputTokens: len(prompt) + len(system) + 40, OutputTokens: 100 + 64}
	p := fakeprovider.New("google", []fakeprovider.Step{fakeprovider.Text("hi"),
		fakeprovider.Chunk(llm.Chunk{FinishReason: "stop", Usage: usage, Provider: "google", Model: "fake-version"})})
	b := &recordingBudget{}
	g := &Gateway{Routes: oneRoute{p}, Budget: b, Pricer: pricedModels{"google/gemini": true},
		ThinkingTokens: func(provider string) int { return 64 }}
	in := &Input{RequestID: "r1", Endpoint: "/chat", Req: &llm.Request{MaxTokens: 100, System: system,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: prompt}}}}
	res, err := run(t, g, in)
	if err != nil {
		t.Fatal(err)
	}
	if !res.CostKnown || res.CostUSD == 0 {
		t.Fatalf("cost = %v (known %v), want the configured model's price", res.CostUSD, res.CostKnown)
	}
	if len(b.worst) != 1 || len(b.committed) != 1 {
		t.Fatalf("reserved %v, committed %v", b.worst, b.committed)
	}
	if b.committed[0] > b.worst[0] {
		t.Errorf("call cost $%g, more than the reserved worst case $%g", b.committed[0], b.worst[0])
	}
}
