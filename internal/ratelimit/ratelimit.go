// Package ratelimit admits or rejects requests against per-key budgets of
// requests per minute and tokens per minute.
//
// The algorithm is GCRA (the generic cell rate algorithm) applied to two
// dimensions at once: each key keeps a theoretical arrival time (TAT) for
// requests and one for tokens. A decision charges 1 request and the
// estimated tokens only when both dimensions have room, so a rejected
// request costs nothing. A full budget may be spent in one burst; it then
// refills continuously (RPM/60 requests per second), not at a minute
// boundary, so there is no double burst around a window edge.
//
// Memory keeps the state in the process; Redis keeps it in Redis with one
// Lua script call per decision, so any number of gateway instances that
// share a Redis enforce one limit. WithFallback chooses what happens when
// Redis cannot be reached.
package ratelimit

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Window is the period the limits are expressed in.
const Window = time.Minute

// Limits are the budgets of one key. Zero means unlimited.
type Limits struct {
	RPM int `json:"rpm" yaml:"rpm"` // requests per minute
	TPM int `json:"tpm" yaml:"tpm"` // tokens per minute
}

// Unlimited reports whether neither dimension is limited.
func (l Limits) Unlimited() bool { return l.RPM <= 0 && l.TPM <= 0 }

// Policy holds the default limits and the per-key overrides from the
// configuration file.
type Policy struct {
	Default   Limits
	Overrides map[string]Limits
}

// For returns the limits of key: its override when there is one, else the
// default.
func (p Policy) For(key string) Limits {
	if l, ok := p.Overrides[key]; ok {
		return l
	}
	return p.Default
}

// The names of the two limits, as reported in Decision.Limit.
const (
	LimitRequests = "requests"
	LimitTokens   = "tokens"
)

// State is the state of one dimension after a decision, for the
// X-RateLimit-* headers. Limit is 0 when the dimension is unlimited.
type State struct {
	Limit     int           // budget per minute
	Remaining int           // what could still be spent now
	Reset     time.Duration // until the budget is full again
}

// Decision is the outcome of Admit.
type Decision struct {
	Allowed bool
	// Limit names the limit that rejected the request: LimitRequests or
	// LimitTokens. Empty when allowed.
	Limit string
	// RetryAfter is how long to wait before the same request would be
	// admitted. Zero when allowed.
	RetryAfter time.Duration
	Requests   State
	Tokens     State
}

// Limiter decides admissions. Implementations are safe for concurrent use.
type Limiter interface {
	// Admit charges 1 request and tokens to key when both budgets have
	// room, or rejects without charging anything. Tokens above l.TPM are
	// charged as l.TPM: such a request waits for a full budget instead of
	// being rejected forever. An error means no decision could be made.
	Admit(ctx context.Context, key string, l Limits, tokens int) (Decision, error)
	// Reconcile corrects the token charge of an admitted request (never
	// call it for a rejected one: nothing was charged) once the
	// real usage is known: it refunds reserved-actual tokens when the
	// estimate was high and charges the difference when it was low (the
	// budget may then go into debt, delaying the next requests).
	Reconcile(ctx context.Context, key string, l Limits, reserved, actual int) error
}

// ErrUnavailable is in the chain of errors returned when the limiter's
// backend cannot be reached and the policy is fail-closed.
var ErrUnavailable = errors.New("ratelimit: backend unavailable")

// Headers sets the X-RateLimit-* headers of d on h, with OpenAI's names
// and formats (reset as a Go duration such as "1s" or "6m0s"), and
// Retry-After (whole seconds, rounded up) and Retry-After-Ms when d is a
// rejection. Unlimited dimensions get no headers.
func Headers(h http.Header, d Decision) {
	setState(h, "Requests", d.Requests)
	setState(h, "Tokens", d.Tokens)
	if d.Allowed {
		return
	}
	secs := int64(math.Ceil(d.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	h.Set("Retry-After-Ms", strconv.FormatInt(d.RetryAfter.Milliseconds(), 10))
}

func setState(h http.Header, dim string, s State) {
	if s.Limit <= 0 {
		return
	}
	h.Set("X-Ratelimit-Limit-"+dim, strconv.Itoa(s.Limit))
	h.Set("X-Ratelimit-Remaining-"+dim, strconv.Itoa(s.Remaining))
	h.Set("X-Ratelimit-Reset-"+dim, FormatReset(s.Reset))
}

// FormatReset formats a reset duration as OpenAI does: a Go duration
// rounded to the millisecond ("0s", "12ms", "1.5s", "6m0s").
func FormatReset(d time.Duration) string {
	if d > time.Millisecond {
		d = d.Round(time.Millisecond)
	} else if d > 0 {
		d = time.Millisecond
	}
	return d.String()
}

// cost clamps a token charge into [0, limit].
func clampTokens(tokens, limit int) int {
	if tokens < 0 {
		return 0
	}
	if tokens > limit {
		return limit
	}
	return tokens
}
