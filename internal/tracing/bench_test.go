package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// nopWriter is a reusable ResponseWriter, so the benchmark measures the
// middleware and not httptest.ResponseRecorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func benchTracers(b *testing.B) map[string]*Tracer {
	b.Helper()
	enabled, err := Setup(context.Background(), Config{Enabled: true, Exporter: tracetest.NewNoopExporter()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = enabled.Shutdown(context.Background()) })
	disabled, _ := Setup(context.Background(), Config{})
	return map[string]*Tracer{"disabled": disabled, "enabled": enabled}
}

// BenchmarkMiddleware serves POST /chat through the mux the way the
// server does, with a caller traceparent.
func BenchmarkMiddleware(b *testing.B) {
	for _, name := range []string{"disabled", "enabled"} {
		tr := benchTracers(b)[name]
		b.Run(name, func(b *testing.B) {
			mux := http.NewServeMux()
			mux.HandleFunc("POST /chat", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
			})
			h := tr.Middleware(mux)
			req := httptest.NewRequest("POST", "/chat", nil)
			req.Header.Set("traceparent", traceparent)
			w := &nopWriter{h: http.Header{"X-Request-Id": {"req-1"}}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkObserveCall makes the spans of a request that fell back once.
func BenchmarkObserveCall(b *testing.B) {
	t0 := time.Now()
	attempts := []llm.Attempt{
		{Provider: "google", Model: "gemini-2.5-flash", Start: t0, Duration: time.Second,
			Err: llm.Errorf(llm.KindUnavailable, "google", "overloaded")},
		{Provider: "ollama", Model: "llama3", Start: t0.Add(time.Second), Duration: time.Second},
	}
	res := &gateway.Result{Attempts: 2, Route: gateway.Route{Name: "default"},
		Response: llm.Response{Provider: "ollama", Model: "llama3", Usage: llm.Usage{InputTokens: 10, OutputTokens: 20}}}
	for _, name := range []string{"disabled", "enabled"} {
		tr := benchTracers(b)[name]
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			if tr.Enabled() {
				var span trace.Span
				ctx, span = tr.tracer.Start(ctx, "POST /chat", trace.WithSpanKind(trace.SpanKindServer))
				defer span.End()
			}
			ctx = llm.WithTrace(ctx, &llm.Trace{})
			b.ReportAllocs()
			for b.Loop() {
				tr.ObserveCall(ctx, attempts, res)
			}
		})
	}
}
