package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// TestUsageMapping: cache reads and both kinds of cache writes are kept
// apart, all ⊂ InputTokens; message_delta's repeated counts replace.
func TestUsageMapping(t *testing.T) {
	tests := []struct {
		name   string
		events []string // the usage objects of message_start, then message_delta
		want   llm.Usage
	}{
		{"no cache", []string{`{"input_tokens":10,"output_tokens":1}`, `{"output_tokens":5}`},
			llm.Usage{InputTokens: 10, OutputTokens: 5, TotalTokens: 15}},
		{"read only", []string{`{"input_tokens":10,"cache_read_input_tokens":90,"cache_creation_input_tokens":0,"output_tokens":1}`, `{"output_tokens":5}`},
			llm.Usage{InputTokens: 100, CachedInputTokens: 90, OutputTokens: 5, TotalTokens: 105}},
		{"write without breakdown is 5 minutes", []string{`{"input_tokens":10,"cache_creation_input_tokens":40,"output_tokens":1}`, `{"output_tokens":5}`},
			llm.Usage{InputTokens: 50, CacheWriteTokens: 40, OutputTokens: 5, TotalTokens: 55}},
		{"5m and 1h writes", []string{`{"input_tokens":10,"cache_creation_input_tokens":300,"cache_read_input_tokens":20,
			"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"output_tokens":1}`, `{"output_tokens":7}`},
			llm.Usage{InputTokens: 330, CachedInputTokens: 20, CacheWriteTokens: 100, CacheWrite1hTokens: 200, OutputTokens: 7, TotalTokens: 337}},
		{"1h only", []string{`{"input_tokens":3,"cache_creation_input_tokens":50,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":50},"output_tokens":1}`, `{"output_tokens":2}`},
			llm.Usage{InputTokens: 53, CacheWrite1hTokens: 50, OutputTokens: 2, TotalTokens: 55}},
		{"breakdown without total", []string{`{"input_tokens":3,"cache_creation":{"ephemeral_5m_input_tokens":4,"ephemeral_1h_input_tokens":5},"output_tokens":1}`, `{"output_tokens":2}`},
			llm.Usage{InputTokens: 12, CacheWriteTokens: 4, CacheWrite1hTokens: 5, OutputTokens: 2, TotalTokens: 14}},
		{"delta repeats the cumulative counts", []string{`{"input_tokens":3,"cache_creation_input_tokens":10,"output_tokens":1}`,
			`{"input_tokens":3,"cache_creation_input_tokens":10,"cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":0},"output_tokens":9,"output_tokens_details":{"thinking_tokens":4}}`},
			llm.Usage{InputTokens: 13, CacheWriteTokens: 10, OutputTokens: 9, ThinkingTokens: 4, TotalTokens: 22}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &streamState{}
			for _, raw := range tt.events {
				var u usage
				if err := json.Unmarshal([]byte(raw), &u); err != nil {
					t.Fatal(err)
				}
				s.addUsage(&u)
			}
			got := s.final().Usage
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}
