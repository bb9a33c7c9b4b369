package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/sse"
	"github.com/llm-connector/llm-connector/internal/track"
)

func anIntp(n int) *int { return &n }

func TestDecodeAnthropic(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	hi := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	temp := 0.5
	png := []byte("\x89PNG")
	for _, tc := range []struct {
		name  string
		body  string
		count bool
		want  *llm.Request
		fail  string // substring of the 400's message
	}{
		{name: "minimal", body: `{"model":"m","max_tokens":10,` + user + `}`,
			want: &llm.Request{Model: "m", MaxTokens: 10, Messages: hi}},
		{name: "system blocks with cache_control, stop, sampling, user id",
			body: `{"model":"m","max_tokens":10,"temperature":0.5,"stop_sequences":["END"],"metadata":{"user_id":"user_ab c"},` +
				`"system":[{"type":"text","text":"You are X.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Be brief."}],` + user + `}`,
			want: &llm.Request{Model: "m", MaxTokens: 10, Temperature: &temp, Stop: []string{"END"}, User: "user_abc",
				System: "You are X.\n\nBe brief.", Messages: hi}},
		{name: "thinking: max_tokens includes the budget",
			body: `{"model":"m","max_tokens":3000,"thinking":{"type":"enabled","budget_tokens":2048},` + user + `}`,
			want: &llm.Request{Model: "m", MaxTokens: 952, ThinkingBudget: anIntp(2048), Messages: hi}},
		{name: "tools, tool_choice any, a tool round trip with thinking and is_error",
			body: `{"model":"m","max_tokens":10,"tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],` +
				`"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"w?"},` +
				`{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s1"},{"type":"text","text":"Checking."},{"type":"tool_use","id":"tu1","name":"get_weather","input":{"city": "Paris"}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"tu1","content":[{"type":"text","text":"down"}],"is_error":true},{"type":"text","text":"and now?"}]}]}`,
			want: &llm.Request{Model: "m", MaxTokens: 10, ToolChoice: "required",
				Tools: []llm.Tool{{Name: "get_weather", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`)}},
				Messages: []llm.Message{{Role: llm.RoleUser, Content: "w?"},
					{Role: llm.RoleAssistant, Content: "Checking.", Thinking: "hm", ThinkingSignature: "s1",
						ToolCalls: []llm.ToolCall{{ID: "tu1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
					{Role: llm.RoleTool, ToolCallID: "tu1", Name: "get_weather", Content: "Error: down"},
					{Role: llm.RoleUser, Content: "and now?"}}}},
		{name: "images: base64 bytes and a URL",
			body: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw=="}},` +
				`{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},{"type":"text","text":"what?"}]}]}`,
			want: &llm.Request{Model: "m", MaxTokens: 10, Messages: []llm.Message{{Role: llm.RoleUser, Content: "what?",
				Images: []llm.Image{{MIMEType: "image/png", Data: png}, {URL: "https://example.com/a.png"}}}}}},
		{name: "count_tokens needs no max_tokens", count: true, body: `{"model":"m",` + user + `}`,
			want: &llm.Request{Model: "m", Messages: hi}},
		{name: "max_tokens required", body: `{"model":"m",` + user + `}`, fail: "max_tokens: Field required"},
		{name: "no model", body: `{"max_tokens":1,` + user + `}`, fail: "model: Field required"},
		{name: "not an object", body: `[1]`, fail: "JSON object"},
		{name: "wrong type", body: `{"model":"m","max_tokens":"ten",` + user + `}`, fail: "max_tokens: Input should be integer"},
		{name: "top_k refused", body: `{"model":"m","max_tokens":1,"top_k":5,` + user + `}`, fail: "top_k"},
		{name: "temperature above 1", body: `{"model":"m","max_tokens":1,"temperature":1.5,` + user + `}`, fail: "temperature"},
		{name: "budget below 1024", body: `{"model":"m","max_tokens":5000,"thinking":{"type":"enabled","budget_tokens":100},` + user + `}`, fail: "1024"},
		{name: "budget not below max_tokens", body: `{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":2000},` + user + `}`, fail: "budget_tokens"},
		{name: "server tool", body: `{"model":"m","max_tokens":1,"tools":[{"type":"bash_20250124","name":"bash"}],` + user + `}`, fail: "bash_20250124"},
		{name: "tool without schema", body: `{"model":"m","max_tokens":1,"tools":[{"name":"f"}],` + user + `}`, fail: "input_schema"},
		{name: "tool_choice names no tool", body: `{"model":"m","max_tokens":1,"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"g"},` + user + `}`, fail: "not one of the declared"},
		{name: "document block", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}`, fail: `"document"`},
		{name: "bad image type", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA=="}}]}]}`, fail: "media_type"},
		{name: "role system", body: `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, fail: "role"},
		{name: "empty content", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":""}]}`, fail: "non-empty"},
		{name: "tool_result without id", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, fail: "tool_use_id"},
		{name: "too many stop sequences", body: `{"model":"m","max_tokens":1,"stop_sequences":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"],` + user + `}`, fail: "stop_sequences"},
		{name: "user id too long", body: `{"model":"m","max_tokens":1,"metadata":{"user_id":"` + strings.Repeat("u", 300) + `"},` + user + `}`, fail: "user_id"},
		{name: "mcp servers", body: `{"model":"m","max_tokens":1,"mcp_servers":[{}],` + user + `}`, fail: "mcp_servers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, f := DecodeAnthropic([]byte(tc.body), tc.count)
			if tc.fail != "" {
				if f == nil || f.status != 400 || f.typ != "invalid_request_error" || !strings.Contains(f.msg, tc.fail) {
					t.Fatalf("fail = %+v, want a 400 with %q", f, tc.fail)
				}
				return
			}
			if f != nil {
				t.Fatalf("refused: %s", f.msg)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnthropicMessageEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp llm.Response
		want string
	}{
		{"text with cache reads and writes", llm.Response{Text: "Hi", FinishReason: llm.FinishStop, Model: "g", Provider: "google",
			Usage: llm.Usage{InputTokens: 100, CachedInputTokens: 60, CacheWriteTokens: 10, CacheWrite1hTokens: 5, OutputTokens: 3}},
			`{"id":"msg_1","type":"message","role":"assistant","model":"g","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,` +
				`"usage":{"input_tokens":25,"cache_creation_input_tokens":15,"cache_read_input_tokens":60,"cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":5},"output_tokens":3},"provider":"google"}`},
		{"thinking then tool use", llm.Response{Thinking: "hm", ThinkingSignature: "s", FinishReason: llm.FinishToolCalls, Model: "g",
			ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}, Usage: llm.Usage{InputTokens: 4, OutputTokens: 2}},
			`{"id":"msg_1","type":"message","role":"assistant","model":"g","content":[{"type":"thinking","thinking":"hm","signature":"s"},` +
				`{"type":"tool_use","id":"c1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","stop_sequence":null,` +
				`"usage":{"input_tokens":4,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}`},
		{"stop sequence, max tokens", llm.Response{Text: "a", FinishReason: llm.FinishStop, StopSequence: "END", Model: "g"},
			`{"id":"msg_1","type":"message","role":"assistant","model":"g","content":[{"type":"text","text":"a"}],"stop_reason":"stop_sequence","stop_sequence":"END",` +
				`"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
	} {
		b, _ := json.Marshal(anMessageOf("msg_1", "req-model", &gateway.Result{Response: tc.resp}))
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
	reason, _ := anStopReason(llm.Response{FinishReason: llm.FinishLength})
	refusal, _ := anStopReason(llm.Response{FinishReason: llm.FinishContentFilter})
	if reason != "max_tokens" || refusal != "refusal" {
		t.Errorf("stop reasons %q %q", reason, refusal)
	}
}

// sseFrames parses "event: X\ndata: Y\n\n" frames.
func anFrames(t *testing.T, raw string) (names, data []string) {
	t.Helper()
	for _, f := range strings.Split(strings.TrimSuffix(raw, "\n\n"), "\n\n") {
		name, rest, ok := strings.Cut(f, "\n")
		if !ok || !strings.HasPrefix(name, "event: ") || !strings.HasPrefix(rest, "data: ") || strings.Contains(rest, "\n") {
			t.Fatalf("bad frame %q", f)
		}
		names = append(names, strings.TrimPrefix(name, "event: "))
		d := strings.TrimPrefix(rest, "data: ")
		var typed struct{ Type string }
		if json.Unmarshal([]byte(d), &typed) != nil || typed.Type != names[len(names)-1] {
			t.Fatalf("frame %q: the data's type is not the event name", f)
		}
		data = append(data, d)
	}
	return names, data
}

func TestAnthropicStreamEncoding(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/messages", nil)
	usage := &llm.Usage{InputTokens: 30, CachedInputTokens: 10, OutputTokens: 1}
	chunks := []llm.Chunk{
		{Thinking: "Let me", Usage: usage, Model: "gemini-2.5-flash"}, {Thinking: " see."}, {ThinkingSignature: "sig"},
		{Delta: "Hel"}, {Delta: "lo"},
		{ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `{"x":1}`}, {ID: "c2", Name: "g", Arguments: `{}`}}},
	}
	var buf bytes.Buffer
	sw := sse.NewWriter(&buf)
	ev := &anEvents{id: "msg_1", model: "default", r: r}
	for _, c := range chunks {
		if err := ev.chunk(sw, c); err != nil {
			t.Fatal(err)
		}
	}
	res := &gateway.Result{Response: llm.Response{FinishReason: llm.FinishToolCalls, Usage: llm.Usage{InputTokens: 30, CachedInputTokens: 10, OutputTokens: 9}}}
	if err := ev.done(sw, res, ""); err != nil {
		t.Fatal(err)
	}
	names, data := anFrames(t, buf.String())
	want := []string{
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"gemini-2.5-flash","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":1}}}`,
		`{"type":"ping"}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" see."}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hel"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"lo"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"c1","name":"f","input":{}}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"x\":1}"}}`,
		`{"type":"content_block_stop","index":2}`,
		`{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"c2","name":"g","input":{}}}`,
		`{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
		`{"type":"content_block_stop","index":3}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":9}}`,
		`{"type":"message_stop"}`,
	}
	if diff := cmp.Diff(want, data); diff != "" {
		t.Errorf("events %v (-want +got):\n%s", names, diff)
	}

	// A failure after the start is an error event in Anthropic's shape.
	buf.Reset()
	if err := ev.fail(sw, &llm.Error{Kind: llm.KindUnavailable, Provider: "google", Message: "stream cut"}); err != nil {
		t.Fatal(err)
	}
	_, data = anFrames(t, buf.String())
	if len(data) != 1 || !strings.Contains(data[0], `"error":{"type":"overloaded_error","message":"google: stream cut"}`) {
		t.Errorf("error event %v", data)
	}
}

func TestAnthropicErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		typ    string
	}{
		{llm.Errorf(llm.KindInvalid, "", "bad"), 400, "invalid_request_error"},
		{llm.Errorf(llm.KindUnauthorized, "", "no key"), 401, "authentication_error"},
		{llm.Errorf(llm.KindForbidden, "", "not allowed"), 403, "permission_error"},
		{gateway.ErrNoRoute, 404, "not_found_error"},
		{llm.Errorf(llm.KindRateLimited, "", "slow"), 429, "rate_limit_error"},
		{llm.Errorf(llm.KindUnavailable, "", "down"), 529, "overloaded_error"},
		{llm.Errorf(llm.KindTimeout, "", "late"), 504, "timeout_error"},
		{llm.Errorf(llm.KindUpstream, "google", "garbled"), 502, "api_error"},
		{llm.Errorf(llm.KindUnauthorized, "google", "upstream key refused"), 502, "api_error"},
		{errors.New("boom"), 500, "api_error"},
	} {
		f := anFailFor(tc.err)
		if f.status != tc.status || f.typ != tc.typ {
			t.Errorf("%v: %d %s, want %d %s", tc.err, f.status, f.typ, tc.status, tc.typ)
		}
	}
	w := httptest.NewRecorder()
	WriteAnthropicAuthError(w, httptest.NewRequest("POST", "/v1/messages", nil), http.StatusUnauthorized, "invalid_api_key", "invalid API key")
	if w.Code != 401 || !strings.Contains(w.Body.String(), `{"type":"error","error":{"type":"authentication_error","message":"invalid API key"}`) {
		t.Errorf("auth error %d %s", w.Code, w.Body)
	}
}

// TestAnthropicHeartbeat: an idle Anthropic stream is kept alive with
// Anthropic's own ping event, the others with an SSE comment.
func TestAnthropicHeartbeat(t *testing.T) {
	var buf bytes.Buffer
	sw := sse.NewWriter(&buf)
	if err := heartbeat(sw, &anEvents{}); err != nil || buf.String() != "event: ping\ndata: {\"type\":\"ping\"}\n\n" {
		t.Errorf("anthropic heartbeat %q %v", buf.String(), err)
	}
	buf.Reset()
	if err := heartbeat(sw, &chatEvents{}); err != nil || buf.String() != ": keep-alive\n\n" {
		t.Errorf("chat heartbeat %q %v", buf.String(), err)
	}
}

// TestAnthropicThroughPipeline: /v1/messages runs the gateway's one
// pipeline: the interaction is recorded with endpoint /v1/messages, the
// caller named by metadata.user_id when nothing else names it, streamed
// or not, and an unknown route is Anthropic's 404.
func TestAnthropicThroughPipeline(t *testing.T) {
	var calls []track.Call
	p := fakeprovider.New("google")
	p.SetDefault(fakeprovider.Text("Hi there"),
		fakeprovider.Chunk(llm.Chunk{FinishReason: "stop", Model: "gemini-2.5-flash", Usage: &llm.Usage{InputTokens: 20, OutputTokens: 3}}))
	table, err := route.New(route.Config{Backends: map[string]route.Backend{"google": {P: p, DefaultModel: "gemini-2.5-flash"}},
		Primary: "google", Policy: router.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	gw := &gateway.Gateway{Routes: table, Sink: track.SinkFunc(func(_ context.Context, c track.Call) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, c)
		return nil
	})}
	h := (&Server{GW: gw, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}).Handler()
	for _, stream := range []string{"false", "true"} {
		body := `{"model":"default","max_tokens":50,"stream":` + stream + `,"metadata":{"user_id":"dev-42"},"messages":[{"role":"user","content":"hi"}]}`
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/messages", strings.NewReader(body)))
		if w.Code != 200 || !strings.Contains(w.Body.String(), "Hi there") || w.Header().Get("Request-Id") == "" {
			t.Fatalf("stream=%s: %d %s", stream, w.Code, w.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d records", len(calls))
	}
	for i, c := range calls {
		if c.Endpoint != "/v1/messages" || c.User != "dev-42" || c.Streamed != (i == 1) || c.Usage.InputTokens != 20 || !c.Success {
			t.Errorf("record %d: %+v", i, c)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/messages", nil))
	if w.Code != 405 || !strings.Contains(w.Body.String(), `"type":"error","error":{"type":"invalid_request_error"`) {
		t.Errorf("GET /v1/messages: %d %s", w.Code, w.Body)
	}
}
