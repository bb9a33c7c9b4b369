package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BreakerHealth is one upstream target's circuit breaker, as the router
// reports it (router.TargetHealth's Name and State).
type BreakerHealth struct {
	Target string
	State  string // "closed", "half_open" or "open"
}

// Breaker state values of llm_connector_breaker_state.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// RegisterBreakers makes llm_connector_breaker_state report the states
// health returns, read at every scrape. A later call replaces health.
func (m *Metrics) RegisterBreakers(health func() []BreakerHealth) {
	m.breakers.health.Store(&health)
}

type breakerCollector struct {
	desc   *prometheus.Desc
	health atomic.Pointer[func() []BreakerHealth]
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.health.Load()
	if f == nil {
		return
	}
	seen := map[string]bool{}
	for _, h := range (*f)() {
		if seen[h.Target] || len(seen) >= MaxProviders*MaxModels {
			continue // a duplicate would fail the whole scrape
		}
		seen[h.Target] = true
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, breakerValue(h.State), h.Target)
	}
}

func breakerValue(state string) float64 {
	switch state {
	case "open":
		return BreakerOpen
	case "half_open":
		return BreakerHalfOpen
	}
	return BreakerClosed
}

// TrackingStats is the state of the tracking pipeline (MLflow), from
// mlflow.Tracker.Stats.
type TrackingStats struct {
	Backlog    int           // records not yet delivered
	OldestAge  time.Duration // age of the oldest of them
	Dropped    uint64        // records lost to a full spool since start (dropped or rejected)
	ShipErrors uint64        // failed delivery attempts since start
	Shipped    uint64        // records delivered since start
	// TraceSampleRate is the fraction of interactions that got an MLflow
	// trace over the last minute; negative when there is no trace channel.
	TraceSampleRate float64
}

// RegisterTracking makes the llm_connector_tracking_* series report the
// stats returns, read at every scrape. A later call replaces stats.
func (m *Metrics) RegisterTracking(stats func() TrackingStats) {
	m.tracking.stats.Store(&stats)
}

type trackingCollector struct {
	backlog, oldest, dropped, shipErrors, shipped, sampled *prometheus.Desc
	stats                                                  atomic.Pointer[func() TrackingStats]
}

func newTrackingCollector() *trackingCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &trackingCollector{
		backlog:    d("llm_connector_tracking_backlog", "Tracking records not yet delivered to MLflow."),
		oldest:     d("llm_connector_tracking_oldest_age_seconds", "Age of the oldest undelivered tracking record."),
		dropped:    d("llm_connector_tracking_dropped_total", "Tracking records lost because the spool was full."),
		shipErrors: d("llm_connector_tracking_ship_errors_total", "Failed deliveries of tracking records."),
		shipped:    d("llm_connector_tracking_shipped_total", "Tracking records delivered."),
		sampled:    d("llm_connector_tracking_trace_sample_ratio", "Fraction of interactions that got an MLflow trace over the last minute (window runs carry every one)."),
	}
}

func (c *trackingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlog
	ch <- c.oldest
	ch <- c.dropped
	ch <- c.shipErrors
	ch <- c.shipped
	ch <- c.sampled
}

func (c *trackingCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.stats.Load()
	if f == nil {
		return
	}
	s := (*f)()
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(s.Backlog))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, s.OldestAge.Seconds())
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(c.shipErrors, prometheus.CounterValue, float64(s.ShipErrors))
	ch <- prometheus.MustNewConstMetric(c.shipped, prometheus.CounterValue, float64(s.Shipped))
	if s.TraceSampleRate >= 0 {
		ch <- prometheus.MustNewConstMetric(c.sampled, prometheus.GaugeValue, s.TraceSampleRate)
	}
}
