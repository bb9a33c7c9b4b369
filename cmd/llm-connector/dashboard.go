package main

import (
	"context"
	"maps"
	"math"

	dto "github.com/prometheus/client_model/go"

	"github.com/llm-connector/llm-connector/internal/admin"
	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/cost"
	"github.com/llm-connector/llm-connector/internal/metrics"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/server"
)

// ProvidersStatus is the answer of GET /admin/providers: what /health
// (from memory, no probes) and the metrics already know, in one place.
type ProvidersStatus struct {
	// Status and Components are /health's (providers, tracking, cache
	// and rate limiter when degraded).
	Status     string         `json:"status"`
	Components map[string]any `json:"components"`
	// Targets are every breaker: state, consecutive failures, the last
	// error and how long an open one cools down.
	Targets []router.TargetHealth `json:"targets"`
	// Ledger is the usage ledger's writer: queued, written, errors.
	Ledger cost.LedgerStats `json:"ledger"`
	// Overhead is the time the service itself added to calls (total
	// minus upstream), from the metrics histogram, in milliseconds.
	Overhead OverheadStats `json:"overhead"`
	Cache    CacheState    `json:"cache"`
	Limits   LimitState    `json:"limits"`
}

// OverheadStats are percentiles of llm_connector_overhead_seconds.
type OverheadStats struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
}

// CacheState is the response cache's configuration and health.
type CacheState struct {
	Enabled  bool   `json:"enabled"`
	Backend  string `json:"backend,omitempty"` // memory | redis
	Degraded bool   `json:"degraded"`
}

// LimitState is the rate limiter's configuration and health.
type LimitState struct {
	RPM      int    `json:"rpm"`
	TPM      int    `json:"tpm"`
	Key      string `json:"key"`
	Backend  string `json:"backend"`
	Degraded bool   `json:"degraded"`
}

// providersStatus builds GET /admin/providers from the health function,
// the breakers, the ledger and the metrics.
func providersStatus(cfg *config.Config, health server.HealthFunc, table *route.Table, ledger *cost.Ledger,
	met *metrics.Metrics, degraded map[string]func() bool) func(context.Context) any {
	return func(ctx context.Context) any {
		h := health(ctx, false)
		st := ProvidersStatus{Status: h.Status, Components: h.Components, Targets: table.Breakers().Health(),
			Ledger: ledger.Stats(), Overhead: overheadOf(met)}
		if st.Targets == nil {
			st.Targets = []router.TargetHealth{}
		}
		backend := "memory"
		if cfg.RedisURL != "" {
			backend = "redis"
		}
		st.Cache = CacheState{Enabled: cfg.Cache.Enabled}
		if cfg.Cache.Enabled {
			st.Cache.Backend = backend
		}
		if d := degraded["cache"]; d != nil {
			st.Cache.Degraded = d()
		}
		st.Limits = LimitState{RPM: cfg.RateLimit.RPM, TPM: cfg.RateLimit.TPM, Key: cfg.RateLimit.Key, Backend: backend}
		if d := degraded["rate_limiter"]; d != nil {
			st.Limits.Degraded = d()
		}
		return st
	}
}

// overheadOf reads the overhead histogram from the metrics registry.
func overheadOf(met *metrics.Metrics) OverheadStats {
	families, err := met.Registry().Gather()
	if err != nil {
		return OverheadStats{}
	}
	for _, f := range families {
		if f.GetName() != "llm_connector_overhead_seconds" || len(f.GetMetric()) == 0 {
			continue
		}
		hist := f.GetMetric()[0].GetHistogram()
		return OverheadStats{Count: hist.GetSampleCount(), P50: histQuantile(hist, 0.5) * 1000, P99: histQuantile(hist, 0.99) * 1000}
	}
	return OverheadStats{}
}

// histQuantile is Prometheus' histogram_quantile over one histogram:
// linear inside the bucket.
func histQuantile(h *dto.Histogram, q float64) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return 0
	}
	target, prevCount, prevBound := q*total, 0.0, 0.0
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if c >= target {
			if math.IsInf(b.GetUpperBound(), 1) || c == prevCount {
				return prevBound
			}
			return prevBound + (target-prevCount)/(c-prevCount)*(b.GetUpperBound()-prevBound)
		}
		prevCount, prevBound = c, b.GetUpperBound()
	}
	return prevBound
}

// apiTypes are the handlers' types by schema name, for /openapi.json.
func apiTypes() map[string]any {
	types := map[string]any{"ProvidersStatus": ProvidersStatus{}}
	for _, m := range []map[string]any{server.APITypes(), admin.APITypes()} {
		maps.Copy(types, m)
	}
	return types
}
