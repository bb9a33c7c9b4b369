package llm

import (
	"context"
	"sync"
	"time"
)

// Attempt is one try of one target, as the router saw it.
type Attempt struct {
	Provider string
	Model    string
	Start    time.Time
	Duration time.Duration
	Err      error // nil for the attempt that answered
}

// Trace collects the attempts made for one request. The gateway puts one
// in the context; the router appends to it; tracking and metrics read it.
type Trace struct {
	mu       sync.Mutex
	attempts []Attempt
	// FirstToken is when the first content chunk reached the caller.
	firstToken time.Time
}

type traceKey struct{}

// WithTrace returns a context carrying t.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// TraceFrom returns the Trace in ctx, or nil.
func TraceFrom(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// Add records an attempt. It is safe on a nil Trace.
func (t *Trace) Add(a Attempt) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.attempts = append(t.attempts, a)
	t.mu.Unlock()
}

// Attempts returns a copy of the recorded attempts.
func (t *Trace) Attempts() []Attempt {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Attempt(nil), t.attempts...)
}

// MarkFirstToken records the time of the first content chunk once.
func (t *Trace) MarkFirstToken(at time.Time) {
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.firstToken.IsZero() {
		t.firstToken = at
	}
	t.mu.Unlock()
}

// FirstToken returns the time recorded by MarkFirstToken.
func (t *Trace) FirstToken() time.Time {
	if t == nil {
		return time.Time{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstToken
}
