package server

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// A route whose every target failed answers with the status of its most
// meaningful failure (issue 18 item 11); credentials an upstream refused
// are the operator's problem (502), never the caller's 401.
func TestStatusOfFinalRouteError(t *testing.T) {
	final := func(kind llm.Kind, causes ...error) error {
		return &llm.Error{Kind: kind, Message: "all providers failed: ...", Err: errors.Join(causes...)}
	}
	down := &llm.Error{Kind: llm.KindUnavailable, Provider: "ollama", Message: "connection refused"}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"unknown model", final(llm.KindNotFound, &llm.Error{Kind: llm.KindNotFound, Provider: "google"}, down), http.StatusNotFound},
		{"credentials refused upstream", final(llm.KindUnauthorized, &llm.Error{Kind: llm.KindUnauthorized, Provider: "google"}, down), http.StatusBadGateway},
		{"forbidden upstream", final(llm.KindForbidden, &llm.Error{Kind: llm.KindForbidden, Provider: "google"}, down), http.StatusBadGateway},
		{"garbage", final(llm.KindUpstream, down, &llm.Error{Kind: llm.KindUpstream, Provider: "ollama"}), http.StatusBadGateway},
		{"all down", final(llm.KindUnavailable, down, down), http.StatusServiceUnavailable},
		{"caller's own key", &llm.Error{Kind: llm.KindUnauthorized, Message: "invalid API key"}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		if got := statusOf(tc.err); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Every 429 carries a Retry-After, as the README promises, even when no
// upstream hint survived (issue 18 item 12); hints are whole seconds,
// never 0 or negative.
func TestRetryAfterOn429(t *testing.T) {
	tests := []struct {
		name string
		hint time.Duration
		want string
	}{
		{"no hint", 0, "1"},
		{"negative hint", -5 * time.Second, "1"},
		{"fraction rounds up", 1500 * time.Millisecond, "2"},
		{"seconds", 37 * time.Second, "37"},
	}
	for _, tc := range tests {
		for _, path := range []string{"/chat", "/v1/chat/completions"} {
			h := newHarness(t)
			rl := &llm.Error{Kind: llm.KindRateLimited, Provider: "google", StatusCode: 429, RetryAfter: tc.hint, Message: "quota"}
			h.primary.SetDefault(fakeprovider.Err(rl))
			// The fallback gives no hint, so no test waits for one.
			h.backup.SetDefault(fakeprovider.Err(&llm.Error{Kind: llm.KindRateLimited, Provider: "ollama", StatusCode: 429}))
			body := `{"prompt":"hi"}`
			if path != "/chat" {
				body = `{"model":"default","messages":[{"role":"user","content":"hi"}]}`
			}
			resp, b := h.post(t, path, body)
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("%s %s: status %d: %s", tc.name, path, resp.StatusCode, b)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.want {
				t.Errorf("%s %s: Retry-After %q, want %q", tc.name, path, got, tc.want)
			}
		}
	}
}
