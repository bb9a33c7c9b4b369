// Package tracing adds optional OpenTelemetry traces to the gateway: one
// SERVER span per HTTP request (continuing an incoming W3C traceparent),
// and one CLIENT span per upstream attempt, built after the request from
// the attempts the router recorded, with GenAI semantic-convention
// attributes. Spans leave through OTLP/HTTP, configured by the standard
// OTEL_EXPORTER_OTLP_* variables.
//
// Tracing is off by default. A disabled *Tracer (or a nil one) costs
// nothing: Middleware and Transport return what they were given, and
// ObserveCall returns at once.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is the service.name unless OTEL_SERVICE_NAME says
// otherwise.
const DefaultServiceName = "llm-connector"

// instrumentation is the name of the tracer (the instrumentation scope).
const instrumentation = "github.com/llm-connector/llm-connector/internal/tracing"

// Config turns tracing on and describes the service. The exporter itself
// (endpoint, headers, timeout, compression) is configured by the standard
// OTEL_EXPORTER_OTLP_* environment variables, which it reads itself; the
// batch processor reads OTEL_BSP_*, the sampler OTEL_TRACES_SAMPLER.
type Config struct {
	Enabled        bool
	ServiceName    string // default "llm-connector"; OTEL_SERVICE_NAME wins
	ServiceVersion string // optional service.version
	// EndpointURL is the full OTLP/HTTP traces URL
	// ("http://collector:4318/v1/traces"); empty lets the exporter read
	// the OTEL_EXPORTER_OTLP_* variables from the process environment.
	EndpointURL string

	// Log, when set, receives OpenTelemetry's internal errors (a
	// collector that cannot be reached) instead of the standard logger.
	// Setting it replaces the process-wide otel error handler.
	Log *slog.Logger

	// Exporter replaces the OTLP/HTTP exporter (tests).
	Exporter sdktrace.SpanExporter
	// Sampler replaces the SDK's default sampler (tests); nil keeps
	// ParentBased(AlwaysOn), or what OTEL_TRACES_SAMPLER asks for.
	Sampler sdktrace.Sampler
}

// ConfigFromEnv reads whether tracing is on from the standard variables:
// on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// is set, or when OTEL_TRACES_ENABLED is true (then the exporter's
// default, http://localhost:4318, applies). OTEL_TRACES_ENABLED=false,
// OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off. An
// unparsable OTEL_TRACES_ENABLED or endpoint is an error.
//
// The endpoint and OTEL_SERVICE_NAME are copied into the Config, so an
// injected getenv (tests) is obeyed; the exporter's other settings
// (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, TLS files) and
// OTEL_RESOURCE_ATTRIBUTES come from the process environment.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{ServiceName: strings.TrimSpace(getenv("OTEL_SERVICE_NAME"))}
	traces := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	base := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	switch {
	case traces != "":
		cfg.EndpointURL = traces // used as is, as the specification says
	case base != "":
		cfg.EndpointURL = strings.TrimRight(base, "/") + "/v1/traces"
	}
	if cfg.EndpointURL != "" {
		u, err := url.Parse(cfg.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Config{}, fmt.Errorf("tracing: OTLP endpoint %q: want an http:// or https:// URL", redactURL(cfg.EndpointURL))
		}
		cfg.Enabled = true
	}
	if v := strings.TrimSpace(getenv("OTEL_TRACES_ENABLED")); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("tracing: OTEL_TRACES_ENABLED=%q: want true or false", v)
		}
		cfg.Enabled = on
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none") {
		cfg.Enabled = false
	}
	return cfg, nil
}

// redactURL drops a password from a URL for an error message.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return "…" + s[i:]
	}
	return s
}

// Tracer makes the spans. The zero value and nil are disabled tracers.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// Setup builds the tracer: an OTLP/HTTP exporter behind a batch span
// processor. When cfg.Enabled is false it returns a disabled Tracer and
// touches nothing. Call Shutdown at exit to flush.
func Setup(ctx context.Context, cfg Config) (*Tracer, error) {
	if !cfg.Enabled {
		return &Tracer{}, nil
	}
	exp := cfg.Exporter
	if exp == nil {
		var opts []otlptracehttp.Option
		if cfg.EndpointURL != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.EndpointURL))
		}
		var err error
		if exp, err = otlptracehttp.New(ctx, opts...); err != nil {
			return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
		}
	}
	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	// Later options win: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
	// override the defaults above.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// A partial resource (a malformed OTEL_RESOURCE_ATTRIBUTES entry)
	// is still usable; the error is reported below and not fatal.
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	}
	if cfg.Sampler != nil {
		opts = append(opts, sdktrace.WithSampler(cfg.Sampler))
	}
	if cfg.Log != nil {
		log := cfg.Log
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("opentelemetry", "err", err)
		}))
		if err != nil {
			log.Warn("tracing: resource attributes", "err", err)
		}
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &Tracer{
		tp:     tp,
		tracer: tp.Tracer(instrumentation),
		prop:   propagation.TraceContext{},
	}, nil
}

// Enabled reports whether t makes spans.
func (t *Tracer) Enabled() bool { return t != nil && t.tp != nil }

// Shutdown flushes the spans still queued and stops the exporter. It is
// a no-op on a disabled tracer.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// forceFlush exports every finished span now (tests).
func (t *Tracer) forceFlush(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}
