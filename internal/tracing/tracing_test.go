package tracing

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// The gateway's hook, as the lead will declare it in internal/gateway.
type callObserver interface {
	ObserveCall(ctx context.Context, attempts []llm.Attempt, res *gateway.Result)
}

var _ callObserver = (*Tracer)(nil)

const (
	incomingTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent = "00f067aa0ba902b7"
	traceparent    = "00-" + incomingTrace + "-" + incomingParent + "-01"
)

func newTracer(t *testing.T, cfg Config) (*Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	cfg.Enabled = true
	cfg.Exporter = exp
	tr, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

// finished flushes the batcher and returns the exported spans.
func finished(t *testing.T, tr *Tracer, exp *tracetest.InMemoryExporter) tracetest.SpanStubs {
	t.Helper()
	if err := tr.forceFlush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return exp.GetSpans()
}

// serverLike stands in for internal/server's middleware: it sets the
// request ID, wraps the writer in a recorder that asserts http.Flusher,
// recovers panics into a 500, and calls the traced mux.
func serverLike(routed http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "req-42")
		rec := &flushRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				http.Error(rec, "internal error", http.StatusInternalServerError)
			}
		}()
		routed.ServeHTTP(rec, r)
	})
}

type flushRecorder struct{ http.ResponseWriter }

func (f *flushRecorder) Flush() {
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (f *flushRecorder) Unwrap() http.ResponseWriter { return f.ResponseWriter }

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func wantAttrs(t *testing.T, span tracetest.SpanStub, want map[attribute.Key]any) {
	t.Helper()
	got := attrMap(span.Attributes)
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("span %q: no attribute %s (have %v)", span.Name, k, span.Attributes)
			continue
		}
		if ws, ok := w.([]string); ok {
			if !slices.Equal(v.AsStringSlice(), ws) {
				t.Errorf("span %q: %s = %v, want %v", span.Name, k, v.AsStringSlice(), ws)
			}
		} else if v.AsInterface() != w {
			t.Errorf("span %q: %s = %v, want %v", span.Name, k, v.AsInterface(), w)
		}
	}
}

func TestServerSpan(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		traceparent string
		handler     func(w http.ResponseWriter)
		wantName    string
		wantCode    int
		respCode    int // what httptest.ResponseRecorder saw, when not wantCode
		wantRoute   string
		wantErr     bool
	}{
		{name: "continues the caller's trace", method: "POST", path: "/chat", traceparent: traceparent,
			handler:  func(w http.ResponseWriter) { w.WriteHeader(http.StatusCreated) },
			wantName: "POST /chat", wantCode: 201, wantRoute: "/chat"},
		{name: "new trace without traceparent", method: "POST", path: "/chat",
			handler:  func(w http.ResponseWriter) { _, _ = io.WriteString(w, "ok") },
			wantName: "POST /chat", wantCode: 200, wantRoute: "/chat"},
		{name: "malformed traceparent starts a new trace", method: "POST", path: "/chat", traceparent: "00-zz-00-01",
			handler:  func(w http.ResponseWriter) {},
			wantName: "POST /chat", wantCode: 200, wantRoute: "/chat"},
		{name: "5xx marks the span", method: "POST", path: "/chat",
			handler:  func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) },
			wantName: "POST /chat", wantCode: 503, wantRoute: "/chat", wantErr: true},
		{name: "4xx does not", method: "POST", path: "/chat",
			handler:  func(w http.ResponseWriter) { w.WriteHeader(http.StatusTooManyRequests) },
			wantName: "POST /chat", wantCode: 429, wantRoute: "/chat"},
		{name: "1xx is not the status", method: "POST", path: "/chat",
			handler: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusEarlyHints)
				w.WriteHeader(http.StatusAccepted)
			},
			wantName: "POST /chat", wantCode: 202, respCode: 103, wantRoute: "/chat"},
		{name: "unrouted path is named by method", method: "GET", path: "/nope",
			wantName: "GET", wantCode: 404},
		{name: "odd method is _OTHER", method: "BREW", path: "/nope",
			wantName: "_OTHER", wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, exp := newTracer(t, Config{})
			mux := http.NewServeMux()
			if tt.handler != nil {
				mux.HandleFunc(tt.method+" "+tt.path, func(w http.ResponseWriter, r *http.Request) {
					if !trace.SpanContextFromContext(r.Context()).IsValid() {
						t.Error("handler context has no span")
					}
					tt.handler(w)
				})
			}
			h := serverLike(tr.Middleware(mux))
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.traceparent != "" {
				req.Header.Set("traceparent", tt.traceparent)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			if want := cmp.Or(tt.respCode, tt.wantCode); rr.Code != want {
				t.Fatalf("response status %d, want %d", rr.Code, want)
			}

			spans := finished(t, tr, exp)
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1: %v", len(spans), spans)
			}
			s := spans[0]
			if s.Name != tt.wantName || s.SpanKind != trace.SpanKindServer {
				t.Errorf("span %q kind %v, want %q server", s.Name, s.SpanKind, tt.wantName)
			}
			want := map[attribute.Key]any{
				"http.request.method":       normalizeMethod(tt.method),
				"http.response.status_code": int64(tt.wantCode),
				"url.path":                  tt.path,
				RequestIDKey:                "req-42",
			}
			if tt.wantRoute != "" {
				want["http.route"] = tt.wantRoute
			} else if _, ok := attrMap(s.Attributes)["http.route"]; ok {
				t.Error("unrouted request has http.route")
			}
			wantAttrs(t, s, want)

			continued := tt.traceparent == traceparent
			if got := s.SpanContext.TraceID().String() == incomingTrace; got != continued {
				t.Errorf("trace ID %s, continued=%v, want %v", s.SpanContext.TraceID(), got, continued)
			}
			if continued {
				if s.Parent.SpanID().String() != incomingParent || !s.Parent.IsRemote() {
					t.Errorf("parent %v, want remote %s", s.Parent.SpanID(), incomingParent)
				}
			} else if s.Parent.IsValid() {
				t.Errorf("parent %v, want none", s.Parent.SpanID())
			}
			if got := s.Status.Code == codes.Error; got != tt.wantErr {
				t.Errorf("status %v, want error=%v", s.Status, tt.wantErr)
			}
		})
	}
}

func TestServerSpanPanic(t *testing.T) {
	tr, exp := newTracer(t, Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat", func(http.ResponseWriter, *http.Request) { panic("boom") })
	rr := httptest.NewRecorder()
	serverLike(tr.Middleware(mux)).ServeHTTP(rr, httptest.NewRequest("POST", "/chat", nil))
	if rr.Code != 500 {
		t.Fatalf("status %d, want 500 from the recovery", rr.Code)
	}
	spans := finished(t, tr, exp)
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	if spans[0].Status.Code != codes.Error {
		t.Errorf("status %v, want error", spans[0].Status)
	}
	wantAttrs(t, spans[0], map[attribute.Key]any{"http.response.status_code": int64(500), "error.type": "panic"})
}

const secret = "sk-SECRET-do-not-leak"

func TestObserveCall(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	firstToken := t0.Add(400 * time.Millisecond)
	attempts := []llm.Attempt{
		{Provider: "google", Model: "gemini-2.5-flash", Start: t0, Duration: 120 * time.Millisecond,
			// The public Message is what clients see; the cause quotes a
			// URL with a credential and must not reach a span.
			Err: &llm.Error{Kind: llm.KindUnavailable, Provider: "google", StatusCode: 503, Message: "model overloaded",
				Err: fmt.Errorf("POST https://x/?key=%s: 503", secret)}},
		{Provider: "ollama", Model: "llama3", Start: t0.Add(200 * time.Millisecond), Duration: 2 * time.Second},
	}
	res := &gateway.Result{
		Route:    gateway.Route{Name: "default", Provider: "google", Model: "gemini-2.5-flash"},
		Attempts: 2, Fallback: true,
		Response: llm.Response{Provider: "ollama", Model: "llama3:8b", FinishReason: "stop",
			Usage: llm.Usage{InputTokens: 11, OutputTokens: 22}},
	}

	tr, exp := newTracer(t, Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat", func(w http.ResponseWriter, r *http.Request) {
		lt := &llm.Trace{}
		lt.MarkFirstToken(firstToken)
		ctx := llm.WithTrace(r.Context(), lt)
		tr.ObserveCall(ctx, attempts, res)
	})
	req := httptest.NewRequest("POST", "/chat", nil)
	req.Header.Set("traceparent", traceparent)
	serverLike(tr.Middleware(mux)).ServeHTTP(httptest.NewRecorder(), req)

	spans := finished(t, tr, exp)
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3 (2 attempts + server): %v", len(spans), spans)
	}
	// Attempt spans end (are exported) before the server span.
	failed, ok, server := spans[0], spans[1], spans[2]
	if server.SpanKind != trace.SpanKindServer {
		t.Fatalf("last span %q is %v, want the server span", server.Name, server.SpanKind)
	}
	wantAttrs(t, server, map[attribute.Key]any{
		RouteKey: "default", CachedKey: false, FallbackKey: true, AttemptsKey: int64(2)})

	for i, s := range []tracetest.SpanStub{failed, ok} {
		a := attempts[i]
		if s.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt %d kind %v, want client", i, s.SpanKind)
		}
		if s.SpanContext.TraceID().String() != incomingTrace || s.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("attempt %d trace %s parent %s, want trace %s parent %s", i,
				s.SpanContext.TraceID(), s.Parent.SpanID(), incomingTrace, server.SpanContext.SpanID())
		}
		if !s.StartTime.Equal(a.Start) || !s.EndTime.Equal(a.Start.Add(a.Duration)) {
			t.Errorf("attempt %d [%v, %v], want [%v, %v]", i, s.StartTime, s.EndTime, a.Start, a.Start.Add(a.Duration))
		}
	}
	if failed.Name != "chat gemini-2.5-flash" || ok.Name != "chat llama3" {
		t.Errorf("names %q, %q", failed.Name, ok.Name)
	}
	wantAttrs(t, failed, map[attribute.Key]any{
		"gen_ai.operation.name": "chat",
		"gen_ai.provider.name":  "gcp.gemini",
		"gen_ai.request.model":  "gemini-2.5-flash",
		"error.type":            "unavailable",
		AttemptKey:              int64(1),
	})
	if failed.Status.Code != codes.Error || failed.Status.Description != "google: model overloaded" {
		t.Errorf("failed attempt status %v, want error with the public message", failed.Status)
	}
	if _, has := attrMap(failed.Attributes)["gen_ai.usage.input_tokens"]; has {
		t.Error("failed attempt carries usage")
	}
	wantAttrs(t, ok, map[attribute.Key]any{
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "ollama",
		"gen_ai.request.model":           "llama3",
		"gen_ai.response.model":          "llama3:8b",
		"gen_ai.usage.input_tokens":      int64(11),
		"gen_ai.usage.output_tokens":     int64(22),
		"gen_ai.response.finish_reasons": []string{"stop"},
		AttemptKey:                       int64(2),
	})
	if ok.Status.Code == codes.Error {
		t.Errorf("answering attempt status %v", ok.Status)
	}
	if _, has := attrMap(ok.Attributes)["error.type"]; has {
		t.Error("answering attempt has error.type")
	}
	if len(ok.Events) != 1 || ok.Events[0].Name != FirstTokenEvent || !ok.Events[0].Time.Equal(firstToken) {
		t.Errorf("events %v, want %s at %v", ok.Events, FirstTokenEvent, firstToken)
	}
	for _, s := range spans {
		assertNoSecret(t, s)
	}
}

func assertNoSecret(t *testing.T, s tracetest.SpanStub) {
	t.Helper()
	text := s.Name + " " + s.Status.Description
	for _, kv := range s.Attributes {
		text += " " + kv.Value.Emit()
	}
	for _, e := range s.Events {
		text += " " + e.Name
		for _, kv := range e.Attributes {
			text += " " + kv.Value.Emit()
		}
	}
	if strings.Contains(text, secret) || strings.Contains(text, "key=") {
		t.Errorf("span %q leaks upstream error text: %s", s.Name, text)
	}
}

func TestObserveCallFailedRequest(t *testing.T) {
	t0 := time.Now()
	err := llm.Errorf(llm.KindTimeout, "openai", "stalled")
	tr, exp := newTracer(t, Config{})
	ctx, span := tr.tracer.Start(context.Background(), "POST /chat", trace.WithSpanKind(trace.SpanKindServer))
	tr.ObserveCall(ctx, []llm.Attempt{{Provider: "openai", Model: "gpt-4o", Start: t0, Duration: time.Second, Err: err}},
		&gateway.Result{Attempts: 1, Err: err})
	span.End()
	spans := finished(t, tr, exp)
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	wantAttrs(t, spans[0], map[attribute.Key]any{"gen_ai.provider.name": "openai", "error.type": "timeout"})
	wantAttrs(t, spans[1], map[attribute.Key]any{"error.type": "timeout"})
}

func TestObserveCallCached(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	tr, exp := newTracer(t, Config{ServiceVersion: "1.2.3"})
	ctx, span := tr.tracer.Start(context.Background(), "POST /chat")
	tr.ObserveCall(ctx, nil, &gateway.Result{Cached: true, Route: gateway.Route{Name: "fast"}})
	span.End()
	spans := finished(t, tr, exp)
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want only the server span", len(spans))
	}
	wantAttrs(t, spans[0], map[attribute.Key]any{CachedKey: true, RouteKey: "fast", AttemptsKey: int64(0)})
	res := attrMap(spans[0].Resource.Attributes())
	if res["service.name"].AsString() != DefaultServiceName || res["service.version"].AsString() != "1.2.3" {
		t.Errorf("resource %v", spans[0].Resource)
	}
}

func TestSampledOut(t *testing.T) {
	tr, exp := newTracer(t, Config{Sampler: sdktrace.NeverSample()})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat", func(w http.ResponseWriter, r *http.Request) {
		tr.ObserveCall(r.Context(), []llm.Attempt{{Provider: "ollama", Start: time.Now()}}, &gateway.Result{})
	})
	serverLike(tr.Middleware(mux)).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/chat", nil))
	if spans := finished(t, tr, exp); len(spans) != 0 {
		t.Fatalf("sampled-out request exported %d spans", len(spans))
	}
}

func TestDisabled(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	disabled, err := Setup(context.Background(), Config{Enabled: false, Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	for name, tr := range map[string]*Tracer{"setup": disabled, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			if tr.Enabled() {
				t.Fatal("Enabled() = true")
			}
			mux := http.NewServeMux()
			if h := tr.Middleware(mux); h != http.Handler(mux) {
				t.Error("Middleware wrapped the handler")
			}
			rt := http.RoundTripper(&http.Transport{})
			if got := tr.Transport(rt); got != rt {
				t.Error("Transport wrapped the round tripper")
			}
			ctx := llm.WithTrace(context.Background(), &llm.Trace{})
			atts := []llm.Attempt{{Provider: "ollama", Model: "m", Start: time.Now(), Duration: time.Second}}
			res := &gateway.Result{Attempts: 1}
			if n := testing.AllocsPerRun(100, func() { tr.ObserveCall(ctx, atts, res) }); n != 0 {
				t.Errorf("ObserveCall allocates %v times", n)
			}
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := tr.forceFlush(context.Background()); err != nil {
				t.Errorf("flush: %v", err)
			}
			if spans := exp.GetSpans(); len(spans) != 0 {
				t.Errorf("disabled tracer exported %d spans", len(spans))
			}
		})
	}
}

// TestFlushPassesThrough streams two SSE events over a real connection,
// holding the second until the client has read the first: the first can
// only arrive if Flush reached the connection through the middleware.
func TestFlushPassesThrough(t *testing.T) {
	enabled, _ := newTracer(t, Config{})
	for name, tr := range map[string]*Tracer{"enabled": enabled, "disabled": {}} {
		t.Run(name, func(t *testing.T) {
			for _, how := range []string{"Flusher", "ResponseController"} {
				t.Run(how, func(t *testing.T) {
					read := make(chan struct{})
					mux := http.NewServeMux()
					mux.HandleFunc("POST /chat", func(w http.ResponseWriter, r *http.Request) {
						w.Header().Set("Content-Type", "text/event-stream")
						_, _ = io.WriteString(w, "data: one\n\n")
						if how == "Flusher" {
							w.(http.Flusher).Flush()
						} else if err := http.NewResponseController(w).Flush(); err != nil {
							t.Errorf("flush: %v", err)
						}
						select {
						case <-read:
						case <-r.Context().Done():
							return
						}
						_, _ = io.WriteString(w, "data: two\n\n")
					})
					srv := httptest.NewServer(serverLike(tr.Middleware(mux)))
					defer srv.Close()

					resp, err := http.Post(srv.URL+"/chat", "application/json", strings.NewReader("{}"))
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					br := bufio.NewReader(resp.Body)
					line, err := br.ReadString('\n')
					if err != nil || line != "data: one\n" {
						t.Fatalf("first line %q, %v", line, err)
					}
					close(read)
					rest, err := io.ReadAll(br)
					if err != nil || string(rest) != "\ndata: two\n\n" {
						t.Fatalf("rest %q, %v", rest, err)
					}
				})
			}
		})
	}
}

type captureRT struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (c *captureRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
}

func TestTransport(t *testing.T) {
	tr, _ := newTracer(t, Config{})
	capt := &captureRT{}
	client := &http.Client{Transport: tr.Transport(capt)}

	ctx, span := tr.tracer.Start(context.Background(), "POST /chat")
	defer span.End()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://upstream/v1/chat", nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	plain, _ := http.NewRequest("GET", "http://upstream/health", nil)
	resp, err = client.Do(plain)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if len(capt.reqs) != 2 {
		t.Fatalf("%d requests", len(capt.reqs))
	}
	sc := span.SpanContext()
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	if got := capt.reqs[0].Header.Get("traceparent"); got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
	if capt.reqs[0].Header.Get("Authorization") != "Bearer x" {
		t.Error("other headers lost")
	}
	if req.Header.Get("traceparent") != "" {
		t.Error("caller's request was modified")
	}
	if capt.reqs[1].Header.Get("traceparent") != "" || capt.reqs[1] != plain {
		t.Error("request without a span was changed")
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		env      map[string]string
		want     bool
		endpoint string
		wantErr  bool
	}{
		{env: nil, want: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: true,
			endpoint: "http://collector:4318/v1/traces"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c/otlp/"}, want: true,
			endpoint: "https://c/otlp/v1/traces"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other"}, want: true, endpoint: "http://c:4318/custom"},
		{env: map[string]string{"OTEL_TRACES_ENABLED": "true"}, want: true},
		{env: map[string]string{"OTEL_TRACES_ENABLED": "1"}, want: true},
		{env: map[string]string{"OTEL_TRACES_ENABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, want: false,
			endpoint: "http://c/v1/traces"},
		{env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_ENABLED": "true"}, want: false},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, want: false,
			endpoint: "http://c/v1/traces"},
		{env: map[string]string{"OTEL_TRACES_ENABLED": "yes please"}, wantErr: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://u:" + secret + "@c"}, wantErr: true},
	}
	for _, tt := range tests {
		cfg, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
		if (err != nil) != tt.wantErr || cfg.Enabled != tt.want || cfg.EndpointURL != tt.endpoint {
			t.Errorf("%v: enabled=%v endpoint=%q err=%v, want %v %q (error %v)",
				tt.env, cfg.Enabled, cfg.EndpointURL, err, tt.want, tt.endpoint, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the endpoint password: %v", err)
		}
	}
}

// TestOTLPExport runs the real OTLP/HTTP exporter against a fake
// collector: the standard variables (read through an injected getenv)
// configure it, OTEL_SERVICE_NAME names the service, and Shutdown
// flushes the batch.
func TestOTLPExport(t *testing.T) {
	var (
		mu   sync.Mutex
		got  []*coltracepb.ExportTraceServiceRequest
		errs []error
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		msg := &coltracepb.ExportTraceServiceRequest{}
		if err == nil && (r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf") {
			err = errors.New("unexpected " + r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type"))
		}
		if err == nil {
			err = proto.Unmarshal(body, msg)
		}
		mu.Lock()
		got, errs = append(got, msg), append(errs, err)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	// Only the injected environment names the collector and the service.
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL + "/", "OTEL_SERVICE_NAME": "gw-under-test"}[k]
	})
	if err != nil || !cfg.Enabled {
		t.Fatalf("ConfigFromEnv: %+v, %v", cfg, err)
	}
	cfg.Log = slog.New(slog.DiscardHandler)
	tr, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat", func(http.ResponseWriter, *http.Request) {})
	req := httptest.NewRequest("POST", "/chat", nil)
	req.Header.Set("traceparent", traceparent)
	serverLike(tr.Middleware(mux)).ServeHTTP(httptest.NewRecorder(), req)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 {
		t.Fatal("collector received nothing")
	}
	var names []string
	for i, msg := range got {
		if errs[i] != nil {
			t.Fatalf("export %d: %v", i, errs[i])
		}
		for _, rs := range msg.ResourceSpans {
			service := ""
			for _, kv := range rs.Resource.GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			if service != "gw-under-test" {
				t.Errorf("service.name %q, want OTEL_SERVICE_NAME", service)
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
					if trace.TraceID(s.TraceId).String() != incomingTrace {
						t.Errorf("exported trace ID %x", s.TraceId)
					}
				}
			}
		}
	}
	if strings.Join(names, ",") != "POST /chat" {
		t.Errorf("exported spans %v, want [POST /chat]", names)
	}
}

func TestRouteOf(t *testing.T) {
	for pattern, want := range map[string]string{
		"":                     "",
		"POST /chat":           "/chat",
		"GET /v1/models":       "/v1/models",
		"/health":              "/health",
		"example.com/x/{id}":   "/x/{id}",
		"GET  example.com/a/b": "/a/b",
	} {
		if got := routeOf(pattern); got != want {
			t.Errorf("routeOf(%q) = %q, want %q", pattern, got, want)
		}
	}
}
