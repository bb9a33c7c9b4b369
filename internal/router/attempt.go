package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// errClientGone cancels an attempt whose caller broke out of the loop.
var errClientGone = errors.New("router: caller stopped reading")

// attempt makes one try of target t under its own context. done is true
// when the request is over: content reached the caller (whatever came
// after it, success or a terminal error, has been sent too), or the caller
// stopped. Otherwise err is the attempt's failure, nothing was sent, and
// the caller of attempt decides what comes next.
func (s *run) attempt(t *Target, br *breaker) (err error, done bool) {
	actx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	a := &attemptState{s: s, t: t, br: br, cancel: cancel, start: s.r.clock.Now()}
	a.w.start(s.r.clock, cancel, firstContentTimeout(s.r.policy.TTFT, s.r.policy.CollectRate, s.req), s.r.policy.Idle)
	defer a.w.stop()

	req := s.req
	a.model = cmp.Or(t.Model, req.Model)
	if a.model != req.Model {
		rq := *req
		rq.Model = a.model
		req = &rq
	}
	for c, e := range t.P.Stream(actx, req) {
		if e != nil {
			a.err = e
			break
		}
		if !a.chunk(c) {
			break
		}
	}

	switch {
	case s.stopped:
		a.end(&llm.Error{Kind: llm.KindCanceled, Provider: t.Provider, Message: "caller stopped reading", Err: errClientGone})
		return nil, true
	case a.err == nil && actx.Err() != nil && !a.finished:
		// The adapter ended quietly although its context was canceled
		// before the answer was finished: never a silent clean end.
		a.err = context.Cause(actx)
	}
	if a.err != nil {
		err := s.attemptErr(actx, t, a.err)
		a.end(err)
		if a.sent {
			s.send(llm.Chunk{}, err) // terminal: the caller has content already
			return nil, true
		}
		return err, false
	}
	if !a.sent {
		err := emptyErr(t, a.held)
		a.end(err)
		return err, false
	}
	a.end(nil)
	return nil, true
}

// attemptState is the bookkeeping of one attempt.
type attemptState struct {
	s        *run
	t        *Target
	br       *breaker
	cancel   context.CancelCauseFunc
	w        watchdog
	model    string
	start    time.Time
	err      error       // the adapter's error
	sent     bool        // content reached the caller
	finished bool        // a chunk carried a finish reason
	held     []llm.Chunk // non-content chunks waiting for the first content
	verdict  bool        // the breaker has heard of this attempt
}

// chunk handles one chunk from the adapter. It reports false when the
// caller stopped reading; the attempt is then canceled at once.
func (a *attemptState) chunk(c llm.Chunk) bool {
	c.Provider = cmp.Or(c.Provider, a.t.Provider)
	c.Model = cmp.Or(c.Model, a.model)
	a.finished = a.finished || c.FinishReason != ""
	if !a.sent {
		if !c.HasContent() {
			a.held = append(a.held, c)
			return true
		}
		a.w.gotContent()
		if !a.first() {
			a.cancel(errClientGone)
			return false
		}
	}
	a.w.pause()
	if !a.s.send(c, nil) {
		a.cancel(errClientGone)
		return false
	}
	a.w.resume()
	return true
}

// first handles the first content chunk: the target is healthy, and the
// held chunks go to the caller ahead of it. It reports false if the
// caller stopped.
func (a *attemptState) first() bool {
	a.sent = true
	a.verdict = true
	a.br.success()
	a.s.trace.MarkFirstToken(a.s.r.clock.Now())
	a.s.ttft = a.s.r.clock.Now().Sub(a.start)
	for _, h := range a.held {
		if !a.s.send(h, nil) {
			return false
		}
	}
	a.held = nil
	return true
}

// end records the attempt in the trace and tells the breaker.
func (a *attemptState) end(err error) {
	now := a.s.r.clock.Now()
	a.s.trace.Add(llm.Attempt{
		Provider: a.t.Provider,
		Model:    a.model,
		Start:    a.start,
		Duration: now.Sub(a.start),
		Err:      err,
	})
	switch {
	case err != nil && a.s.ctx.Err() == nil && countsAgainst(err):
		a.br.failure(publicText(err))
	case !a.verdict:
		a.br.release()
	}
}

// attemptErr turns the failure of an attempt into the error the router
// acts on: a watchdog cancellation becomes a Timeout naming the stall, a
// done request context becomes the request's own end (canceled or past
// its deadline); anything else is the adapter's error as-is.
func (s *run) attemptErr(actx context.Context, t *Target, err error) error {
	if s.ctx.Err() != nil {
		if errors.Is(s.parent.Err(), context.Canceled) {
			return &llm.Error{Kind: llm.KindCanceled, Provider: t.Provider, Message: "request canceled", Err: err}
		}
		return &llm.Error{Kind: llm.KindTimeout, Provider: t.Provider, Message: "interrupted by the request deadline", Err: err}
	}
	var st *stallError
	if errors.As(context.Cause(actx), &st) {
		return &llm.Error{Kind: llm.KindTimeout, Provider: t.Provider, Message: st.msg, Err: st}
	}
	return err
}

// emptyErr is the failure of a stream that ended without content.
func emptyErr(t *Target, held []llm.Chunk) error {
	msg := "answer has no content"
	for _, c := range held {
		if c.FinishReason != "" {
			msg = fmt.Sprintf("answer has no content (finish reason %q)", c.FinishReason)
		}
	}
	return &llm.Error{Kind: llm.KindEmpty, Provider: t.Provider, Message: msg}
}

// stallError is the cause of an attempt canceled by its watchdog.
type stallError struct{ msg string }

func (e *stallError) Error() string { return e.msg }

// firstContentTimeout is how long an attempt may go without content. A
// collected request's first content is its whole answer, so it gets the
// first-token timeout plus the time to write max_tokens at rate tokens a
// second (the default 20 is slow: hosted models write 50–200; 500 tokens
// get +25 s): a hung upstream still falls back, a long answer is not
// abandoned. The request deadline bounds both.
func firstContentTimeout(ttft time.Duration, rate int, req *llm.Request) time.Duration {
	if ttft <= 0 || rate <= 0 || !req.Collect {
		return ttft
	}
	n := req.MaxTokens
	if n <= 0 {
		n = 4096
	}
	return ttft + time.Duration(n)*time.Second/time.Duration(rate)
}

// watchdog cancels an attempt that goes silent: no content within ttft,
// or no chunk within idle once content has started. The adapters only
// honour their context; stalls are detected here, for all of them. Time
// the caller spends with a chunk does not count: the idle clock starts
// again when the caller has taken it. A zero watchdog, or one started
// with both limits 0, does nothing.
//
// A chunk costs two atomic stores, a load and a clock reading, not a
// timer Stop and Reset (which lock the timer heap): pause marks
// progress held, resume records when the caller let go. The one timer,
// when it fires, compares with the recorded progress and re-arms for
// the time left instead of canceling; while a chunk is held it lapses,
// and the next resume arms it again for the whole idle limit.
type watchdog struct {
	clock      clock
	cancel     context.CancelCauseFunc
	ttft, idle time.Duration
	base       time.Time   // the start; progress counts from it
	content    atomic.Bool // the first content chunk has arrived
	// progress is when (since base) the caller last let go of a chunk,
	// or held while it holds one.
	progress atomic.Int64
	armed    atomic.Bool // the timer is pending (or firing)

	mu      sync.Mutex // the timer's slow paths: start, fire, arm, stop
	t       timer
	stopped bool
}

// held is progress while the caller holds a chunk.
const held = math.MinInt64

func (w *watchdog) start(c clock, cancel context.CancelCauseFunc, ttft, idle time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clock, w.cancel, w.ttft, w.idle = c, cancel, ttft, idle
	w.base = c.Now()
	if ttft > 0 {
		w.armed.Store(true)
		w.t = c.AfterFunc(ttft, w.fire)
	}
}

// fire runs when the timer is due: a stall cancels the attempt, progress
// since the timer was armed re-arms it for the time left.
func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
	case !w.content.Load():
		w.cancel(&stallError{fmt.Sprintf("no first token within %s", w.ttft)})
	case w.idle <= 0:
		w.armed.Store(false) // no idle limit: the first token was all
	default:
		if w.progress.Load() == held {
			w.armed.Store(false)
			// A resume between the load and the store saw the timer
			// armed and left the arming to it: check again.
			if w.progress.Load() == held {
				return
			}
			w.armed.Store(true)
		}
		left := w.idle - (w.clock.Since(w.base) - time.Duration(w.progress.Load()))
		if left <= 0 {
			w.cancel(&stallError{fmt.Sprintf("stream stalled for %s", w.idle)})
			return
		}
		w.t.Reset(left)
	}
}

// gotContent stops the first-token clock.
func (w *watchdog) gotContent() {
	w.content.Store(true)
	w.pause()
}

// pause stops the clock while the caller holds a chunk.
func (w *watchdog) pause() { w.progress.Store(held) }

// resume restarts the idle clock after the caller took a chunk.
func (w *watchdog) resume() {
	if w.idle <= 0 {
		return
	}
	w.progress.Store(int64(w.clock.Since(w.base)))
	if !w.armed.Load() {
		w.arm()
	}
}

// arm starts the idle clock when no timer is pending: the first content
// of an attempt without a first-token limit, or after the timer lapsed
// while the caller held a chunk.
func (w *watchdog) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.armed.Load() {
		return
	}
	w.armed.Store(true)
	if w.t == nil {
		w.t = w.clock.AfterFunc(w.idle, w.fire)
		return
	}
	w.t.Reset(w.idle)
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.t != nil {
		w.t.Stop()
	}
}
