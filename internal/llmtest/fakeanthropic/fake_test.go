package fakeanthropic_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeanthropic"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

func TestValidation(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, version, auth, body string
		status                    int
		errType, contains         string
	}{
		{"ok x-api-key", "2023-06-01", "x", `{"model":"m","max_tokens":5,` + user + `}`, 200, "", ""},
		{"ok bearer, 2026", "2026-10-21", "bearer", `{"model":"m","max_tokens":5,` + user + `}`, 200, "", ""},
		{"no key", "2023-06-01", "", `{"model":"m","max_tokens":5,` + user + `}`, 401, "authentication_error", "x-api-key"},
		{"no version", "", "x", `{"model":"m","max_tokens":5,` + user + `}`, 400, "invalid_request_error", "anthropic-version"},
		{"no max_tokens", "2023-06-01", "x", `{"model":"m",` + user + `}`, 400, "invalid_request_error", "max_tokens"},
		{"no model", "2023-06-01", "x", `{"max_tokens":5,` + user + `}`, 400, "invalid_request_error", "model"},
		{"no messages", "2023-06-01", "x", `{"model":"m","max_tokens":5,"messages":[]}`, 400, "invalid_request_error", "messages"},
		{"temperature under 2023", "2023-06-01", "x", `{"model":"m","max_tokens":5,"temperature":0.5,` + user + `}`, 200, "", ""},
		{"temperature over 1 under 2023", "2023-06-01", "x", `{"model":"m","max_tokens":5,"temperature":1.5,` + user + `}`, 400, "invalid_request_error", "temperature"},
		{"temperature under 2026", "2026-10-21", "bearer", `{"model":"m","max_tokens":5,"temperature":1,` + user + `}`, 400, "invalid_request_error", "temperature"},
		{"top_k under 2026", "2026-10-21", "bearer", `{"model":"m","max_tokens":5,"top_k":5,` + user + `}`, 400, "invalid_request_error", "top_k"},
		{"roles must alternate", "2023-06-01", "x", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`, 400, "invalid_request_error", "alternate"},
		{"empty text", "2023-06-01", "x", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, 400, "invalid_request_error", "non-empty"},
		{"orphan tool_result", "2023-06-01", "x", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"x"}]}]}`, 400, "invalid_request_error", "tool_use_id"},
		{"bad tool_choice", "2023-06-01", "x", `{"model":"m","max_tokens":5,"tool_choice":{"type":"required"},` + user + `}`, 400, "invalid_request_error", "tool_choice"},
	}
	f := fakeanthropic.New(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/messages", strings.NewReader(tt.body))
			switch tt.auth {
			case "x":
				req.Header.Set("X-Api-Key", fakeanthropic.Key)
			case "bearer":
				req.Header.Set("Authorization", "Bearer "+fakeanthropic.Key)
			}
			if tt.version != "" {
				req.Header.Set("Anthropic-Version", tt.version)
			}
			resp, raw := fakeserver.Do(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, raw)
			}
			if tt.status == 200 {
				return
			}
			var body struct {
				Type  string
				Error struct{ Type, Message string }
			}
			if err := json.Unmarshal(raw, &body); err != nil || body.Type != "error" || body.Error.Type != tt.errType || !strings.Contains(body.Error.Message, tt.contains) {
				t.Errorf("body = %s", raw)
			}
		})
	}
}
