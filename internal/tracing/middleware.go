package tracing

import (
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
)

// RequestIDKey is the span attribute holding the request ID (the
// X-Request-ID response header the server sets).
const RequestIDKey = attribute.Key("request.id")

// Middleware starts a SERVER span per request, continuing the caller's
// trace when the request carries a W3C traceparent, and puts it in the
// request context. On a disabled tracer it returns next itself.
//
// Wrap the ServeMux directly (inside the server's request-ID and logging
// middleware): the mux records the matched pattern on the request it is
// handed, which names the span "POST /chat" and sets http.route. Wrapped
// further out, the span is named after the method alone. The request ID
// is read from the X-Request-ID response header, so either place works.
//
// The response writer is wrapped only to see the status: Flush goes
// through (SSE), and Unwrap lets http.ResponseController reach the rest.
func (t *Tracer) Middleware(next http.Handler) http.Handler {
	if !t.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		method := normalizeMethod(r.Method)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		attrs := make([]attribute.KeyValue, 0, 4)
		attrs = append(attrs,
			semconv.HTTPRequestMethodKey.String(method),
			semconv.URLPath(r.URL.Path),
			semconv.URLScheme(scheme))
		if ua := r.UserAgent(); ua != "" {
			attrs = append(attrs, semconv.UserAgentOriginal(ua))
		}
		ctx, span := t.tracer.Start(ctx, method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attrs...))
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		defer func() {
			p := recover()
			t.endServerSpan(span, sw, r, p != nil)
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

func (t *Tracer) endServerSpan(span trace.Span, sw *statusWriter, r *http.Request, panicked bool) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	code := sw.status
	if code == 0 {
		code = http.StatusOK
		if panicked {
			// The server's recovery answers 500.
			code = http.StatusInternalServerError
		}
	}
	attrs := []attribute.KeyValue{semconv.HTTPResponseStatusCode(code)}
	if route := routeOf(r.Pattern); route != "" {
		span.SetName(normalizeMethod(r.Method) + " " + route)
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	if id := sw.Header().Get("X-Request-ID"); id != "" {
		attrs = append(attrs, RequestIDKey.String(id))
	}
	switch {
	case panicked:
		attrs = append(attrs, semconv.ErrorTypeKey.String("panic"))
		span.SetStatus(codes.Error, "panic")
	case code >= 500:
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(code)))
		span.SetStatus(codes.Error, "")
	}
	span.SetAttributes(attrs...)
}

// routeOf is the path part of a ServeMux pattern: "POST /chat" → "/chat",
// "example.com/x" → "/x".
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// normalizeMethod keeps span names and attributes to a known set, as the
// HTTP semantic conventions ask.
func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// statusWriter remembers the first final status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher for handlers (and wrapping recorders)
// that assert it; http.ResponseController finds the writer underneath
// through Unwrap.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
