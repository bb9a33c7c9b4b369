package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
)

func collectBody(t *testing.T, body string) ([]llm.Chunk, error) {
	t.Helper()
	c := New(Config{})
	var out []llm.Chunk
	var gotErr error
	c.decodeStream(context.Background(), strings.NewReader(body), func(ch llm.Chunk, err error) bool {
		if err != nil {
			gotErr = err
			return false
		}
		out = append(out, ch)
		return true
	})
	return out, gotErr
}

const start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":7,\"output_tokens\":1}}}\n\n"

func TestDecodeStream(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []llm.Chunk
	}{{
		name: "text with cache usage, ping, unknown event",
		body: start + `event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}

event: brand_new_event
data: {"type":"brand_new_event","x":1}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15,"output_tokens_details":{"thinking_tokens":4}}}

event: message_stop
data: {"type":"message_stop"}

`,
		want: []llm.Chunk{
			{Delta: "Hello", Provider: "anthropic"},
			{Delta: " there", Provider: "anthropic"},
			{FinishReason: "stop", Model: "claude-sonnet-4-5", Provider: "anthropic",
				Usage: &llm.Usage{InputTokens: 132, CachedInputTokens: 100, CacheWriteTokens: 7, OutputTokens: 15, ThinkingTokens: 4, TotalTokens: 147}},
		},
	}, {
		name: "thinking with its signature, two tool uses, CRLF",
		body: strings.ReplaceAll(start+`event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"now","input":{}}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":40}}

event: message_stop
data: {"type":"message_stop"}

`, "\n", "\r\n"),
		want: []llm.Chunk{{Thinking: "hmm", Provider: "anthropic"}, {ThinkingSignature: "EqQBCgIYAhIM", Provider: "anthropic"}, {
			FinishReason: "tool_calls", Model: "claude-sonnet-4-5", Provider: "anthropic",
			ToolCalls: []llm.ToolCall{{ID: "toolu_a", Name: "get_weather", Arguments: `{"city": "Paris"}`}, {ID: "toolu_b", Name: "now", Arguments: "{}"}},
			Usage:     &llm.Usage{InputTokens: 132, CachedInputTokens: 100, CacheWriteTokens: 7, OutputTokens: 40, TotalTokens: 172},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collectBody(t, tt.body)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStopReasons(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
		"refusal": "content_filter", "model_context_window_exceeded": "length", "pause_turn": "stop", "future": "future",
	} {
		if got := mapStop(in); got != want {
			t.Errorf("mapStop(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeStreamErrors(t *testing.T) {
	delta := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
	tests := []struct {
		name      string
		body      string
		kind      llm.Kind
		partial   string
		retryable bool
	}{
		{"no message_stop", start + delta, llm.KindUpstream, "Hi", true},
		{"malformed", start + "event: content_block_delta\ndata: {\"type\":\n\n", llm.KindUpstream, "", true},
		{"in-band overloaded", start + delta + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", llm.KindUnavailable, "Hi", true},
		{"in-band rate limit", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}\n\n", llm.KindRateLimited, "", true},
		{"in-band invalid", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad\"}}\n\n", llm.KindInvalid, "", false},
		{"empty", "", llm.KindUpstream, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, err := collectBody(t, tt.body)
			if llm.KindOf(err) != tt.kind || llm.Retryable(err) != tt.retryable {
				t.Fatalf("err = %v (kind %v)", err, llm.KindOf(err))
			}
			text := ""
			for _, c := range chunks {
				text += c.Delta
			}
			if text != tt.partial {
				t.Errorf("partial = %q, want %q", text, tt.partial)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	const key = "sk-ant-secret-999"
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       llm.Kind
		retryAfter time.Duration
	}{
		{"400", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`, llm.KindInvalid, 0},
		{"401", 401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + key + `"}}`, llm.KindUnauthorized, 0},
		{"402 billing", 402, nil, `{"type":"error","error":{"type":"billing_error","message":"credit balance too low"}}`, llm.KindForbidden, 0},
		{"403", 403, nil, `{"type":"error","error":{"type":"permission_error","message":"no"}}`, llm.KindForbidden, 0},
		{"404", 404, nil, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}`, llm.KindNotFound, 0},
		{"413", 413, nil, `{"type":"error","error":{"type":"request_too_large","message":"too big"}}`, llm.KindInvalid, 0},
		{"429 retry-after", 429, map[string]string{"Retry-After": "7"}, `{"type":"error","error":{"type":"rate_limit_error","message":"rate limited"},"request_id":"req_1"}`, llm.KindRateLimited, 7 * time.Second},
		{"429 spend limit is not retryable", 429, map[string]string{"Retry-After": "7"}, `{"type":"error","error":{"type":"rate_limit_error","message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}}`, llm.KindForbidden, 0},
		{"500", 500, nil, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, llm.KindUnavailable, 0},
		{"504", 504, nil, `{"type":"error","error":{"type":"timeout_error","message":"timeout"}}`, llm.KindTimeout, 0},
		{"529 overloaded with hint", 529, map[string]string{"Retry-After": "3"}, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.KindUnavailable, 3 * time.Second},
		{"502 html", 502, nil, `<html>bad gateway</html>`, llm.KindUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := New(Config{BaseURL: srv.URL, APIKey: key})
			_, err := llm.Collect(c.Stream(context.Background(), &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}))
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v", err)
			}
			if e.Kind != tt.kind || e.StatusCode != tt.status || e.RetryAfter != tt.retryAfter || e.Provider != "anthropic" {
				t.Errorf("got kind %v status %d retry %v; want %v %d %v (%v)", e.Kind, e.StatusCode, e.RetryAfter, tt.kind, tt.status, tt.retryAfter, err)
			}
			for _, s := range []string{err.Error(), llm.PublicMessage(err), e.Err.Error()} {
				if strings.Contains(s, key) || strings.Contains(s, "<html>") {
					t.Errorf("error text leaks: %q", s)
				}
			}
		})
	}
}
