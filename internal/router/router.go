// Package router sends a request to an ordered list of targets: it retries
// what can succeed on retry with exponential backoff and full jitter, falls
// back to the next target, keeps one deadline for the whole request,
// detects stalled streams and skips targets whose circuit breaker is open.
// A Router is itself an llm.Provider.
//
// Streaming rule: nothing reaches the caller before the first chunk with
// content, so every failure before it is retried or falls back invisibly;
// after it, a failure ends the stream with that error (a provider is never
// switched mid-answer).
//
// Decisions worth knowing:
//   - RateLimited, Unavailable, Timeout and Upstream are retried on the
//     same target (waiting max(server hint, full-jitter backoff)), unless
//     the wait would pass the request deadline: then the next target is
//     tried at once.
//   - Invalid and Blocked return at once: the request itself is wrong.
//   - Unauthorized and Forbidden go to the next target (Policy.FallbackOnAuth).
//   - NotFound goes to the next target, without retry: the model sent is
//     the target's configured Model, so a 404 is configuration trouble
//     (or a retired model), not the client's fault, and the next target
//     may serve. Empty (thinking used the budget) and Internal do the same.
//   - When every target failed, the error is RateLimited if every last
//     failure was a rate limit (429 with the smallest hint), Empty if every
//     one was empty, Unavailable otherwise; its message names each target's
//     last failure by its public text only. A passed deadline is a Timeout
//     naming what was tried; a caller who left gets Canceled.
//   - Breakers count failed attempts (not requests) whose kind speaks
//     about the target: RateLimited, Unavailable, Timeout, Upstream,
//     Unauthorized, Forbidden, NotFound. Retries on a target stop as soon
//     as its breaker opens. When every breaker is open and none may probe,
//     the primary is tried once anyway.
//   - A target with a Group spreads over its deployments (group.go): a
//     Strategy picks one, a failure before content moves to another at
//     once, and a deployment cools down for as long as its provider said
//     (State, shared through Redis by RedisState).
//   - Fallbacks by cause (cause.go) send a context_window, content_filter,
//     rate_limited or unavailable failure to a rule's route instead; a
//     prompt estimated larger than a target's ContextWindow skips it.
package router

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Target is one provider and model the router may send a request to.
type Target struct {
	// Name identifies the target in breakers, health reports and error
	// messages, e.g. "google/gemini-2.5-flash". Targets with the same Name
	// share one breaker.
	Name string
	// Provider names the adapter, e.g. "google"; it is put on chunks that
	// lack one and on trace attempts.
	Provider string
	// Model is the model name sent to the provider; empty keeps the
	// request's Model.
	Model string
	// P is the adapter.
	P llm.Provider
	// Retries is how many times a retryable failure is retried on this
	// target after the first try; -1 takes Policy.Retries. Note that the
	// zero value means no retries.
	Retries int
	// Group, when set, spreads the target over several deployments of
	// the same model (group.go); P is then only a stand-in (the first
	// deployment's) for a try forced when every breaker is open.
	Group *Group
	// ContextWindow is the model's context window in tokens; a prompt
	// estimated larger skips the target (0: unknown, never skipped).
	ContextWindow int
}

// Policy is the attempt policy of a Router. Start from DefaultPolicy: in a
// Policy built by hand, Retries 0 means no retries, TTFT and Idle 0 turn
// the watchdog off and FallbackOnAuth false returns 401/403 at once.
// BaseDelay, MaxDelay and Deadline of 0 take their defaults.
type Policy struct {
	// Retries is how many times a retryable failure is retried on the same
	// target after the first try (default 3: up to 4 attempts).
	Retries int
	// BaseDelay and MaxDelay shape the backoff: the n-th retry (n from 0)
	// waits a uniformly random time in [0, min(MaxDelay, BaseDelay·2^n)]
	// ("full jitter"), or the server's retry hint when that is longer.
	// Defaults 500ms and 10s.
	BaseDelay, MaxDelay time.Duration
	// Deadline bounds the whole request, every attempt and fallback
	// included (default 60s). An earlier deadline on the caller's context
	// wins.
	Deadline time.Duration
	// TTFT is how long an attempt may go without its first content chunk
	// before it is abandoned as stalled (default 30s; 0 disables).
	TTFT time.Duration
	// Idle is the longest silence allowed between two chunks once content
	// has started (default 30s; 0 disables).
	Idle time.Duration
	// FallbackOnAuth sends a 401/403 of a target to the next target
	// instead of returning it (default true).
	FallbackOnAuth bool
	// CollectRate: a collected (non-stream) request's first content is
	// its whole answer, so it gets TTFT plus max_tokens at this many
	// tokens a second; 0 gives it TTFT alone.
	CollectRate int
}

// DefaultPolicy returns the recommended policy.
func DefaultPolicy() Policy {
	return Policy{
		Retries:        3,
		BaseDelay:      500 * time.Millisecond,
		MaxDelay:       10 * time.Second,
		Deadline:       60 * time.Second,
		TTFT:           30 * time.Second,
		Idle:           30 * time.Second,
		FallbackOnAuth: true,
		CollectRate:    20,
	}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	p.Retries = max(p.Retries, 0)
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	p.MaxDelay = max(p.MaxDelay, p.BaseDelay)
	if p.Deadline <= 0 {
		p.Deadline = d.Deadline
	}
	p.TTFT = max(p.TTFT, 0)
	p.Idle = max(p.Idle, 0)
	return p
}

// Router tries its targets in order. It is safe for concurrent use.
type Router struct {
	name     string
	targets  []Target
	brs      []*breaker         // brs[i] is targets[i]'s breaker
	dbrs     [][]*breaker       // dbrs[i][j] is the breaker of targets[i].Group.Deployments[j]
	rules    map[string]*Router // fallbacks by cause (cause.go); nil: give up
	policy   Policy
	breakers *Breakers

	clock clock
	randN func(n int64) int64 // uniform in [0, n); replaced in tests

	dims sync.Map // target name → the vector length it returns by default (embed.go)
}

// New returns a router over targets, tried in order. b holds the circuit
// breakers and may be shared with other routers; nil gives the router its
// own with default settings. New panics if a target has no provider.
func New(targets []Target, p Policy, b *Breakers) *Router {
	if b == nil {
		b = NewBreakers(BreakerConfig{})
	}
	r := &Router{
		targets:  append([]Target(nil), targets...),
		policy:   p.withDefaults(),
		breakers: b,
		clock:    realClock{},
		randN:    rand.Int64N,
	}
	for _, t := range r.targets {
		if t.P == nil {
			panic(fmt.Sprintf("router: target %q has no provider", t.Name))
		}
		r.brs = append(r.brs, b.get(t.Name))
		var dbrs []*breaker
		if g := t.Group; g != nil {
			if g.State == nil {
				g.State = NewMemoryState()
			}
			for _, d := range g.Deployments {
				if d.P == nil {
					panic(fmt.Sprintf("router: deployment %q has no provider", d.Name))
				}
				dbrs = append(dbrs, b.get(DeploymentTarget(d.Name, t.Model)))
			}
		}
		r.dbrs = append(r.dbrs, dbrs)
	}
	return r
}

// Named sets the name of the route the router serves (an alias,
// "default"), which a request's llm.TargetFilter is asked about beside
// each target, and returns r. Without it the route is named after its
// first target.
func (r *Router) Named(name string) *Router {
	r.name = name
	return r
}

func (r *Router) routeName() string {
	if r.name != "" || len(r.targets) == 0 {
		return r.name
	}
	return r.targets[0].Name
}

// Breakers returns the breaker set the router reports to.
func (r *Router) Breakers() *Breakers { return r.breakers }

// Stream implements llm.Provider. It starts nothing until iterated;
// breaking out of the loop cancels the attempt in flight.
func (r *Router) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		s := &run{r: r, req: req, yield: yield, parent: ctx, trace: llm.TraceFrom(ctx)}
		defer s.begin()()
		s.route()
	}
}

// begin starts the run's clock and sets its context: the parent's, cut at
// Policy.Deadline from now or the parent's own deadline, whichever comes
// first. The caller calls the returned cancel when the run is over.
func (s *run) begin() context.CancelFunc {
	s.start = s.r.clock.Now()
	s.deadline = s.start.Add(s.r.policy.Deadline)
	if d, ok := s.parent.Deadline(); ok && d.Before(s.deadline) {
		s.deadline = d
	}
	var cancel context.CancelFunc
	s.ctx, cancel = s.r.clock.WithDeadline(s.parent, s.deadline, errDeadline)
	return cancel
}

// errDeadline is the cause of the request context's cancellation when the
// router's own deadline passes.
var errDeadline = errors.New("router: request deadline passed")

// verdict is what the policy decides after a failed attempt.
type verdict int

const (
	retrySame  verdict = iota // back off, then try the same target again
	nextTarget                // give up on this target, try the next
	giveUp                    // return the error to the caller
)

// decide is the one place that maps an attempt's failure to what happens
// next. Errors come here only before any content reached the caller and
// while the request context is alive.
//
// NotFound falls back rather than returning: the model sent is
// Target.Model, chosen by the router's configuration and not by the
// client, so a 404 says the target is misconfigured (or the model was
// retired) and the next target may well serve the request. Internal (an
// unclassified failure) and a Canceled the caller did not cause fall back
// too. Invalid and Blocked are about the request itself and return as-is.
func (r *Router) decide(err error) verdict {
	switch llm.KindOf(err) {
	case llm.KindRateLimited, llm.KindUnavailable, llm.KindTimeout, llm.KindUpstream:
		return retrySame
	case llm.KindInvalid, llm.KindBlocked:
		return giveUp
	case llm.KindUnauthorized, llm.KindForbidden:
		if r.policy.FallbackOnAuth {
			return nextTarget
		}
		return giveUp
	default: // NotFound, Empty, Internal, Canceled
		return nextTarget
	}
}

// countsAgainst reports whether a failure speaks about the target's health
// and so counts toward opening its breaker.
func countsAgainst(err error) bool {
	switch llm.KindOf(err) {
	case llm.KindRateLimited, llm.KindUnavailable, llm.KindTimeout, llm.KindUpstream,
		llm.KindUnauthorized, llm.KindForbidden, llm.KindNotFound:
		return true
	}
	return false
}

// backoff returns the wait before the n-th retry (n from 0) after err:
// full jitter, or the server's hint when that is longer.
func (r *Router) backoff(n int, err error) time.Duration {
	ceil := backoffCeiling(r.policy.BaseDelay, r.policy.MaxDelay, n)
	d := time.Duration(r.randN(int64(ceil) + 1))
	return max(d, llm.RetryAfter(err))
}

var _ llm.Provider = (*Router)(nil)
