package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// getHealth returns the status code and the named component of path.
func getHealth(t *testing.T, url, component string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Components map[string]map[string]any `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h.Components[component]
}

// A provider whose recent calls failed is degraded at once, and ok again
// after a success, with no stale error (issue 18 item 10).
func TestHealthFollowsRecentCalls(t *testing.T) {
	oll := fakeollama.New(t)
	url, _ := startService(t, map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none",
		"OLLAMA_HOST": oll.URL, "OLLAMA_MODEL": "tiny", "LLM_RETRIES": "0", "CACHE_ENABLED": "false"})
	oll.Enqueue(fakeollama.Reply{Status: http.StatusInternalServerError, Body: `{"error":"llama runner process has terminated"}`})
	if st, _ := postJSON(t, url+"/chat", `{"prompt":"hi"}`); st == http.StatusOK {
		t.Fatalf("the failing call answered %d", st)
	}
	if _, c := getHealth(t, url+"/health", "ollama"); c["status"] != "degraded" {
		t.Errorf("after a failed call: ollama = %v, want degraded", c)
	}
	if st, body := postJSON(t, url+"/chat", `{"prompt":"hi again"}`); st != http.StatusOK {
		t.Fatalf("the recovering call answered %d: %v", st, body)
	}
	_, c := getHealth(t, url+"/health", "ollama")
	br, _ := c["breaker"].(map[string]any)
	if c["status"] != "ok" || br["last_error"] != nil {
		t.Errorf("after a success: ollama = %v, want ok with no last_error", c)
	}
}

// The deep checks ask whether the configured model exists (Ollama
// /api/show, Gemini models.get); /ready and ?deep=1 fail when no target
// of the configured route can answer (issue 18 item 10).
func TestReadyChecksConfiguredModel(t *testing.T) {
	oll := fakeollama.New(t)
	gem := fakegemini.New(t)
	tests := []struct {
		name       string
		env        map[string]string
		wantStatus int
		component  string
		wantReason string
	}{
		{"ollama model not pulled", map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none",
			"OLLAMA_HOST": oll.URL, "OLLAMA_MODEL": "not-pulled"}, http.StatusServiceUnavailable, "ollama", "not-pulled"},
		{"ollama model present", map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none",
			"OLLAMA_HOST": oll.URL, "OLLAMA_MODEL": "tiny"}, http.StatusOK, "ollama", ""},
		{"gemini model unknown, fallback down", map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
			"GOOGLE_MODEL": "gemini-0-nonexistent", "OLLAMA_HOST": oll.URL, "OLLAMA_MODEL": "not-pulled"},
			http.StatusServiceUnavailable, "google", "not found"},
		{"gemini model known", map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
			"OLLAMA_HOST": oll.URL, "OLLAMA_MODEL": "tiny"}, http.StatusOK, "google", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := startService(t, tc.env)
			for _, path := range []string{"/ready", "/health?deep=1"} {
				st, c := getHealth(t, url+path, tc.component)
				if st != tc.wantStatus {
					t.Errorf("%s: status %d, want %d (%s = %v)", path, st, tc.wantStatus, tc.component, c)
				}
				reason, _ := c["reason"].(string)
				if tc.wantReason != "" && !strings.Contains(reason, tc.wantReason) {
					t.Errorf("%s: %s reason %q lacks %q", path, tc.component, reason, tc.wantReason)
				}
			}
		})
	}
}
