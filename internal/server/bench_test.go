package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/cache"
	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/track"
)

func BenchmarkDecodeChat(b *testing.B) {
	body := []byte(`{"prompt":"Explica Machine Learning en 50 palabras","context":"Estamos hablando de modelos RandomForest","max_tokens":100,"temperature":0.5}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOpenAI(b *testing.B) {
	body := []byte(`{"model":"google/gemini-2.5-flash","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}],"max_tokens":100,"temperature":0.5,"stream":false}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, f := decodeOA(body); f != nil {
			b.Fatal(f.err.Message)
		}
	}
}

// benchServer is the whole HTTP layer and pipeline over an instant fake
// provider, with the given cache.
func benchServer(b *testing.B, c gateway.Cache) http.Handler {
	p := fakeprovider.New("google")
	p.SetDefault(
		fakeprovider.Text("MLOps combines machine learning with DevOps."),
		fakeprovider.Chunk(llm.Chunk{FinishReason: "stop", Model: "gemini-2.5-flash", Usage: &llm.Usage{InputTokens: 20, OutputTokens: 9, TotalTokens: 29}}),
	)
	table, err := route.New(route.Config{
		Backends: map[string]route.Backend{"google": {P: p, DefaultModel: "gemini-2.5-flash"}},
		Primary:  "google", Policy: router.DefaultPolicy(),
	})
	if err != nil {
		b.Fatal(err)
	}
	gw := &gateway.Gateway{Routes: table, Sink: track.SinkFunc(func(context.Context, track.Call) error { return nil })}
	if c != nil {
		gw.Cache, gw.CacheKey, gw.CacheTTL = c, cache.Key, time.Hour
	}
	s := &Server{GW: gw, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	return s.Handler()
}

// BenchmarkChatInProcess is the service's own cost of one /chat request,
// without sockets: decode, route, router, gateway, encode, log line.
func BenchmarkChatInProcess(b *testing.B) {
	h := benchServer(b, nil)
	body := `{"prompt":"What is MLOps?","max_tokens":100}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/chat", strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

// BenchmarkCacheHitHTTP is a memory-cache hit answered end to end over a
// real loopback HTTP connection (keep-alive).
func BenchmarkCacheHitHTTP(b *testing.B) {
	srv := httptest.NewServer(benchServer(b, cache.NewMemory(1000, time.Hour)))
	defer srv.Close()
	body := `{"prompt":"What is MLOps?","max_tokens":100}`
	post := func() *http.Response {
		resp, err := http.Post(srv.URL+"/chat", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	post() // fill the cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if resp := post(); resp.Header.Get("X-Cache") != "HIT" {
			b.Fatal("miss")
		}
	}
}
