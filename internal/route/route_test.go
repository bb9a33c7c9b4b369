package route

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/router"
)

func table(t *testing.T) *Table {
	t.Helper()
	tb, err := New(Config{
		Backends: map[string]Backend{
			"google": {P: fakeprovider.New("google"), DefaultModel: "gemini-2.5-flash"},
			"ollama": {P: fakeprovider.New("ollama"), DefaultModel: "llama2", Models: []string{"llama3"}},
		},
		Primary: "google", Fallback: "ollama",
		Aliases: map[string]Alias{"fast": {Targets: []string{"ollama/llama3", "google/gemini-2.5-flash-lite"}}},
		Policy:  router.DefaultPolicy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestResolve(t *testing.T) {
	tb := table(t)
	tests := []struct {
		model, provider       string
		name, prov, wantModel string
		err                   bool
	}{
		{"", "", "default", "google", "gemini-2.5-flash", false},
		{"default", "", "default", "google", "gemini-2.5-flash", false},
		{"", "ollama", "ollama/llama2", "ollama", "llama2", false},
		{"fast", "", "fast", "ollama", "llama3", false},
		{"ollama/llama3", "", "ollama/llama3", "ollama", "llama3", false},
		{"gemini-2.5-pro", "", "google/gemini-2.5-pro", "google", "gemini-2.5-pro", false},
		{"mistral", "ollama", "ollama/mistral", "ollama", "mistral", false},
		{"tunedModels/abc", "google", "google/tunedModels/abc", "google", "tunedModels/abc", false},
		{"nowhere/x", "", "", "", "", true},
		{"", "nowhere", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.model+"|"+tt.provider, func(t *testing.T) {
			r, err := tb.Resolve(tt.model, tt.provider)
			if tt.err {
				if !errors.Is(err, gateway.ErrNoRoute) {
					t.Fatalf("err = %v, want ErrNoRoute", err)
				}
				return
			}
			if err != nil || r.Name != tt.name || r.Provider != tt.prov || r.Model != tt.wantModel || r.P == nil {
				t.Errorf("route = %+v, %v", r, err)
			}
		})
	}
}

func TestNewRejectsUnknownNames(t *testing.T) {
	_, err := New(Config{Backends: map[string]Backend{"ollama": {P: fakeprovider.New("ollama"), DefaultModel: "x"}}, Primary: "google"})
	if err == nil {
		t.Error("unknown primary accepted")
	}
	_, err = New(Config{Backends: map[string]Backend{"ollama": {P: fakeprovider.New("ollama"), DefaultModel: "x"}}, Primary: "ollama",
		Aliases: map[string]Alias{"a": {Targets: []string{"openai/gpt"}}}})
	if err == nil {
		t.Error("alias to an unconfigured provider accepted")
	}
}

// Model names come from callers: made-up names must not grow the table
// without bound.
func TestExplicitRoutesBounded(t *testing.T) {
	tb := table(t)
	for i := range maxExplicit + 100 {
		if _, err := tb.Resolve(fmt.Sprintf("ollama/m%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := tb.explicit.len(); n != maxExplicit {
		t.Errorf("kept %d explicit routes, want %d", n, maxExplicit)
	}
	// Each kept route has its breaker, the configured targets theirs, and
	// no forgotten route left one behind.
	if n, pinned := tb.Breakers().Len(), 4; n > maxExplicit+pinned {
		t.Errorf("%d breakers for %d routes and %d configured targets", n, maxExplicit, pinned)
	}
	if got := len(tb.Models()); got != 4 { // alias + 3 configured models
		t.Errorf("Models() = %d entries", got)
	}
}

// TestResolveBareModel: a model named without its provider goes to the
// provider that advertises it, else the primary; a hosted provider's
// model (gpt-*, claude-*, gemini-*) is never sent to another provider,
// and a provider pinned but not configured says so (issue 13).
func TestResolveBareModel(t *testing.T) {
	ollamaFirst, err := New(Config{
		Backends: map[string]Backend{
			"ollama": {P: fakeprovider.New("ollama"), DefaultModel: "llama2", Models: []string{"llama3"}},
			"groq":   {P: fakeprovider.New("groq"), DefaultModel: "llama-3.1-8b-instant"},
		},
		Primary: "ollama", Policy: router.DefaultPolicy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		model, provider string
		want            string // route name, or the error's text
		err             bool
	}{
		{"llama3", "", "ollama/llama3", false},
		{"mistral", "", "ollama/mistral", false},                         // any model of the primary
		{"llama-3.1-8b-instant", "", "groq/llama-3.1-8b-instant", false}, // advertised by groq
		{"gpt-4o-mini", "", `model "gpt-4o-mini" belongs to provider "openai", which is not configured (configured: groq, ollama)`, true},
		{"claude-sonnet-4-5", "", `provider "anthropic", which is not configured`, true},
		{"", "google", `provider "google" is not configured (configured: groq, ollama)`, true},
		{"gemini-2.5-flash", "google", `provider "google" is not configured`, true},
	}
	for _, tt := range tests {
		t.Run(tt.model+"|"+tt.provider, func(t *testing.T) {
			r, err := ollamaFirst.Resolve(tt.model, tt.provider)
			if tt.err {
				if !errors.Is(err, gateway.ErrNoRoute) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want ErrNoRoute with %q", err, tt.want)
				}
				return
			}
			if err != nil || r.Name != tt.want {
				t.Fatalf("route %q err %v, want %q", r.Name, err, tt.want)
			}
		})
	}
}
