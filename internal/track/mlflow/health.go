package mlflow

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// healthState is what the shippers last saw: failing from the first failed
// attempt, ok again (last error cleared) at the first success.
type healthState struct {
	mu       sync.Mutex
	failing  bool
	lastErr  string
	lastAt   time.Time
	failures atomic.Uint64
}

// report is every shipper's outcome hook: nil is a delivery that worked.
func (t *Tracker) report(err error) {
	if err == nil {
		t.gate.ok()
		t.health.mu.Lock()
		was := t.health.failing
		t.health.failing, t.health.lastErr, t.health.lastAt = false, "", time.Time{}
		t.health.mu.Unlock()
		if was {
			t.log.Info("mlflow: delivery resumed")
		}
		return
	}
	if retryable(err) {
		t.gate.fail() // pause every shipper: the server is down or refusing
	}
	msg := Redact(err.Error(), t.secrets...)
	t.health.mu.Lock()
	first := !t.health.failing
	t.health.failing, t.health.lastErr, t.health.lastAt = true, msg, time.Now()
	t.health.mu.Unlock()
	// Counted after the message is set, so that a reader who sees the
	// count also sees the error.
	t.health.failures.Add(1)
	if first || !retryable(err) {
		t.log.Warn("mlflow: delivery failed; the record stays queued", "err", msg, "retryable", retryable(err))
	}
}

func (h *healthState) fill(st *Stats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st.Failing, st.LastError, st.LastErrorTime = h.failing, h.lastErr, h.lastAt
	st.Failures = h.failures.Load()
}

func (h *healthState) isFailing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failing
}

// probe runs while deliveries fail: every ProbeInterval it asks the
// server's /health (cheap on every MLflow version) and, once it answers,
// opens the backoff gate, so shipping resumes within about one interval of
// the server's return instead of after the backoff (up to MaxBackoff).
// With nothing waiting, a good probe alone clears the failing state.
func (t *Tracker) probe(ctx context.Context) {
	tick := time.NewTicker(t.cfg.ProbeInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !t.health.isFailing() || !t.gate.closed() {
			continue
		}
		if t.serverUp(ctx) {
			t.gate.reset()
			if t.backlog() == 0 {
				t.report(nil)
			}
		}
	}
}

func (t *Tracker) serverUp(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, max(t.cfg.ProbeInterval, time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.cl.base+"/health", nil)
	if err != nil {
		return false
	}
	t.cl.auth(req)
	resp, err := t.cl.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// rateMeter estimates events per second: the count of the last full
// second, smoothed (EWMA, α = 0.5) so one burst does not decide.
type rateMeter struct {
	mu    sync.Mutex
	sec   int64 // unix second being counted
	n     int
	ewma  float64
	ready bool
}

func (m *rateMeter) add(now time.Time) {
	m.mu.Lock()
	m.roll(now.Unix())
	m.n++
	m.mu.Unlock()
}

func (m *rateMeter) rate(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(now.Unix())
	if !m.ready {
		return float64(m.n) // the first second: what arrived so far
	}
	return max(m.ewma, float64(m.n))
}

func (m *rateMeter) roll(sec int64) {
	if sec == m.sec {
		return
	}
	if m.sec != 0 {
		for s := m.sec; s < sec && s < m.sec+10; s++ { // idle seconds count as 0
			m.ewma = m.ewma/2 + float64(m.n)/2
			m.n = 0
		}
		m.ready = true
	}
	m.sec, m.n = sec, 0
}
