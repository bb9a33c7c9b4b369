package router

import (
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

func TestFirstContentTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  llm.Request
		ttft time.Duration
		rate int
		want time.Duration
	}{
		{"stream: the first-token timeout", llm.Request{MaxTokens: 500}, 30 * time.Second, 20, 30 * time.Second},
		{"collected: plus 500 tokens at 20/s", llm.Request{MaxTokens: 500, Collect: true}, 30 * time.Second, 20, 55 * time.Second},
		{"collected without max_tokens: 4096 assumed", llm.Request{Collect: true}, 10 * time.Second, 20, 10*time.Second + 4096*time.Second/20},
		{"watchdog off stays off", llm.Request{Collect: true}, 0, 20, 0},
		{"rate 0: the first-token timeout alone", llm.Request{MaxTokens: 500, Collect: true}, 30 * time.Second, 0, 30 * time.Second},
	} {
		if got := firstContentTimeout(tc.ttft, tc.rate, &tc.req); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
