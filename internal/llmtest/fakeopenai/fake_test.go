package fakeopenai_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

func TestValidation(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body string
		status     int
		param      string
	}{
		{"ok", `{"model":"m",` + user + `}`, 200, ""},
		{"no model", `{` + user + `}`, 400, "model"},
		{"no messages", `{"model":"m","messages":[]}`, 400, "messages"},
		{"n out of range", `{"model":"m","n":129,` + user + `}`, 400, "n"},
		{"stream_options without stream", `{"model":"m","stream_options":{"include_usage":true},` + user + `}`, 400, "stream_options"},
		{"temperature range", `{"model":"m","temperature":2.5,` + user + `}`, 400, "temperature"},
		{"five stop strings", `{"model":"m","stop":["a","b","c","d","e"],` + user + `}`, 400, "stop"},
		{"max_tokens on reasoning model", `{"model":"o3-mini","max_tokens":5,` + user + `}`, 400, "max_tokens"},
		{"max_completion_tokens on reasoning model", `{"model":"o3-mini","max_completion_tokens":5,` + user + `}`, 200, ""},
		{"json mode without the word", `{"model":"m","response_format":{"type":"json_object"},` + user + `}`, 400, "messages"},
		{"json mode", `{"model":"m","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"answer in JSON"}]}`, 200, ""},
		{"bad role", `{"model":"m","messages":[{"role":"wizard","content":"x"}]}`, 400, "messages.[0].role"},
		{"unanswered tool call", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"y"}]}`, 400, "messages.[2].role"},
		{"bad tool name", `{"model":"m","tools":[{"type":"function","function":{"name":"has space"}}],` + user + `}`, 400, "tools[0].function.name"},
		{"bad json", `{"model":`, 400, ""},
	}
	f := fakeopenai.New(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, f.BaseURL()+"/chat/completions", strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+fakeopenai.Key)
			resp, raw := fakeserver.Do(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, raw)
			}
			if tt.status == 200 {
				return
			}
			var body struct {
				Error *struct {
					Type  string  `json:"type"`
					Param *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &body); err != nil || body.Error == nil || body.Error.Type != "invalid_request_error" {
				t.Fatalf("body = %s", raw)
			}
			if got := ""; body.Error.Param != nil {
				got = *body.Error.Param
				if got != tt.param {
					t.Errorf("param = %q, want %q", got, tt.param)
				}
			} else if tt.param != "" {
				t.Errorf("param = null, want %q", tt.param)
			}
		})
	}
}

// TestStreamBytes pins the exact SSE framing: data-only events, usage
// null on every chunk before the usage chunk, choices [] on it, [DONE].
func TestStreamBytes(t *testing.T) {
	f := fakeopenai.New(t)
	f.Enqueue(fakeopenai.Reply{Text: []string{"Hi"}, Usage: &fakeopenai.Usage{PromptTokens: 9, CompletionTokens: 1}})
	req, _ := http.NewRequest(http.MethodPost, f.BaseURL()+"/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+fakeopenai.Key)
	resp, raw := fakeserver.Do(t, req)
	events := strings.Split(strings.TrimSuffix(string(raw), "\n\n"), "\n\n")
	if len(events) != 5 || events[4] != "data: [DONE]" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream = %q", raw)
	}
	for i, ev := range events[:4] {
		if !strings.HasPrefix(ev, "data: {") || strings.Contains(ev, "\n") {
			t.Fatalf("event %d is not one data line: %q", i, ev)
		}
		var c struct {
			Object  string            `json:"object"`
			Choices []json.RawMessage `json:"choices"`
			Usage   json.RawMessage   `json:"usage"`
		}
		if err := json.Unmarshal([]byte(ev[len("data: "):]), &c); err != nil || c.Object != "chat.completion.chunk" {
			t.Fatalf("event %d: %v %q", i, err, ev)
		}
		if last := i == 3; last != (len(c.Choices) == 0) || last != (string(c.Usage) != "null") {
			t.Errorf("event %d: choices %d usage %s", i, len(c.Choices), c.Usage)
		}
	}
}
