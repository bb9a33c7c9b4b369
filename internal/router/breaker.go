package router

import (
	"container/list"
	"slices"
	"strings"
	"sync"
	"time"
)

// BreakerConfig tunes the circuit breakers. Zero fields take defaults.
type BreakerConfig struct {
	// Failures is how many consecutive failed attempts open a target's
	// breaker. Default 5.
	Failures int
	// Cooldown is how long an open breaker skips its target before one
	// probe request may try it again. Default 30s.
	Cooldown time.Duration
}

// MaxBreakers bounds the breakers of targets no configured route names
// (caller-chosen "provider/model" names).
const MaxBreakers = 256

// Breaker states, as reported by Health.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half_open"
)

// TargetHealth is one breaker's state, for /health and metrics.
type TargetHealth struct {
	Name                string    `json:"name"`
	State               string    `json:"state"` // "closed", "open" or "half_open"
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty"` // public text of the last failure
	OpenUntil           time.Time `json:"open_until,omitzero"`  // zero unless open or half-open
}

// Breakers holds one circuit breaker per target name. It is shared by all
// routers built over the same targets (alias chains), so that a dead
// target is learned once. It is safe for concurrent use.
//
// Targets of configured routes are pinned (Pin) and keep their breaker
// for good. Any other name (a caller-chosen "provider/model") gets one of
// at most MaxBreakers breakers, the least recently used one forgotten
// first, so that a stream of made-up names cannot grow memory, /health
// or /metrics without bound.
type Breakers struct {
	cfg BreakerConfig
	now func() time.Time // replaced in tests

	mu     sync.Mutex
	m      map[string]*breaker
	pinned map[string]bool
	lru    *list.List // of *breaker not pinned, most recently used first
	max    int        // bound on lru's length
}

// NewBreakers returns an empty breaker set.
func NewBreakers(cfg BreakerConfig) *Breakers {
	if cfg.Failures <= 0 {
		cfg.Failures = 5
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 30 * time.Second
	}
	return &Breakers{cfg: cfg, now: time.Now, m: make(map[string]*breaker), pinned: map[string]bool{},
		lru: list.New(), max: MaxBreakers}
}

// Pin keeps the breakers of names (configured targets) for good: they
// never count against MaxBreakers and are never forgotten.
func (b *Breakers) Pin(names ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range names {
		b.pinned[n] = true
		if br, ok := b.m[n]; ok && br.elem != nil {
			b.lru.Remove(br.elem)
			br.elem = nil
		}
	}
}

// get returns the breaker for name, creating a closed one.
func (b *Breakers) get(name string) *breaker {
	b.mu.Lock()
	defer b.mu.Unlock()
	br, ok := b.m[name]
	if ok {
		if br.elem != nil {
			b.lru.MoveToFront(br.elem)
		}
		return br
	}
	br = &breaker{set: b, name: name}
	b.m[name] = br
	if !b.pinned[name] {
		br.elem = b.lru.PushFront(br)
		for b.lru.Len() > b.max {
			old := b.lru.Remove(b.lru.Back()).(*breaker)
			old.elem = nil
			delete(b.m, old.name)
		}
	}
	return br
}

// Forget drops the breaker of name unless it is pinned (the route that
// used it was forgotten).
func (b *Breakers) Forget(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if br, ok := b.m[name]; ok && br.elem != nil {
		b.lru.Remove(br.elem)
		br.elem = nil
		delete(b.m, name)
	}
}

// Len returns the number of breakers held.
func (b *Breakers) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// Health returns every known breaker's state, sorted by name.
func (b *Breakers) Health() []TargetHealth {
	b.mu.Lock()
	list := make([]*breaker, 0, len(b.m))
	for _, br := range b.m {
		list = append(list, br)
	}
	b.mu.Unlock()
	out := make([]TargetHealth, 0, len(list))
	for _, br := range list {
		out = append(out, br.health())
	}
	slices.SortFunc(out, func(x, y TargetHealth) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// breaker is one target's circuit breaker.
//
// Closed: every request may try the target; Failures consecutive failed
// attempts open it. Open: the target is skipped until Cooldown has passed;
// then it is half-open and exactly one request (the probe) may try it,
// once. The probe's success closes the breaker, its failure opens it for
// another Cooldown; a probe that ends without a verdict (the client left,
// the request was invalid) frees the slot for the next request.
type breaker struct {
	set  *Breakers
	name string
	elem *list.Element // in set.lru; nil when pinned or forgotten (guarded by set.mu)

	mu        sync.Mutex
	failures  int
	lastErr   string
	open      bool
	openUntil time.Time
	probing   bool
	coolUntil time.Time // set by cool: the provider said how long
}

// allow reports whether a request may try the target now, and whether
// that try is the half-open probe.
func (br *breaker) allow() (ok, probe bool) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if !br.open {
		return true, false
	}
	if br.probing || br.set.now().Before(br.openUntil) {
		return false, false
	}
	br.probing = true
	return true, true
}

// isOpen reports whether the breaker is open or half-open; retries stop
// at once when it is.
func (br *breaker) isOpen() bool {
	br.mu.Lock()
	defer br.mu.Unlock()
	return br.open
}

// success records an attempt that produced content: the breaker closes.
func (br *breaker) success() {
	br.mu.Lock()
	br.failures = 0
	br.lastErr = "" // recovered: the old error is history, not health
	br.open = false
	br.probing = false
	br.openUntil = time.Time{}
	br.mu.Unlock()
}

// failure records an attempt that failed for a reason that speaks about
// the target's health. A failed probe, a failure while open (a late
// request, or the forced try when every target is open) or the Failures-th
// consecutive failure opens the breaker for Cooldown.
func (br *breaker) failure(msg string) {
	br.mu.Lock()
	defer br.mu.Unlock()
	br.failures++
	br.lastErr = msg
	if br.probing || br.open || br.failures >= br.set.cfg.Failures {
		br.open = true
		br.probing = false
		br.openUntil = br.set.now().Add(br.set.cfg.Cooldown)
	}
}

// release frees the probe slot after a probe that gave no verdict.
func (br *breaker) release() {
	br.mu.Lock()
	br.probing = false
	br.mu.Unlock()
}

func (br *breaker) health() TargetHealth {
	br.mu.Lock()
	defer br.mu.Unlock()
	h := TargetHealth{Name: br.name, State: StateClosed, ConsecutiveFailures: br.failures, LastError: br.lastErr}
	if br.open {
		h.State = StateOpen
		h.OpenUntil = br.openUntil
		if !br.set.now().Before(br.openUntil) {
			h.State = StateHalfOpen
		}
	}
	return h
}

// mayTry reports, without taking the probe slot, whether allow could
// let a request through now.
func (br *breaker) mayTry() bool {
	br.mu.Lock()
	defer br.mu.Unlock()
	return !br.open || !br.probing && !br.set.now().Before(br.openUntil)
}

// cool opens the breaker until until, for a reason the provider gave (a
// retry hint, a daily quota, a refused key): /health shows it. The
// provider's word replaces the failure count's guess: the breaker opens
// for exactly that long and its count starts again.
func (br *breaker) cool(until time.Time, msg string) {
	br.mu.Lock()
	defer br.mu.Unlock()
	br.open = true
	br.probing = false
	br.failures = 0
	br.lastErr = "cooling down: " + msg
	if until.After(br.coolUntil) {
		br.coolUntil = until
	}
	br.openUntil = br.coolUntil
}

// cooling returns the end of the breaker's cooldown when one is running.
func (br *breaker) cooling(now time.Time) (time.Time, bool) {
	br.mu.Lock()
	defer br.mu.Unlock()
	return br.coolUntil, br.coolUntil.After(now)
}

// DeploymentTarget is the breaker name of a deployment serving model:
// "google#1/gemini-2.5-flash".
func DeploymentTarget(deployment, model string) string { return deployment + "/" + model }
