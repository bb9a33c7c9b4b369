package ratelimit

import (
	"context"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Memory is an in-process Limiter. Each key has its own small lock; the
// map of keys is a sync.Map, so deciding for one key never waits for
// another. Keys whose budgets are full again are swept out once per
// window, so the map does not grow with every client ever seen.
type Memory struct {
	now      func() time.Time
	keys     sync.Map     // string -> *entry
	lastScan atomic.Int64 // unix ns of the last sweep
	sweeping atomic.Bool
}

// entry is one key's state: the theoretical arrival times of the request
// and token dimensions, in unix nanoseconds.
type entry struct {
	mu   sync.Mutex
	req  int64
	tok  int64
	dead bool // removed from the map by a sweep; look the key up again
}

// NewMemory returns a Memory limiter using the wall clock.
func NewMemory() *Memory { return NewMemoryClock(time.Now) }

// NewMemoryClock returns a Memory limiter that reads time from now
// (tests inject a fake clock).
func NewMemoryClock(now func() time.Time) *Memory {
	m := &Memory{now: now}
	m.lastScan.Store(now().UnixNano())
	return m
}

// Admit implements Limiter. It never returns an error.
func (m *Memory) Admit(_ context.Context, key string, l Limits, tokens int) (Decision, error) {
	now := m.now().UnixNano()
	if now-m.lastScan.Load() >= window {
		m.maybeSweep(now)
	}
	if l.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	e := m.lock(key)
	d, req, tok := decide(now, e.req, e.tok, l, tokens)
	e.req, e.tok = req, tok
	e.mu.Unlock()
	return d, nil
}

// Reconcile implements Limiter. It never returns an error.
func (m *Memory) Reconcile(_ context.Context, key string, l Limits, reserved, actual int) error {
	if l.TPM <= 0 {
		return nil
	}
	now := m.now().UnixNano()
	e := m.lock(key)
	e.tok = reconcile(now, e.tok, l.TPM, reserved, actual)
	e.mu.Unlock()
	return nil
}

// lock returns key's entry, locked, creating it when needed.
func (m *Memory) lock(key string) *entry {
	for {
		v, ok := m.keys.Load(key)
		if !ok {
			v, _ = m.keys.LoadOrStore(key, new(entry))
		}
		e := v.(*entry)
		e.mu.Lock()
		if !e.dead {
			return e
		}
		e.mu.Unlock()
	}
}

func (m *Memory) maybeSweep(now int64) {
	last := m.lastScan.Load()
	if now-last < window || !m.sweeping.CompareAndSwap(false, true) {
		return
	}
	if !m.lastScan.CompareAndSwap(last, now) {
		m.sweeping.Store(false)
		return
	}
	go func() {
		defer m.sweeping.Store(false)
		m.sweep(now)
	}()
}

// sweep removes the keys whose budgets are full at now: forgetting them
// changes no decision.
func (m *Memory) sweep(now int64) {
	m.keys.Range(func(k, v any) bool {
		e := v.(*entry)
		e.mu.Lock()
		if e.req <= now && e.tok <= now {
			e.dead = true
			m.keys.CompareAndDelete(k, v)
		}
		e.mu.Unlock()
		return true
	})
}

// Len returns the number of keys currently tracked.
func (m *Memory) Len() int {
	n := 0
	m.keys.Range(func(any, any) bool { n++; return true })
	return n
}

const window = int64(Window)

// decide applies one admission at now to the TATs req and tok and returns
// the decision and the new TATs (unchanged when rejected).
func decide(now, req, tok int64, l Limits, tokens int) (Decision, int64, int64) {
	var d Decision
	rOK, rBusy, rWait := true, int64(0), int64(0)
	if l.RPM > 0 {
		rOK, rBusy, rWait = step(req-now, int64(l.RPM), 1)
	}
	tOK, tBusy, tWait := true, int64(0), int64(0)
	if l.TPM > 0 {
		tOK, tBusy, tWait = step(tok-now, int64(l.TPM), int64(clampTokens(tokens, l.TPM)))
	}
	d.Allowed = rOK && tOK
	switch {
	case d.Allowed:
		if l.RPM > 0 {
			req = now + rBusy
		}
		if l.TPM > 0 {
			tok = now + tBusy
		}
	case rWait >= tWait:
		d.Limit, d.RetryAfter = LimitRequests, time.Duration(rWait)
	default:
		d.Limit, d.RetryAfter = LimitTokens, time.Duration(tWait)
	}
	d.Requests = state(l.RPM, req-now)
	d.Tokens = state(l.TPM, tok-now)
	return d, req, tok
}

// step charges n units to a dimension whose TAT is busy nanoseconds
// ahead of now. It returns whether they fit, the new busy time (the old
// one when they do not fit) and the wait until they would fit.
func step(busy, limit, n int64) (ok bool, newBusy, wait int64) {
	busy = max(busy, 0)
	next := busy + mulDiv(n, window, limit)
	if next > window {
		return false, busy, next - window
	}
	return true, next, 0
}

// reconcile returns the token TAT after replacing a charge of reserved
// tokens by actual ones.
func reconcile(now, tok int64, tpm, reserved, actual int) int64 {
	delta := int64(max(actual, 0) - clampTokens(reserved, tpm))
	tok = max(tok, now)
	if delta >= 0 {
		return min(tok+min(mulDiv(delta, window, int64(tpm)), maxDebt), now+maxDebt)
	}
	return max(tok-mulDiv(-delta, window, int64(tpm)), now)
}

// maxDebt bounds how far over-use can push a token budget: a request
// that used ten minutes' worth of tokens blocks its key for at most ten
// minutes.
const maxDebt = 10 * window

func state(limit int, busy int64) State {
	if limit <= 0 {
		return State{}
	}
	busy = max(busy, 0)
	rem := 0
	if busy < window {
		rem = int(mulDiv(window-busy, int64(limit), window))
	}
	return State{Limit: limit, Remaining: rem, Reset: time.Duration(busy)}
}

// mulDiv returns a*b/c rounded down, without overflow for non-negative
// operands whose quotient fits in an int64 (saturating otherwise).
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 1<<63 - 1
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(q)
}
