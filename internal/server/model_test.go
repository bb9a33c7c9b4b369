package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/metrics"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
)

// TestModelNameRules is issue 18 item 1: a caller-chosen model name of
// any length and any bytes was taken as is (a 900 KB name became a
// breaker, a /metrics series, a log line and a ledger row). Both
// surfaces refuse it with a 400 in their own shape naming the rule.
func TestModelNameRules(t *testing.T) {
	h := newHarness(t)
	long := "google/" + strings.Repeat("m", 300)
	tests := []struct {
		name, path, body, want string
	}{
		{"chat: too long", "/chat", `{"prompt":"a","model":"` + long + `"}`, "at most 256"},
		{"chat: bad characters", "/chat", `{"prompt":"a","model":"google/gem ini\u0000<script>"}`, "letters, digits"},
		{"chat: provider too long", "/chat", `{"prompt":"a","provider":"` + strings.Repeat("p", 100) + `"}`, "provider"},
		{"v1: too long", "/v1/chat/completions", `{"model":"` + long + `","messages":[{"role":"user","content":"a"}]}`, "at most 256"},
		{"v1: bad characters", "/v1/chat/completions", `{"model":"a b","messages":[{"role":"user","content":"a"}]}`, "letters, digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.post(t, tt.path, tt.body)
			if resp.StatusCode != 400 || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s; want 400 naming the rule (%q)", resp.StatusCode, body, tt.want)
			}
			var shape map[string]any
			_ = json.Unmarshal(body, &shape)
			if strings.HasPrefix(tt.path, "/v1") {
				e, _ := shape["error"].(map[string]any)
				if e == nil || e["type"] != "invalid_request_error" || (e["param"] != "model" && e["param"] != "provider") {
					t.Errorf("not the OpenAI error shape: %s", body)
				}
			} else if _, ok := shape["detail"].(string); !ok {
				t.Errorf("not the FastAPI shape: %s", body)
			}
			if len(body) > 1024 {
				t.Errorf("the error echoes the caller's value: %d bytes", len(body))
			}
		})
	}
	for _, ok := range []string{"google/gemini-2.5-flash", "ollama/llama3.2:1b", "openai/ft:gpt-4o-mini-2024-07-18:acme::abc123",
		"ollama/hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "vertex/claude-3-5-sonnet@20240620"} {
		if msg := checkModelName("model", ok, maxModelName); msg != "" {
			t.Errorf("%q refused: %s", ok, msg)
		}
	}
}

// echo answers with the model it was asked for, so that every distinct
// name reaches the metrics as a response model too.
type echo struct{}

func (echo) Stream(_ context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		if yield(llm.Chunk{Delta: "ok"}, nil) {
			yield(llm.Chunk{FinishReason: llm.FinishStop, Model: req.Model, Provider: "google",
				Usage: &llm.Usage{InputTokens: 1, OutputTokens: 1, TotalTokens: 2}}, nil)
		}
	}
}

// TestManyModelNamesStayBounded is issue 18 item 1's load: 10,000
// distinct valid model names (200 bytes each) through /chat. The number
// of breakers stays under its cap, and /metrics and the live heap after
// 10,000 names are within a small factor of what they are after 1,000.
func TestManyModelNamesStayBounded(t *testing.T) {
	table, err := route.New(route.Config{
		Backends: map[string]route.Backend{"google": {P: echo{}, DefaultModel: "gemini-2.5-flash"}},
		Primary:  "google", Fallback: "none", Policy: router.DefaultPolicy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	met := metrics.New()
	met.RegisterBreakers(func() []metrics.BreakerHealth {
		var out []metrics.BreakerHealth
		for _, h := range table.Breakers().Health() {
			out = append(out, metrics.BreakerHealth{Target: h.Name, State: h.State})
		}
		return out
	})
	gw := &gateway.Gateway{Routes: table, Sink: met, Observer: met}
	s := &Server{GW: gw, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), BodyLimit: 1 << 20}
	h := s.Handler()
	send := func(from, to int) {
		for i := from; i < to; i++ {
			name := fmt.Sprintf("google/m%05d-%s", i, strings.Repeat("x", 200))
			req := httptest.NewRequest("POST", "/chat", strings.NewReader(`{"prompt":"a","model":"`+name+`"}`))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("model %d: %d %s", i, rec.Code, rec.Body)
			}
		}
	}
	measure := func() (breakers, metricsBytes int, heap uint64) {
		rec := httptest.NewRecorder()
		met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return len(table.Breakers().Health()), rec.Body.Len(), ms.HeapAlloc
	}
	send(0, 1000)
	b1, m1, h1 := measure()
	send(1000, 10000)
	b10, m10, h10 := measure()
	t.Logf("after 1,000 names: %d breakers, /metrics %d bytes, heap %d; after 10,000: %d, %d, %d", b1, m1, h1, b10, m10, h10)
	if limit := router.MaxBreakers + 1; b10 > limit { // + the configured default target
		t.Errorf("%d breakers after 10,000 names; the cap is %d", b10, limit)
	}
	if float64(m10) > 1.1*float64(m1)+4096 {
		t.Errorf("/metrics grew from %d to %d bytes between 1,000 and 10,000 names", m1, m10)
	}
	if float64(h10) > 1.5*float64(h1)+(2<<20) {
		t.Errorf("live heap grew from %d to %d bytes between 1,000 and 10,000 names", h1, h10)
	}
	if m10 > 1<<20 {
		t.Errorf("/metrics is %d bytes", m10)
	}
}

// TestLogLinesBounded: the request log line does not copy a huge caller
// value (a path of 100 KB).
func TestLogLinesBounded(t *testing.T) {
	var logs strings.Builder
	s := &Server{GW: &gateway.Gateway{}, Log: slog.New(slog.NewJSONHandler(&logs, nil)), BodyLimit: 1 << 20}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/"+strings.Repeat("p", 100000), nil))
	if logs.Len() == 0 || logs.Len() > 2048 {
		t.Fatalf("log line of %d bytes: %.300s", logs.Len(), logs.String())
	}
}
