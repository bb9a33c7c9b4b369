package metrics

import (
	"context"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/prometheus/client_golang/prometheus"
)

// Token types of gen_ai_client_token_usage, indexes into callSeries.tokens.
const (
	tokInput = iota
	tokOutput
	tokThinking
	tokCachedInput
	numTokenTypes
)

var tokenTypes = [numTokenTypes]string{"input", "output", "thinking", "cached_input"}

// callKey is the bounded label set of one call's series; op is the
// gen_ai operation: "embeddings" for /v1/embeddings, else "chat".
type callKey struct{ op, provider, requested, model string }

func operation(endpoint string) string {
	if endpoint == "/v1/embeddings" {
		return "embeddings"
	}
	return "chat"
}

// callSeries holds the children of one (provider, requested, model).
type callSeries struct {
	tokens   [numTokenTypes]prometheus.Observer
	duration prometheus.Observer // error_type=""
	ttft     prometheus.Observer
	cost     prometheus.Counter
	success  prometheus.Counter
	key      callKey
}

func (m *Metrics) newCallSeries(k callKey) *callSeries {
	s := &callSeries{key: k}
	for i, t := range tokenTypes {
		s.tokens[i] = m.tokens.WithLabelValues(k.op, k.provider, k.requested, k.model, t)
	}
	s.duration = m.opDuration.WithLabelValues(k.op, k.provider, k.model, "")
	s.ttft = m.ttft.WithLabelValues(k.op, k.provider, k.model)
	s.cost = m.cost.WithLabelValues(k.provider, k.model)
	s.success = m.calls.WithLabelValues(k.provider, k.model, "success")
	return s
}

// Record implements track.Sink: tokens, duration, time to first token,
// cost, retries, fallbacks and cache results of one finished call. It
// never fails and never blocks.
func (m *Metrics) Record(_ context.Context, c track.Call) error {
	s := m.call.get(callKey{
		op:        operation(c.Endpoint),
		provider:  m.providers.get(c.Provider),
		requested: m.requested.get(c.RequestedModel),
		model:     m.models.get(c.Model),
	})
	u := c.Usage
	if c.Attempts > 0 && !c.Cached {
		// Admission failures never reached a model; cache hits bill nothing.
		s.tokens[tokInput].Observe(float64(u.InputTokens))
		s.tokens[tokOutput].Observe(float64(u.OutputTokens))
		if u.ThinkingTokens > 0 {
			s.tokens[tokThinking].Observe(float64(u.ThinkingTokens))
		}
		if u.CachedInputTokens > 0 {
			s.tokens[tokCachedInput].Observe(float64(u.CachedInputTokens))
		}
	}
	if c.Success {
		s.duration.Observe(c.Duration.Seconds())
		s.success.Inc()
	} else {
		kind := m.kinds.get(c.ErrorKind)
		if kind == "" {
			kind = llm.KindInternal.String()
		}
		m.opDuration.WithLabelValues(s.key.op, s.key.provider, s.key.model, kind).Observe(c.Duration.Seconds())
		m.calls.WithLabelValues(s.key.provider, s.key.model, kind).Inc()
	}
	if c.Streamed && c.TTFT > 0 {
		s.ttft.Observe(c.TTFT.Seconds())
	}
	switch {
	case c.CostKnown && c.CostUSD > 0:
		s.cost.Add(c.CostUSD)
	case !c.CostKnown && c.Attempts > 0 && !c.Cached:
		m.costUnknown.Inc()
	}
	if c.Attempts > 1 {
		m.retries.Add(float64(c.Attempts - 1))
	}
	if c.Fallback {
		m.fallbacks.Inc()
	}
	switch {
	case c.Cached:
		m.cacheHit.Inc()
	case m.cacheEnabled && c.Attempts > 0:
		m.cacheMiss.Inc()
	}
	return nil
}

// attemptKey labels llm_connector_upstream_attempts_total.
type attemptKey struct{ provider, outcome string }

// ObserveAttempts counts upstream attempts by provider and outcome
// ("success" or the error kind), from the request's llm.Trace. The call
// record carries only the number of attempts, not who they went to.
func (m *Metrics) ObserveAttempts(attempts []llm.Attempt) {
	for _, a := range attempts {
		outcome := "success"
		if a.Err != nil {
			outcome = m.kinds.get(llm.KindOf(a.Err).String())
		}
		m.attempt.get(attemptKey{m.providers.get(a.Provider), outcome}).Inc()
	}
}

// ObserveOverhead records the time the service itself added to one call
// (gateway.Result.Overhead: total minus upstream time).
func (m *Metrics) ObserveOverhead(d time.Duration) {
	m.overhead.Observe(d.Seconds())
}

// RateLimited counts a request refused by a limit: "requests", "tokens"
// or "budget" (at most 8 distinct values).
func (m *Metrics) RateLimited(which string) {
	m.rateLimited.WithLabelValues(m.limits.get(which)).Inc()
}

var _ track.Sink = (*Metrics)(nil)
