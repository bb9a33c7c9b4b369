package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/track"
)

// A stream the client abandons is billed (issue 18 item 5): what the
// provider reported so far, else the prompt estimate plus the streamed
// text's tokens; the record carries the same usage and cost.
func TestAbortedStreamIsBilled(t *testing.T) {
	prompt := strings.Repeat("word ", 80) // 400 bytes
	tests := []struct {
		name      string
		steps     []fakeprovider.Step
		wantUsage func(u llm.Usage) bool
	}{
		{"cumulative usage on chunks", []fakeprovider.Step{
			fakeprovider.Chunk(llm.Chunk{Delta: "one ", Usage: &llm.Usage{InputTokens: 120, OutputTokens: 1}}),
			fakeprovider.Chunk(llm.Chunk{Delta: "two ", Usage: &llm.Usage{InputTokens: 120, OutputTokens: 2}}),
			fakeprovider.Chunk(llm.Chunk{Delta: "three ", Usage: &llm.Usage{InputTokens: 120, OutputTokens: 3}}),
			fakeprovider.Text("four"),
		}, func(u llm.Usage) bool { return u.InputTokens == 120 && u.OutputTokens == 2 }},
		{"no usage reported", []fakeprovider.Step{
			fakeprovider.Text(strings.Repeat("a", 40)), fakeprovider.Text(strings.Repeat("b", 40)),
			fakeprovider.Text("rest"),
		}, func(u llm.Usage) bool { return u.InputTokens >= 100 && u.OutputTokens >= 20 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec []track.Call
			b := &recordingBudget{}
			g := &Gateway{Routes: oneRoute{fakeprovider.New("google", tc.steps)}, Pricer: flatPrice{}, Budget: b,
				Sink: track.SinkFunc(func(_ context.Context, c track.Call) error { rec = append(rec, c); return nil })}
			in := &Input{RequestID: "r1", Endpoint: "/chat", Stream: true,
				Req: &llm.Request{MaxTokens: 100, Messages: []llm.Message{{Role: llm.RoleUser, Content: prompt}}}}
			res, seq, err := g.Chat(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, err := range seq {
				if err != nil {
					t.Fatal(err)
				}
				if n++; n == 2 {
					break // the client closes after two chunks
				}
			}
			if !tc.wantUsage(res.Response.Usage) {
				t.Errorf("usage = %+v", res.Response.Usage)
			}
			if res.CostUSD <= 0 || len(b.committed) != 1 || b.committed[0] != res.CostUSD {
				t.Errorf("cost %v, committed %v", res.CostUSD, b.committed)
			}
			if len(rec) != 1 || rec[0].Usage != res.Response.Usage || rec[0].CostUSD != res.CostUSD || rec[0].Success {
				t.Errorf("record = %+v", rec)
			}
		})
	}
}
