package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Transport returns rt (http.DefaultTransport when nil) wrapped to send
// the request context's trace as a W3C traceparent (and tracestate) to
// the provider. The parent it names is the request's SERVER span: the
// attempt spans are made afterwards from the router's record. On a
// disabled tracer it returns rt itself.
func (t *Tracer) Transport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &transport{rt: rt, prop: t.prop}
}

type transport struct {
	rt   http.RoundTripper
	prop propagation.TextMapPropagator
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(req.Context()).IsValid() {
		return t.rt.RoundTrip(req)
	}
	// A RoundTripper must not change the caller's request.
	out := req.Clone(req.Context())
	t.prop.Inject(req.Context(), propagation.HeaderCarrier(out.Header))
	return t.rt.RoundTrip(out)
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Unwrap returns the wrapped transport.
func (t *transport) Unwrap() http.RoundTripper { return t.rt }
