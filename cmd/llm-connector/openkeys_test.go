package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// cliKey creates a key with the "keys create" subcommand on dataDir and
// returns its ID and plain key.
func cliKey(t *testing.T, dataDir string, args ...string) (id, key string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"DATA_DIR": dataDir, "GOOGLE_API_KEY_FILE": ""}
	if err := run(context.Background(), append([]string{"keys", "create"}, args...), func(k string) string { return env[k] }, &out, &errOut); err != nil {
		t.Fatalf("keys create: %v\n%s", err, errOut.String())
	}
	m := regexp.MustCompile(`id:\s+(\S+)\n.*\nkey:\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("keys create printed %q", out.String())
	}
	return m[1], m[2]
}

// TestKeysCheckedInOpenMode is issue 18 item 7: with AUTH_REQUIRED=false
// a presented key was ignored: a wrong one got 200 and a valid one was
// logged as anonymous with none of its limits. A presented key is always
// checked; a request without one is still open.
func TestKeysCheckedInOpenMode(t *testing.T) {
	gem := fakegemini.New(t)
	dir := t.TempDir()
	_, otherModels := cliKey(t, dir, "-user", "alice", "-models", "anthropic/*")
	_, broke := cliKey(t, dir, "-user", "bob", "-daily-usd", "0.0000000001")
	revokedID, revoked := cliKey(t, dir, "-user", "carol")
	var out bytes.Buffer
	env := map[string]string{"DATA_DIR": dir, "GOOGLE_API_KEY_FILE": ""}
	if err := run(context.Background(), []string{"keys", "revoke", revokedID}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatalf("keys revoke: %v %s", err, out.String())
	}
	url, _ := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
		"AUTH_REQUIRED": "false", "CACHE_ENABLED": "false", "DATA_DIR": dir,
	})
	tests := []struct {
		name, path, body string
		hdr              []string
		status           int
		shape            string // a substring of the body
	}{
		{"no key is open", "/chat", `{"prompt":"hi"}`, nil, 200, `"response"`},
		{"wrong key /chat", "/chat", `{"prompt":"hi"}`, []string{"Authorization", "Bearer lc-wrong"}, 401, `"detail"`},
		{"wrong key /v1", "/v1/chat/completions", `{"model":"google/gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`,
			[]string{"x-api-key", "lc-wrong"}, 401, `"invalid_api_key"`},
		{"revoked key", "/chat", `{"prompt":"hi"}`, []string{"Authorization", "Bearer " + revoked}, 401, `"detail"`},
		{"valid key: its allow-list applies", "/chat", `{"prompt":"hi"}`, []string{"Authorization", "Bearer " + otherModels}, 403, `not allowed`},
		{"valid key: its budget applies", "/chat", `{"prompt":"hi"}`, []string{"Authorization", "Bearer " + broke}, 429, `budget`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "POST", url+tt.path, tt.body, tt.hdr...)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.shape) {
				t.Errorf("%d %s; want %d with %s", resp.StatusCode, body, tt.status, tt.shape)
			}
		})
	}
}
