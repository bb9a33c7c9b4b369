package router

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// ewmaAlpha is the weight of a new time-to-first-token sample.
const ewmaAlpha = 0.3

// MemoryState is a State kept in the process, keyed by deployment name
// (so groups that share a deployment share its state). Deployments come
// from the configuration, so the map is bounded by it.
type MemoryState struct {
	mu   sync.Mutex
	m    map[string]*depState
	next uint64 // lease counter
}

type depState struct {
	inflight  map[string]bool // leases held
	coolUntil time.Time
	reason    string
	ewma      float64 // ms
	samples   int     // since the last cooldown
}

// NewMemoryState returns an empty in-process state.
func NewMemoryState() *MemoryState { return &MemoryState{m: map[string]*depState{}} }

func (m *MemoryState) get(name string) *depState {
	d := m.m[name]
	if d == nil {
		d = &depState{inflight: map[string]bool{}}
		m.m[name] = d
	}
	return d
}

// view is what a strategy knows of one candidate.
type view struct {
	weight    int
	inflight  int
	ewma      float64
	samples   int
	remaining float64
}

// Pick implements State.
func (m *MemoryState) Pick(_ context.Context, now time.Time, s Strategy, explore float64, cands []*Deployment, r float64) Pick {
	m.mu.Lock()
	defer m.mu.Unlock()
	views := make([]view, len(cands))
	ok := make([]bool, len(cands))
	out := Pick{Index: -1}
	for i, c := range cands {
		d := m.get(c.Name)
		if wait := d.coolUntil.Sub(now); wait > 0 {
			if out.CoolFor == 0 || wait < out.CoolFor {
				out.CoolFor = wait
			}
			continue
		}
		if c.MaxInFlight > 0 && len(d.inflight) >= c.MaxInFlight {
			out.Capped = true
			continue
		}
		rem := 1.0
		if s == Usage && c.Remaining != nil {
			rem = c.Remaining()
		}
		views[i] = view{weight: c.weight(), inflight: len(d.inflight), ewma: d.ewma, samples: d.samples, remaining: rem}
		ok[i] = true
	}
	i := choose(s, explore, r, views, ok)
	if i < 0 {
		return out
	}
	m.next++
	lease := strconv.FormatUint(m.next, 10)
	m.get(cands[i].Name).inflight[lease] = true
	return Pick{Index: i, Lease: lease, Capped: out.Capped}
}

// Done implements State.
func (m *MemoryState) Done(_ context.Context, dep *Deployment, lease string, ttft time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.get(dep.Name)
	delete(d.inflight, lease)
	if ttft > 0 {
		d.observe(float64(ttft) / float64(time.Millisecond))
	}
}

func (d *depState) observe(ms float64) {
	if d.samples == 0 {
		d.ewma = ms
	} else {
		d.ewma += ewmaAlpha * (ms - d.ewma)
	}
	d.samples++
}

// Cool implements State. A cooled deployment forgets its latency: when
// it is back, LowestLatency tries it first and measures it again.
func (m *MemoryState) Cool(_ context.Context, now time.Time, dep *Deployment, dur time.Duration, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.get(dep.Name)
	if until := now.Add(dur); until.After(d.coolUntil) {
		d.coolUntil, d.reason = until, reason
	}
	d.samples, d.ewma = 0, 0
}

// InFlight returns the requests in flight on the deployment called name.
func (m *MemoryState) InFlight(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.get(name).inflight)
}

// choose applies strategy s to the eligible views (ok) and returns the
// chosen index, or -1 when none is eligible. r is uniform in [0, 1).
func choose(s Strategy, explore, r float64, views []view, ok []bool) int {
	switch s {
	case LeastBusy:
		best := -1
		for i, v := range views {
			if ok[i] && (best < 0 || v.inflight < views[best].inflight) {
				best = i
			}
		}
		return weightedAmong(r, views, ok, func(v view) bool { return best >= 0 && v.inflight == views[best].inflight })
	case Usage:
		best := -1.0
		for i, v := range views {
			if ok[i] && v.remaining > best {
				best = v.remaining
			}
		}
		return weightedAmong(r, views, ok, func(v view) bool { return v.remaining == best })
	case LowestLatency:
		if r < explore {
			return weightedAmong(r/explore, views, ok, func(view) bool { return true })
		}
		r = (r - explore) / (1 - explore)
		if i := weightedAmong(r, views, ok, func(v view) bool { return v.samples == 0 }); i >= 0 {
			return i // unmeasured (new, or back from a cooldown): measure it
		}
		best := -1
		for i, v := range views {
			if ok[i] && (best < 0 || v.ewma < views[best].ewma) {
				best = i
			}
		}
		return best
	}
	return weightedAmong(r, views, ok, func(view) bool { return true })
}

// weightedAmong picks among the eligible views that pass keep, at random
// in proportion to their weights; -1 when none does.
func weightedAmong(r float64, views []view, ok []bool, keep func(view) bool) int {
	total := 0
	for i, v := range views {
		if ok[i] && keep(v) {
			total += v.weight
		}
	}
	if total == 0 {
		return -1
	}
	at := int(r * float64(total))
	for i, v := range views {
		if !ok[i] || !keep(v) {
			continue
		}
		if at < v.weight {
			return i
		}
		at -= v.weight
	}
	return -1
}
