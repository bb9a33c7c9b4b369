// Package metrics exposes the service's Prometheus metrics on a private
// registry (GET /metrics via Handler) and is a track.Sink.
//
// Naming follows the OpenTelemetry semantic conventions for generative AI
// (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/),
// translated to Prometheus the way the OpenTelemetry exporters do (dots
// become underscores, the unit "s" becomes a "_seconds" suffix, "{token}"
// is dropped), with the conventions' advisory bucket boundaries:
//
//   - gen_ai_client_token_usage (histogram; gen_ai.client.token.usage):
//     labels gen_ai_operation_name ("chat", "embeddings" for /v1/embeddings), gen_ai_provider_name,
//     gen_ai_request_model, gen_ai_response_model and gen_ai_token_type.
//     The convention defines the token types "input" and "output"; we add
//     "thinking" (reasoning tokens, billed as output) and "cached_input"
//     (the part of input served from the provider's prompt cache).
//   - gen_ai_client_operation_duration_seconds (histogram;
//     gen_ai.client.operation.duration): the whole call as the gateway
//     served it, labels gen_ai_operation_name, gen_ai_provider_name,
//     gen_ai_response_model and error_type (empty on success).
//   - gen_ai_server_time_to_first_token_seconds (histogram;
//     gen_ai.server.time_to_first_token): streams only, measured by the
//     gateway, which is the server its clients see.
//
// The service's own metrics are prefixed llm_connector_. Label values are
// bounded: routes are mux patterns, and provider, model and error labels
// admit a fixed number of distinct values, mapping any later one to
// "other" (model names can come from clients).
package metrics

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Caps on distinct label values.
const (
	MaxProviders = 16
	MaxModels    = 64
	MaxRoutes    = 64
	MaxKinds     = 32
	// maxSeries bounds the pre-resolved (provider, model) combinations.
	maxSeries = 512
)

// Bucket boundaries.
var (
	// OpenTelemetry GenAI advisory boundaries.
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	// OpenTelemetry HTTP server boundaries, extended for long LLM calls.
	httpBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120}
	// The gateway's own time is expected well under a millisecond.
	overheadBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25}
)

// Metrics holds every collector. It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	tokens      *prometheus.HistogramVec
	opDuration  *prometheus.HistogramVec
	ttft        *prometheus.HistogramVec
	httpReqs    *prometheus.CounterVec
	httpDur     *prometheus.HistogramVec
	overhead    prometheus.Histogram
	cost        *prometheus.CounterVec
	costUnknown prometheus.Counter
	attempts    *prometheus.CounterVec
	retries     prometheus.Counter
	fallbacks   prometheus.Counter
	cacheHit    prometheus.Counter
	cacheMiss   prometheus.Counter
	rateLimited *prometheus.CounterVec
	calls       *prometheus.CounterVec

	providers, models, requested, routes, kinds, limits *capped

	cacheEnabled bool
	call         *children[callKey, *callSeries]
	http         *children[httpKey, *httpSeries]
	attempt      *children[attemptKey, prometheus.Counter]

	breakers *breakerCollector
	tracking *trackingCollector
}

// Option configures New.
type Option func(*Metrics)

// WithCache tells Record whether a response cache is in use, so that a
// call that went upstream counts as a cache miss. Without it only hits
// are counted.
func WithCache(enabled bool) Option { return func(m *Metrics) { m.cacheEnabled = enabled } }

// WithModels admits the configured model names ("provider/model", the
// bare model and aliases) as label values up front, so that caller-chosen
// names, which take what is left of the cap, can never push a configured
// model into "other".
func WithModels(names ...string) Option {
	return func(m *Metrics) {
		for _, n := range names {
			m.models.get(n)
			m.requested.get(n)
			if _, bare, ok := strings.Cut(n, "/"); ok {
				m.models.get(bare)
			}
		}
	}
}

// New returns the metrics on a fresh private registry, with the Go
// runtime and process collectors registered beside them.
func New(opts ...Option) *Metrics {
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		providers: newCapped(MaxProviders, "none"),
		models:    newCapped(MaxModels, "none"),
		requested: newCapped(MaxModels, "default"),
		routes:    newCapped(MaxRoutes, "unmatched"),
		kinds:     newCapped(MaxKinds, ""),
		limits:    newCapped(8, "unknown"),
	}
	for _, o := range opts {
		o(m)
	}
	m.define()
	m.call = newChildren(maxSeries, callKey{"chat", Other, Other, Other}, m.newCallSeries)
	m.http = newChildren(MaxRoutes*8, httpKey{Other, 0}, m.newHTTPSeries)
	m.attempt = newChildren(MaxProviders*MaxKinds, attemptKey{Other, Other}, func(k attemptKey) prometheus.Counter {
		return m.attempts.WithLabelValues(k.provider, k.outcome)
	})
	m.breakers = &breakerCollector{desc: prometheus.NewDesc("llm_connector_breaker_state",
		"Circuit breaker state per upstream target: 0 closed, 1 half-open, 2 open.", []string{"target"}, nil)}
	m.tracking = newTrackingCollector()
	m.reg.MustRegister(m.breakers, m.tracking,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) define() {
	genAI := []string{"gen_ai_operation_name", "gen_ai_provider_name"}
	m.tokens = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_client_token_usage", Help: "Tokens used per call, by token type (OpenTelemetry gen_ai.client.token.usage).",
		Buckets: tokenBuckets,
	}, append(genAI, "gen_ai_request_model", "gen_ai_response_model", "gen_ai_token_type"))
	m.opDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_client_operation_duration_seconds", Help: "Duration of a chat call as the gateway served it (OpenTelemetry gen_ai.client.operation.duration).",
		Buckets: durationBuckets,
	}, append(genAI, "gen_ai_response_model", "error_type"))
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_server_time_to_first_token_seconds", Help: "Time to the first content chunk of a stream (OpenTelemetry gen_ai.server.time_to_first_token).",
		Buckets: ttftBuckets,
	}, append(genAI, "gen_ai_response_model"))
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "llm_connector_calls_total", Help: "Finished chat calls by provider, model and outcome (success or an error kind).",
	}, []string{"provider", "model", "outcome"})
	m.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "llm_connector_http_requests_total", Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "code"})
	m.httpDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "llm_connector_http_request_duration_seconds", Help: "HTTP request duration by route pattern.",
		Buckets: httpBuckets,
	}, []string{"route"})
	m.overhead = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "llm_connector_overhead_seconds", Help: "Time the service itself added to a call: total minus upstream time.",
		Buckets: overheadBuckets,
	})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "llm_connector_cost_usd_total", Help: "Estimated spend in US dollars, by provider and model.",
	}, []string{"provider", "model"})
	m.costUnknown = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "llm_connector_cost_unknown_total", Help: "Upstream calls whose cost is unknown (no price for the model).",
	})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "llm_connector_upstream_attempts_total", Help: "Upstream attempts by provider and outcome (success or an error kind).",
	}, []string{"provider", "outcome"})
	m.retries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "llm_connector_retries_total", Help: "Upstream attempts beyond the first (retries and fallbacks).",
	})
	m.fallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "llm_connector_fallbacks_total", Help: "Calls answered by a fallback target.",
	})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "llm_connector_cache_requests_total", Help: "Response cache lookups by result.",
	}, []string{"result"})
	m.cacheHit, m.cacheMiss = cache.WithLabelValues("hit"), cache.WithLabelValues("miss")
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "llm_connector_rate_limited_total", Help: "Requests refused by a limit (requests, tokens, budget).",
	}, []string{"limit"})
	m.reg.MustRegister(m.tokens, m.opDuration, m.ttft, m.calls, m.httpReqs, m.httpDur, m.overhead,
		m.cost, m.costUnknown, m.attempts, m.retries, m.fallbacks, cache, m.rateLimited)
}

// Handler serves the registry in the Prometheus text (or OpenMetrics,
// when asked) format, for GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// Registry returns the private registry, to register more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
