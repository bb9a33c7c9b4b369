package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/cache"
	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/sse"
	"github.com/llm-connector/llm-connector/internal/track"
)

type harness struct {
	gw      *gateway.Gateway
	srv     *httptest.Server
	primary *fakeprovider.Provider
	backup  *fakeprovider.Provider
	calls   chan track.Call
	logs    *lockedBuffer // the server's JSON log
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		primary: fakeprovider.New("google"),
		backup:  fakeprovider.New("ollama"),
		calls:   make(chan track.Call, 100),
		logs:    &lockedBuffer{},
	}
	p := router.DefaultPolicy()
	p.Retries = 1
	p.BaseDelay, p.MaxDelay = time.Millisecond, 2*time.Millisecond
	table, err := route.New(route.Config{
		Backends: map[string]route.Backend{
			"google": {P: h.primary, DefaultModel: "gemini-2.5-flash"},
			"ollama": {P: h.backup, DefaultModel: "llama2"},
		},
		Primary: "google", Fallback: "ollama", Policy: p,
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := &gateway.Gateway{Routes: table, Sink: track.SinkFunc(func(_ context.Context, c track.Call) error {
		h.calls <- c
		return nil
	})}
	h.gw = gw
	s := &Server{GW: gw, Log: slog.New(slog.NewJSONHandler(h.logs, nil)), BodyLimit: 1 << 20,
		Info: Info{Provider: "google", Model: "gemini-2.5-flash", Fallback: "ollama"}}
	h.srv = httptest.NewServer(s.Handler())
	t.Cleanup(h.srv.Close)
	return h
}

func (h *harness) post(t *testing.T, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func answer(text string, total int, provider, model string) []fakeprovider.Step {
	return []fakeprovider.Step{
		fakeprovider.Text(text),
		fakeprovider.Chunk(llm.Chunk{FinishReason: llm.FinishStop, Usage: &llm.Usage{InputTokens: 5, OutputTokens: total - 5, TotalTokens: total}, Model: model, Provider: provider}),
	}
}

func TestChatSeedShape(t *testing.T) {
	h := newHarness(t)
	h.primary.Push(answer("MLOps es...", 95, "google", "gemini-2.5-flash"))
	resp, body := h.post(t, "/chat", `{"prompt":"¿Qué es MLOps?","context":"be brief"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"response", "model", "tokens_used", "processing_time_ms", "provider"} {
		if _, ok := got[k]; !ok {
			t.Errorf("response lacks %q: %s", k, body)
		}
	}
	if got["response"] != "MLOps es..." || got["provider"] != "google" || got["model"] != "gemini-2.5-flash" || got["tokens_used"] != 95.0 {
		t.Errorf("body = %s", body)
	}
	req := h.primary.Calls()[0].Request
	if req.System != "be brief" || req.MaxTokens != 500 || req.Temperature == nil || *req.Temperature != 0.7 {
		t.Errorf("defaults not applied: %+v", req)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID")
	}
	c := <-h.calls
	if !c.Success || c.Prompt != "¿Qué es MLOps?" || c.System != "be brief" || c.Response != "MLOps es..." || c.ID != resp.Header.Get("X-Request-ID") {
		t.Errorf("record = %+v", c)
	}
}

func TestChatFallbackVisible(t *testing.T) {
	h := newHarness(t)
	h.primary.SetDefault(fakeprovider.Err(&llm.Error{Kind: llm.KindRateLimited, Provider: "google", StatusCode: 429, Message: "quota"}))
	h.backup.Push(answer(" the quick brown fox", 26, "ollama", "llama2"))
	resp, body := h.post(t, "/chat", `{"prompt":"hi"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"provider":"ollama"`) || !strings.Contains(string(body), `"model":"llama2"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if n := h.primary.NumCalls(); n != 2 {
		t.Errorf("primary tried %d times, want 2 (1 retry)", n)
	}
	c := <-h.calls
	if !c.Fallback || c.Attempts != 3 || c.Provider != "ollama" {
		t.Errorf("record = %+v", c)
	}
}

func TestChatBothDown(t *testing.T) {
	h := newHarness(t)
	h.primary.SetDefault(fakeprovider.Err(&llm.Error{Kind: llm.KindUnavailable, Provider: "google", StatusCode: 503, Message: "model overloaded"}))
	h.backup.SetDefault(fakeprovider.Err(&llm.Error{Kind: llm.KindUnavailable, Provider: "ollama", Message: "connection refused"}))
	resp, body := h.post(t, "/chat", `{"prompt":"hi"}`)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var e struct{ Detail string }
	_ = json.Unmarshal(body, &e)
	if !strings.Contains(e.Detail, "google") || !strings.Contains(e.Detail, "ollama") {
		t.Errorf("detail does not name both failures: %s", body)
	}
	c := <-h.calls
	if c.Success || c.ErrorKind == "" {
		t.Errorf("record = %+v", c)
	}
}

func TestChatValidation(t *testing.T) {
	h := newHarness(t)
	h.primary.SetDefault(answer("ok", 7, "google", "gemini-2.5-flash")...)
	big := `{"prompt":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"missing prompt", `{"context":"x"}`, 400, "prompt"},
		{"empty prompt", `{"prompt":""}`, 400, "prompt"},
		{"blank prompt", `{"prompt":"   "}`, 400, "prompt"},
		{"prompt not string", `{"prompt":42}`, 422, "prompt"},
		{"max_tokens string", `{"prompt":"a","max_tokens":"many"}`, 422, "max_tokens"},
		{"max_tokens float", `{"prompt":"a","max_tokens":1.5}`, 422, "max_tokens"},
		{"max_tokens negative", `{"prompt":"a","max_tokens":-1}`, 422, "max_tokens"},
		{"max_tokens zero", `{"prompt":"a","max_tokens":0}`, 422, "max_tokens"},
		{"max_tokens huge", `{"prompt":"a","max_tokens":100000000}`, 422, "max_tokens"},
		{"temperature high", `{"prompt":"a","temperature":2.5}`, 400, "temperature"},
		{"temperature negative", `{"prompt":"a","temperature":-0.1}`, 400, "temperature"},
		{"temperature string", `{"prompt":"a","temperature":"hot"}`, 422, "temperature"},
		{"unknown field ignored", `{"prompt":"a","foo":1}`, 200, "ok"},
		{"invalid utf8", "{\"prompt\":\"\xff\xfe\"}", 400, "UTF-8"},
		{"not json", `prompt=hi`, 400, "JSON"},
		{"truncated json", `{"prompt":"a"`, 400, "JSON"},
		{"empty body", ``, 400, "empty"},
		{"array", `[{"prompt":"a"}]`, 422, "dictionary"},
		{"null", `null`, 422, "dictionary"},
		{"too large", big, 413, "too large"},
		{"temperature 2.0 ok", `{"prompt":"a","temperature":2.0}`, 200, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.post(t, "/chat", tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if !json.Valid(body) || !strings.Contains(string(body), tt.want) {
				t.Errorf("body %s lacks %q", body, tt.want)
			}
			if tt.status != 200 && !strings.Contains(string(body), `"detail"`) {
				t.Errorf("error body without detail: %s", body)
			}
		})
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"GET", "/chat", 405},
		{"DELETE", "/health", 405},
		{"POST", "/info", 405},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, h.srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !json.Valid(b) || !bytes.Contains(b, []byte("detail")) {
			t.Errorf("%s %s = %d %s", tt.method, tt.path, resp.StatusCode, b)
		}
	}
}

func TestHealthAndInfo(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var hb map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&hb)
	resp.Body.Close()
	if hb["status"] != "healthy" || hb["service"] != "llm-service" {
		t.Errorf("health = %v", hb)
	}
	resp, err = http.Get(h.srv.URL + "/info")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	want := map[string]any{"service": "llm-service", "version": "1.0.0", "provider": "google", "model": "gemini-2.5-flash", "fallback": "ollama", "mlflow_enabled": false}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("info[%s] = %v, want %v", k, info[k], v)
		}
	}
}

func TestRequestIDEchoed(t *testing.T) {
	h := newHarness(t)
	h.primary.SetDefault(answer("ok", 7, "google", "gemini-2.5-flash")...)
	// The same caller ID twice (a retry): both echo it, and each
	// interaction has an ID of its own that starts with it, so neither the
	// ledger nor the tracker takes the second for a replay of the first.
	seen := map[string]bool{}
	for range 2 {
		resp, _ := h.post(t, "/chat", `{"prompt":"a"}`, "X-Request-ID", "abc-123")
		c := <-h.calls
		if got := resp.Header.Get("X-Request-ID"); got != "abc-123" {
			t.Errorf("X-Request-ID = %q", got)
		}
		if got := resp.Header.Get("X-Interaction-ID"); got != c.ID || !strings.HasPrefix(c.ID, "abc-123.") || len(c.ID) != len("abc-123.")+24 || seen[c.ID] {
			t.Errorf("X-Interaction-ID %q, recorded ID %q (seen before: %v)", got, c.ID, seen[c.ID])
		}
		seen[c.ID] = true
	}
	resp, _ := h.post(t, "/chat", `{"prompt":"a"}`, "X-Request-ID", "bad id\twith stuff")
	c := <-h.calls
	if got := resp.Header.Get("X-Request-ID"); got == "" || strings.ContainsAny(got, " \t") || got != c.ID {
		t.Errorf("unsafe X-Request-ID kept: %q (recorded %q)", got, c.ID)
	}
	if got := resp.Header.Get("X-Interaction-ID"); got != "" {
		t.Errorf("X-Interaction-ID %q on a request whose ID the service made", got)
	}
}

// TestNewRequestIDSortsByTime: generated IDs are 24 lowercase hex
// characters, distinct, and a later millisecond sorts later (the
// ledger's index relies on it).
func TestNewRequestIDSortsByTime(t *testing.T) {
	t0 := time.UnixMilli(1_780_000_000_000)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := NewRequestID(t0.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q is not 24 hex characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("id %q made after %q sorts before it", id, prev)
		}
		prev = id
	}
	if a, b := NewRequestID(t0), NewRequestID(t0); a[:12] != b[:12] || a == b {
		t.Errorf("same millisecond: %q, %q: want one time prefix, different random parts", a, b)
	}
}

// readEvents parses an SSE body with the real parser.
func readEvents(t *testing.T, r io.Reader) []sse.Event {
	t.Helper()
	var out []sse.Event
	for ev, err := range sse.Read(r) {
		if err != nil {
			t.Fatalf("sse: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

func TestChatStream(t *testing.T) {
	h := newHarness(t)
	h.primary.Push([]fakeprovider.Step{
		fakeprovider.Text("Hel"), fakeprovider.Text("lo"),
		fakeprovider.Chunk(llm.Chunk{FinishReason: "stop", Usage: &llm.Usage{InputTokens: 3, OutputTokens: 2, TotalTokens: 5}, Model: "gemini-2.5-flash"}),
	})
	resp, body := h.post(t, "/chat", `{"prompt":"hi","stream":true}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	evs := readEvents(t, bytes.NewReader(body))
	if len(evs) != 3 || evs[0].Type != "delta" || evs[1].Type != "delta" || evs[2].Type != "done" {
		t.Fatalf("events = %+v", evs)
	}
	var done ChatResponse
	if err := json.Unmarshal([]byte(evs[2].Data), &done); err != nil {
		t.Fatal(err)
	}
	if done.Response != "Hello" || done.TokensUsed != 5 || done.Provider != "google" || done.Model != "gemini-2.5-flash" {
		t.Errorf("done = %+v", done)
	}
	c := <-h.calls
	if !c.Streamed || c.Response != "Hello" || c.TTFT <= 0 {
		t.Errorf("record = %+v", c)
	}
}

func TestChatStreamFailsAfterStart(t *testing.T) {
	h := newHarness(t)
	h.primary.Push([]fakeprovider.Step{
		fakeprovider.Text("a"), fakeprovider.Text("b"), fakeprovider.Text("c"),
		fakeprovider.Err(&llm.Error{Kind: llm.KindUpstream, Provider: "google", Message: "stream cut"}),
	})
	resp, body := h.post(t, "/chat", `{"prompt":"hi"}`, "Accept", "text/event-stream")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	evs := readEvents(t, bytes.NewReader(body))
	last := evs[len(evs)-1]
	if len(evs) != 4 || last.Type != "error" || !strings.Contains(last.Data, "stream cut") {
		t.Fatalf("events = %+v", evs)
	}
	for _, ev := range evs {
		if ev.Type == "done" {
			t.Fatal("a failed stream sent a done event")
		}
	}
	if h.backup.NumCalls() != 0 {
		t.Error("switched provider mid-stream")
	}
	c := <-h.calls
	if c.Success || c.Response != "abc" {
		t.Errorf("record = %+v", c)
	}
}

func TestChatStreamErrorBeforeStartIsJSON(t *testing.T) {
	h := newHarness(t)
	h.primary.SetDefault(fakeprovider.Err(&llm.Error{Kind: llm.KindInvalid, Provider: "google", StatusCode: 400, Message: "bad request"}))
	resp, body := h.post(t, "/chat", `{"prompt":"hi","stream":true}`)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"detail"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

func TestChatClientDisconnectCancelsUpstream(t *testing.T) {
	h := newHarness(t)
	started := make(chan struct{})
	h.primary.Push([]fakeprovider.Step{
		fakeprovider.Text("a"), fakeprovider.Text("b"),
		fakeprovider.Do(func(context.Context) { close(started) }),
		fakeprovider.Hang(),
	})
	req, _ := http.NewRequest("POST", h.srv.URL+"/chat", strings.NewReader(`{"prompt":"hi","stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	resp.Body.Close() // the client goes away
	c := <-h.calls
	if c.Success {
		t.Errorf("record = %+v", c)
	}
	calls := h.primary.Calls()
	if calls[0].CtxErr == nil {
		t.Error("upstream context was not canceled")
	}
}

// A cache hit answers in the same shape, streams too, says so, bills no
// tokens and is still recorded.
func TestCacheHitStreamsAndIsRecorded(t *testing.T) {
	h := newHarness(t)
	h.gw.Cache, h.gw.CacheKey, h.gw.CacheTTL = cache.NewMemory(10, time.Hour), cache.Key, time.Hour
	h.primary.Push(answer("cached answer", 30, "google", "gemini-2.5-flash"))
	resp, body := h.post(t, "/chat", `{"prompt":"same","temperature":0}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d %s %s", resp.StatusCode, resp.Header.Get("X-Cache"), body)
	}
	<-h.calls
	resp, body = h.post(t, "/chat", `{"prompt":"same","temperature":0,"stream":true}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("second: %d %s", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
	evs := readEvents(t, bytes.NewReader(body))
	last := evs[len(evs)-1]
	var done ChatResponse
	if err := json.Unmarshal([]byte(last.Data), &done); err != nil || last.Type != "done" {
		t.Fatalf("events %+v", evs)
	}
	if evs[0].Type != "delta" || done.Response != "cached answer" || !done.Cached || done.TokensUsed != 0 || done.Provider != "google" {
		t.Errorf("done = %+v", done)
	}
	if n := h.primary.NumCalls(); n != 1 {
		t.Errorf("provider called %d times", n)
	}
	c := <-h.calls
	if !c.Cached || !c.Success || c.Response != "cached answer" || c.Usage.Total() != 0 {
		t.Errorf("record of the hit = %+v", c)
	}
	resp, _ = h.post(t, "/chat", `{"prompt":"same","temperature":0}`, "Cache-Control", "no-cache")
	if resp.Header.Get("X-Cache") != "MISS" || h.primary.NumCalls() != 2 {
		t.Errorf("no-cache did not skip the lookup")
	}
}

// TestStreamLogLineAndOverhead: a streamed answer's request log line
// names the provider, model and tokens like a plain one, and the stream
// carries X-Overhead-Ms as a trailer (its headers left before it was known).
func TestStreamLogLineAndOverhead(t *testing.T) {
	h := newHarness(t)
	h.primary.Push(answer("streamed", 30, "google", "gemini-2.5-flash"))
	resp, body := h.post(t, "/chat", `{"prompt":"hi","stream":true}`)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("event: done")) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp.Trailer.Get("X-Overhead-Ms") == "" {
		t.Errorf("no X-Overhead-Ms trailer: %v", resp.Trailer)
	}
	<-h.calls
	var line map[string]any
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line["provider"] != "google" || line["model"] != "gemini-2.5-flash" || line["tokens"] != float64(30) {
		t.Errorf("stream log line = %v", line)
	}
}
