package server

import (
	"errors"
	"net/http"
	"testing"

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
