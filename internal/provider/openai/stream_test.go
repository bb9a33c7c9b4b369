package openai

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

// collectBody runs the stream decoder over a raw SSE body.
func collectBody(t *testing.T, body string) ([]llm.Chunk, error) {
	t.Helper()
	c := New(Config{Name: "openai"})
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

const head = `"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18"`

func TestDecodeStream(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []llm.Chunk
	}{{
		name: "text with usage chunk",
		body: `data: {` + head + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}

data: {` + head + `,"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}

data: {` + head + `,"choices":[{"index":0,"delta":{"content":" there"},"finish_reason":null}],"usage":null,"obfuscation":"xyz"}

data: {` + head + `,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

data: {` + head + `,"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":40,"total_tokens":49,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":32}}}

data: [DONE]

`,
		want: []llm.Chunk{
			{Delta: "Hi", Provider: "openai"},
			{Delta: " there", Provider: "openai"},
			{FinishReason: "stop", Model: "gpt-4o-mini-2024-07-18", Provider: "openai",
				Usage: &llm.Usage{InputTokens: 9, CachedInputTokens: 4, OutputTokens: 40, ThinkingTokens: 32, TotalTokens: 49}},
		},
	}, {
		name: "parallel tool calls assembled by index, CRLF framing",
		body: strings.ReplaceAll(`data: {`+head+`,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}

data: {`+head+`,"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"now","arguments":""}}]},"finish_reason":null}]}

data: {`+head+`,"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}

data: {`+head+`,"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}

data: {`+head+`,"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: [DONE]

`, "\n", "\r\n"),
		want: []llm.Chunk{{
			FinishReason: "tool_calls", Model: "gpt-4o-mini-2024-07-18", Provider: "openai",
			ToolCalls: []llm.ToolCall{{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_b", Name: "now", Arguments: "{}"}},
		}},
	}, {
		name: "compatible server: no usage, no index, finish stop with tool call",
		body: `data: {"model":"llama3","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{}"}}]}}]}

data: {"model":"llama3","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: [DONE]
`,
		want: []llm.Chunk{{FinishReason: "tool_calls", Model: "llama3", Provider: "openai", ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: "{}"}}}},
	}, {
		name: "refusal",
		body: `data: {"model":"m","choices":[{"index":0,"delta":{"refusal":"I can't help with that."}}]}

data: {"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: [DONE]

`,
		want: []llm.Chunk{{Delta: "I can't help with that.", Provider: "openai"}, {FinishReason: "content_filter", Model: "m", Provider: "openai"}},
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

func TestDecodeStreamErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		kind      llm.Kind
		partial   string
		retryable bool
	}{
		{"no [DONE]", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", llm.KindUpstream, "Hi", true},
		{"malformed chunk", "data: {\"choices\":[{\"delta\":\n\n", llm.KindUpstream, "", true},
		{"in-band server error", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n", llm.KindUpstream, "Hi", true},
		{"in-band rate limit", "data: {\"error\":{\"message\":\"slow down\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n", llm.KindRateLimited, "", true},
		{"in-band invalid", "data: {\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}\n\n", llm.KindInvalid, "", false},
		{"empty body", "", llm.KindUpstream, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, err := collectBody(t, tt.body)
			if llm.KindOf(err) != tt.kind || llm.Retryable(err) != tt.retryable {
				t.Fatalf("err = %v (kind %v), want kind %v retryable %v", err, llm.KindOf(err), tt.kind, tt.retryable)
			}
			r, _ := llm.Collect(func(yield func(llm.Chunk, error) bool) {
				for _, c := range chunks {
					yield(c, nil)
				}
			})
			if r.Text != tt.partial {
				t.Errorf("partial text = %q, want %q", r.Text, tt.partial)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	const key = "sk-secret-123456"
	future := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       llm.Kind
		retryAfter time.Duration
		retryable  bool
	}{
		{"400 context length", 400, nil, `{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`, llm.KindInvalid, 0, false},
		{"401 key echoed", 401, nil, `{"error":{"message":"Incorrect API key provided: ` + key + `.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, llm.KindUnauthorized, 0, false},
		{"403 region", 403, nil, `{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","code":"unsupported_country_region_territory"}}`, llm.KindForbidden, 0, false},
		{"404 model", 404, nil, `{"error":{"message":"The model 'gpt-9' does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}`, llm.KindNotFound, 0, false},
		{"408", 408, nil, `{"error":{"message":"timeout","type":"timeout"}}`, llm.KindTimeout, 0, true},
		{"409", 409, nil, `{"error":{"message":"conflict"}}`, llm.KindUnavailable, 0, true},
		{"422", 422, nil, `{"error":{"message":"unprocessable"}}`, llm.KindInvalid, 0, false},
		{"429 retry-after-ms wins", 429, map[string]string{"Retry-After-Ms": "1500", "Retry-After": "9"}, `{"error":{"message":"Please try again in 20s.","type":"requests","code":"rate_limit_exceeded"}}`, llm.KindRateLimited, 1500 * time.Millisecond, true},
		{"429 retry-after seconds", 429, map[string]string{"Retry-After": "3"}, `{"error":{"message":"Rate limit reached.","type":"tokens","code":"rate_limit_exceeded"}}`, llm.KindRateLimited, 3 * time.Second, true},
		{"429 message hint", 429, nil, `{"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 1.5s. Visit ...","type":"tokens","code":"rate_limit_exceeded"}}`, llm.KindRateLimited, 1500 * time.Millisecond, true},
		{"429 message hint minutes", 429, nil, `{"error":{"message":"Please try again in 6m0s.","type":"requests","code":"rate_limit_exceeded"}}`, llm.KindRateLimited, 6 * time.Minute, true},
		{"429 insufficient_quota is not retryable", 429, map[string]string{"Retry-After": "1"}, `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, llm.KindForbidden, 0, false},
		{"500", 500, nil, `{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}`, llm.KindUnavailable, 0, true},
		{"502 html from a proxy", 502, nil, `<html><body>Bad Gateway</body></html>`, llm.KindUnavailable, 0, true},
		{"503 slow_down", 503, nil, `{"error":{"message":"slow down","type":"server_error","code":"slow_down"}}`, llm.KindUnavailable, 0, true},
		{"compatible server string error", 400, nil, `{"error":"model 'x' not found","code":400}`, llm.KindInvalid, 0, false},
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
			c := New(Config{BaseURL: srv.URL + "/v1", APIKey: key})
			_, err := llm.Collect(c.Stream(context.Background(), &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}))
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *llm.Error", err)
			}
			if e.Kind != tt.kind || e.StatusCode != tt.status || llm.Retryable(err) != tt.retryable {
				t.Errorf("kind %v status %d retryable %v, want %v %d %v (%v)", e.Kind, e.StatusCode, llm.Retryable(err), tt.kind, tt.status, tt.retryable, err)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("retry after = %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if e.Provider != "openai" {
				t.Errorf("provider = %q", e.Provider)
			}
			for _, s := range []string{err.Error(), e.Message, llm.PublicMessage(err), e.Err.Error()} {
				if strings.Contains(s, key) || strings.Contains(s, "<html>") {
					t.Errorf("error text leaks: %q", s)
				}
			}
		})
	}
	t.Run("429 retry-after http date", func(t *testing.T) {
		d := retryAfter(http.Header{"Retry-After": {future}}, "")
		if d <= 20*time.Second || d > 30*time.Second {
			t.Errorf("retry after = %v, want about 30s", d)
		}
	})
}
