package config

import (
	"strings"
	"testing"
)

// TestGroupsFile: a valid group, its alias and fallbacks parse; each
// mistake is reported with its line.
func TestGroupsFile(t *testing.T) {
	ok := `groups:
  gemini-free:
    model: gemini-2.5-flash
    strategy: usage
    deployments:
      - {provider: google, api_key_env: GEMINI_KEY_1, rpm: 10, tpm: 250000, weight: 1, max_in_flight: 4}
      - {provider: google, api_key_env: GEMINI_KEY_2, base_url: "https://example.com", rpm: 10}
aliases:
  fast:
    targets: [gemini-free/gemini-2.5-flash, ollama/llama3.2]
    fallbacks:
      context_window: [google/gemini-2.5-pro]
      content_filter: []
max_in_flight: {key: 4, user: 8}
`
	f, err := ParseFile("t.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if g := f.Groups["gemini-free"]; len(g.Deployments) != 2 || g.Deployments[0].MaxInFlight != 4 || f.MaxInFlight.User != 8 {
		t.Fatalf("parsed %+v", f)
	}
	if fb := f.Aliases["fast"].Fallbacks; len(fb["context_window"]) != 1 || fb["content_filter"] == nil {
		t.Fatalf("fallbacks %#v: an empty rule must stay (nowhere)", fb)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"groups:\n  g:\n    model: m\n    strategy: fastest\n    deployments: [{provider: google}]\n", "strategy: want weighted"},
		{"groups:\n  g:\n    model: m\n    deployments: [{provider: nope}]\n", `unknown provider "nope"`},
		{"groups:\n  g:\n    deployments: [{provider: google}]\n", "a group needs a model"},
		{"groups:\n  google:\n    model: m\n    deployments: [{provider: google}]\n", "a group needs its own name"},
		{"groups:\n  g:\n    model: m\n    deployments: []\n", "want 1..64 deployments"},
		{"groups:\n  g:\n    model: m\n    deployments: [{provider: google, rpm: -1}]\n", "must not be negative"},
		{"aliases:\n  a:\n    targets: [ollama/x]\n    fallbacks:\n      too_long: [ollama/y]\n", "want context_window, content_filter"},
		{"aliases:\n  a:\n    targets: [ollama/x]\n    fallbacks:\n      context_window: [nope/y]\n", "want a configured provider/model"},
	} {
		_, err := ParseFile("t.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "t.yaml:") {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestGoogleKeys(t *testing.T) {
	for in, want := range map[string]int{"": 0, "a": 1, "a, b,,c": 3, "a\nb\r\n": 2} {
		if got := (Google{APIKey: in}).GoogleKeys(); len(got) != want {
			t.Errorf("%q: %v", in, got)
		}
	}
}
