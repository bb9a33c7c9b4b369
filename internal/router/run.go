package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// run is the state of one request going through the router.
type run struct {
	r      *Router
	req    *llm.Request
	yield  func(llm.Chunk, error) bool
	parent context.Context // the caller's context
	ctx    context.Context // parent plus the request deadline
	trace  *llm.Trace

	start, deadline time.Time
	fails           []failure     // each target's last failure, in the order first met
	stopped         bool          // the caller's yield returned false
	ttft            time.Duration // the last attempt's time to first content
	divert          *Router       // a fallback rule's route to run next (cause.go)
	diverted        bool          // a rule's route is running: no second diversion
	prompt          int           // estimated prompt tokens, 0 until computed
}

// failure is a target's last failure, for the final error message.
type failure struct {
	name  string
	err   error
	open  bool // skipped: its breaker was open
	unfit bool // skipped: it cannot take the request (capable.go)
}

// route tries the targets in order until one answers or the request
// has to end. Targets the request's llm.TargetFilter refuses (an API
// key's allow-list) are never tried; none allowed is KindForbidden.
func (s *run) route() {
	if len(s.r.targets) == 0 {
		s.send(llm.Chunk{}, llm.Errorf(llm.KindInternal, "", "router: no targets"))
		return
	}
	allowed := s.allowed()
	if len(allowed) == 0 {
		s.send(llm.Chunk{}, llm.Errorf(llm.KindForbidden, "", "model %q is not allowed for this API key", s.r.routeName()))
		return
	}
	tried := false
	for n, i := range allowed {
		t, br := &s.r.targets[i], s.r.brs[i]
		if s.divert != nil {
			break
		}
		if s.tooLong(t) || s.unfit(t) {
			continue
		}
		if t.Group != nil {
			done, did := s.tryGroup(t, s.r.dbrs[i], n < len(allowed)-1)
			if done {
				return
			}
			tried = tried || did
			continue
		}
		ok, probe := br.allow()
		if !ok {
			s.fail(t.Name, errCircuitOpen(br), true)
			continue
		}
		tried = true
		if s.tryTarget(t, br, probe, n < len(allowed)-1) {
			return
		}
	}
	if f := s.forced(allowed); !tried && s.divert == nil && f >= 0 {
		// Every breaker is open and none may probe yet: try the first
		// allowed target once rather than fail with nothing tried.
		if s.tryTarget(&s.r.targets[f], s.r.brs[f], true, false) {
			return
		}
	}
	if s.divert == nil {
		if err := s.allFailed(); !s.divertFor(err) {
			s.send(llm.Chunk{}, err)
			return
		}
	}
	s.r, s.divert = s.divert, nil
	s.route()
}

// allowed returns the indexes of the targets the request may try.
func (s *run) allowed() []int {
	out := make([]int, 0, len(s.r.targets))
	for i := range s.r.targets {
		if llm.TargetAllowed(s.parent, s.r.routeName(), s.r.targets[i].Name) {
			out = append(out, i)
		}
	}
	return out
}

// tryTarget runs the attempts on one target. It reports true when the
// request is over (answered, or an error was sent to the caller) and false
// to move on to the next target. once limits it to a single attempt (a
// half-open probe, or the forced try when every breaker is open).
//
// hasNext says another target follows: then a server hint longer than
// Policy.MaxDelay (Gemini's free tier asks for ~40s) moves on at once
// instead of leaving the client without an answer while the fallback
// idles. With no target left, the hint is honoured up to the deadline.
func (s *run) tryTarget(t *Target, br *breaker, once, hasNext bool) (done bool) {
	retries := s.retries(t, once)
	for n := 0; ; n++ {
		if s.ctx.Err() != nil {
			s.send(llm.Chunk{}, s.ctxErr())
			return true
		}
		err, done := s.attempt(t, br)
		if done {
			return true
		}
		s.fail(t.Name, err, false)
		if s.ctx.Err() != nil {
			s.send(llm.Chunk{}, s.ctxErr())
			return true
		}
		switch s.r.decide(err) {
		case giveUp:
			if s.divertFor(err) {
				return false
			}
			s.send(llm.Chunk{}, err)
			return true
		case nextTarget:
			return false
		}
		switch s.again(n, retries, br, hasNext, err) {
		case stepMoveOn:
			return false
		case stepCut:
			s.send(llm.Chunk{}, s.ctxErr())
			return true
		}
	}
}

// retries is how many times target t is retried after its first attempt:
// its own count, else the policy's; none when once.
func (s *run) retries(t *Target, once bool) int {
	if once {
		return 0
	}
	if t.Retries < 0 {
		return s.r.policy.Retries
	}
	return t.Retries
}

// retryStep is what follows a failed attempt that may be retried.
type retryStep int

const (
	stepRetry  retryStep = iota // the backoff was slept: try the target again
	stepMoveOn                  // go on to the next target
	stepCut                     // the request's context ended during the backoff
)

// again decides, after failed attempt n (from 0) on a target, whether to
// try it once more, and sleeps the backoff when so. It moves on when the
// retries are spent or the breaker opened; when another target follows
// (hasNext) and the server asks for a wait longer than Policy.MaxDelay,
// since the next target answers sooner; and when waiting would pass the
// deadline (fall back now).
func (s *run) again(n, retries int, br *breaker, hasNext bool, err error) retryStep {
	if n >= retries || br.isOpen() {
		return stepMoveOn
	}
	if hasNext && llm.RetryAfter(err) > s.r.policy.MaxDelay {
		return stepMoveOn
	}
	wait := s.r.backoff(n, err)
	if s.r.clock.Now().Add(wait).After(s.deadline) {
		return stepMoveOn
	}
	if s.r.clock.Sleep(s.ctx, wait) != nil {
		return stepCut
	}
	return stepRetry
}

// send yields to the caller unless the caller has already stopped.
func (s *run) send(c llm.Chunk, err error) bool {
	if s.stopped {
		return false
	}
	if !s.yield(c, err) {
		s.stopped = true
	}
	return !s.stopped
}

// fail records err as the last failure of the target called name.
func (s *run) fail(name string, err error, open bool) {
	s.note(failure{name: name, err: err, open: open})
}

// note records f as the last failure of its target.
func (s *run) note(f failure) {
	for i := range s.fails {
		if s.fails[i].name == f.name {
			s.fails[i] = f
			return
		}
	}
	s.fails = append(s.fails, f)
}

// ctxErr is the error that ends a request whose context is done: the
// caller left, or the deadline passed.
func (s *run) ctxErr() error {
	if errors.Is(s.parent.Err(), context.Canceled) {
		return &llm.Error{Kind: llm.KindCanceled, Message: "request canceled", Err: context.Cause(s.parent)}
	}
	msg := fmt.Sprintf("request deadline passed after %s", s.r.clock.Now().Sub(s.start).Round(time.Millisecond))
	if len(s.fails) > 0 {
		msg += "; tried " + s.summary()
	}
	return &llm.Error{Kind: llm.KindTimeout, Message: msg, Err: context.Cause(s.ctx)}
}

// allFailed is the error when no target could answer. Its kind is
// RateLimited when every target's last failure was a rate limit (so the
// client gets 429 with the smallest retry hint), Empty when every target
// answered empty (the budget is too small for the model's thinking), and
// otherwise that of the most meaningful failure: the primary's when it
// cannot succeed on retry (an unknown model, refused credentials), else
// the last target tried. A skipped (circuit-open) target or a cancel the
// caller did not cause says nothing about the request: Unavailable. A
// target skipped as unfit (capable.go) decides nothing while another was
// tried: the capable target's failure is the answer, the message still
// says why the others were skipped; when all were unfit it is a 400.
func (s *run) allFailed() error {
	tried := make([]failure, 0, len(s.fails))
	for _, f := range s.fails {
		if !f.unfit {
			tried = append(tried, f)
		}
	}
	if len(tried) == 0 {
		return s.noneFit()
	}
	kind := llm.KindOf(tried[0].err)
	var hint time.Duration
	errs := make([]error, 0, len(s.fails))
	for _, f := range tried {
		if f.open || llm.KindOf(f.err) != kind {
			kind = llm.KindUnavailable
		}
		if h := llm.RetryAfter(f.err); h > 0 && (hint == 0 || h < hint) {
			hint = h
		}
	}
	for _, f := range s.fails {
		errs = append(errs, f.err)
	}
	// A hint is clamped to [0, the request deadline]: no caller is told
	// to wait longer than one request may last.
	hint = min(max(hint, 0), s.r.policy.Deadline)
	e := &llm.Error{Kind: kind, RetryAfter: hint, Message: "all providers failed: " + s.summary(), Err: errors.Join(errs...)}
	if kind != llm.KindRateLimited && kind != llm.KindEmpty {
		e.Kind, e.StatusCode = meaningful(tried)
	}
	return e
}

// meaningful picks the failure whose kind the final error takes: the
// primary's non-retryable one, else the last target's. The final error
// keeps Provider empty (its message names every target); the HTTP layer
// finds the provider's error in its chain.
func meaningful(fails []failure) (llm.Kind, int) {
	f := fails[len(fails)-1]
	if p := fails[0]; !p.open && !llm.Retryable(p.err) {
		f = p
	}
	var e *llm.Error
	if f.open || !errors.As(f.err, &e) {
		return llm.KindUnavailable, 0
	}
	switch e.Kind {
	case llm.KindCanceled, llm.KindInternal:
		return llm.KindUnavailable, 0
	}
	return e.Kind, e.StatusCode
}

// summary lists each target's last failure: "name: message; name: ...".
func (s *run) summary() string {
	var b strings.Builder
	for i, f := range s.fails {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.name)
		b.WriteString(": ")
		b.WriteString(publicText(f.err))
	}
	return b.String()
}

// publicText is the part of err that is safe to show a client: an
// llm.Error's Message (never its cause, which may hold a raw body), else
// a generic text for the error's kind.
func publicText(err error) string {
	var e *llm.Error
	if errors.As(err, &e) {
		msg := e.Message
		if msg == "" {
			msg = e.Kind.String()
		}
		if e.StatusCode != 0 && !strings.Contains(msg, fmt.Sprint(e.StatusCode)) {
			msg += fmt.Sprintf(" (%d)", e.StatusCode)
		}
		return msg
	}
	return llm.PublicMessage(err)
}

// errCircuitOpen is the failure noted for a target skipped by its breaker.
func errCircuitOpen(br *breaker) error {
	h := br.health()
	msg := "circuit open"
	if h.LastError != "" {
		msg += " (last error: " + h.LastError + ")"
	}
	return &llm.Error{Kind: llm.KindUnavailable, Message: msg}
}
