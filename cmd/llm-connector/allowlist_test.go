package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// TestAllowListHoldsForEveryTarget is issue 18 item 4: a key limited to
// google/* asking for an alias {targets: [google/…, ollama/tiny]} while
// Google failed got 200 from ollama/tiny (only the alias name or its
// first target was checked). Every target tried must be allowed:
// disallowed ones are skipped, and no allowed target at all is a 403.
func TestAllowListHoldsForEveryTarget(t *testing.T) {
	gem, oll := fakegemini.New(t), fakeollama.New(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "llm.yaml")
	yaml := `aliases:
  mixed:
    targets: [google/gemini-2.5-flash, ollama/tiny]
    retries: 0
  ollama-first:
    targets: [ollama/tiny, google/gemini-2.5-flash]
    retries: 0
  local:
    targets: [ollama/tiny]
`
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, googleOnly := cliKey(t, dir, "-user", "alice", "-models", "google/*")
	url, _ := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": oll.URL, "OLLAMA_MODEL": "tiny",
		"LLM_CONFIG": cfgFile, "CACHE_ENABLED": "false", "AUTH_REQUIRED": "true", "DATA_DIR": dir, "LLM_RETRIES": "0",
	})
	tests := []struct {
		name, model  string
		googleFails  bool
		status       int
		wantProvider string // on 200
	}{
		{"alias fallback outside the list is skipped", "mixed", true, 0, ""},
		{"default route fallback outside the list is skipped", "", true, 0, ""},
		{"alias target outside the list is skipped, the allowed one answers", "ollama-first", false, 200, "google"},
		{"alias with no allowed target", "local", false, 403, ""},
		{"explicit model outside the list", "ollama/tiny", false, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.googleFails {
				gem.Enqueue(fakegemini.ErrorReply(500, "internal error"))
			}
			body := `{"prompt":"hello"}`
			if tt.model != "" {
				body = `{"prompt":"hello","model":"` + tt.model + `"}`
			}
			resp, got := do(t, "POST", url+"/chat", body, "Authorization", "Bearer "+googleOnly)
			switch {
			case tt.status == 0 && resp.StatusCode == 200:
				t.Fatalf("answered 200 by a target outside the allow-list: %s", got)
			case tt.status != 0 && resp.StatusCode != tt.status:
				t.Fatalf("status %d %s, want %d", resp.StatusCode, got, tt.status)
			case tt.wantProvider != "" && !strings.Contains(got, `"provider":"`+tt.wantProvider+`"`):
				t.Fatalf("answered by the wrong provider: %s", got)
			}
		})
	}
}
