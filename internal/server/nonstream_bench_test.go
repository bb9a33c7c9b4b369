package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
	"github.com/llm-connector/llm-connector/internal/provider/openai"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/track"
)

// The upstreams' non-stream answers, as OpenAI and Gemini send them.
const (
	benchOAAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1733000000,"model":"gpt-4o-mini-2024-07-18",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"MLOps combines machine learning with DevOps practices to deploy, monitor and maintain models in production reliably.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},` +
		`"service_tier":"default","system_fingerprint":"fp_1"}`
	benchGeminiAnswer = `{"candidates":[{"content":{"parts":[{"text":"MLOps combines machine learning with DevOps practices to deploy, monitor and maintain models in production reliably."}],"role":"model"},"finishReason":"STOP","index":0}],` +
		`"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":20,"totalTokenCount":25},"modelVersion":"gemini-2.5-flash","responseId":"abc"}`
)

// nonStreamServer is the whole HTTP layer and pipeline over the real
// provider adapter p, whose upstream answers with one JSON body.
func nonStreamServer(b *testing.B, name, model string, p llm.Provider) http.Handler {
	table, err := route.New(route.Config{
		Backends: map[string]route.Backend{name: {P: p, DefaultModel: model}},
		Primary:  name, Policy: router.DefaultPolicy(),
	})
	if err != nil {
		b.Fatal(err)
	}
	gw := &gateway.Gateway{Routes: table, Sink: track.SinkFunc(func(context.Context, track.Call) error { return nil })}
	s := &Server{GW: gw, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	return s.Handler()
}

func jsonUpstream(answer string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
}

// memUpstream answers every request in memory with answer: the
// upstream exchange without sockets, so that only the service's own CPU
// is measured.
type memUpstream string

func (a memUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	return memAnswer(r, "application/json", string(a), int64(len(a))), nil
}

// memAnswer reads r's body and answers it with body (length -1: unknown,
// as a stream's).
func memAnswer(r *http.Request, contentType, body string, length int64) *http.Response {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r,
		Header:        http.Header{"Content-Type": {contentType}},
		ContentLength: length, Body: io.NopCloser(strings.NewReader(body))}
}

// BenchmarkNonStream is one non-stream request through the real handler
// stack and provider adapter, against an upstream answering one JSON
// body: /v1/chat/completions over OpenAI, /chat over Gemini; "loopback"
// over a real HTTP connection, "mem" in memory (the service's own CPU).
func BenchmarkNonStream(b *testing.B) {
	oa := jsonUpstream(benchOAAnswer)
	defer oa.Close()
	gm := jsonUpstream(benchGeminiAnswer)
	defer gm.Close()
	memOA := &http.Client{Transport: memUpstream(benchOAAnswer)}
	memGM := &http.Client{Transport: memUpstream(benchGeminiAnswer)}
	for _, c := range []struct {
		name, path, body string
		h                http.Handler
	}{
		{"v1-openai-loopback", "/v1/chat/completions", benchOABody,
			nonStreamServer(b, "openai", "gpt-4o-mini", openai.New(openai.Config{BaseURL: oa.URL + "/v1", APIKey: "bench"}))},
		{"chat-gemini-loopback", "/chat", benchChatBody,
			nonStreamServer(b, "google", "gemini-2.5-flash", gemini.New(gemini.Config{BaseURL: gm.URL, APIKey: "bench"}))},
		{"v1-openai-mem", "/v1/chat/completions", benchOABody,
			nonStreamServer(b, "openai", "gpt-4o-mini", openai.New(openai.Config{BaseURL: "http://upstream/v1", APIKey: "bench", HTTPClient: memOA}))},
		{"chat-gemini-mem", "/chat", benchChatBody,
			nonStreamServer(b, "google", "gemini-2.5-flash", gemini.New(gemini.Config{BaseURL: "http://upstream", APIKey: "bench", HTTPClient: memGM}))},
	} {
		b.Run(c.name, func(b *testing.B) { postLoop(b, c.h, c.path, c.body, "") })
	}
}

// postLoop posts body to path on h once per benchmark iteration; each
// answer must be a 200 containing want.
func postLoop(b *testing.B, h http.Handler, path, body, want string) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

// The clients' requests.
const (
	benchOABody   = `{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"What is MLOps?"}],"max_tokens":100}`
	benchChatBody = `{"prompt":"What is MLOps?","max_tokens":100}`
)
