// Package fakeprovider is a scripted in-memory llm.Provider for tests of
// code that sits above providers (the router, the gateway). Each call to
// Stream plays the next script pushed with Push, or the default script
// once the queue is empty, and records what it saw.
package fakeprovider

import (
	"context"
	"iter"
	"sync"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Step is one thing the fake does while a call is iterated.
type Step struct {
	chunk llm.Chunk
	err   error
	fn    func(ctx context.Context)
	hang  bool
}

// Chunk yields c.
func Chunk(c llm.Chunk) Step { return Step{chunk: c} }

// Text yields a content chunk carrying s.
func Text(s string) Step { return Step{chunk: llm.Chunk{Delta: s}} }

// Err yields err; the call ends there, as a real adapter's would.
func Err(err error) Step { return Step{err: err} }

// Do runs f with the call's context, yielding nothing. Tests use it to
// advance a fake clock or cancel the caller's context at an exact point.
func Do(f func(ctx context.Context)) Step { return Step{fn: f} }

// Hang blocks until the call's context is done, then yields an error of
// kind Canceled or Timeout carrying the context's cause, the way an
// adapter reports an aborted request.
func Hang() Step { return Step{hang: true} }

// Call is what the fake saw during one call to Stream.
type Call struct {
	Request *llm.Request
	// CtxErr is ctx.Err() when the call ended: non-nil when the caller
	// canceled the call (or broke out of the loop and canceled it).
	CtxErr error
	// Stopped reports that the caller's yield returned false.
	Stopped bool
}

// Provider is a scripted llm.Provider. It is safe for concurrent use.
type Provider struct {
	name string

	mu    sync.Mutex
	queue [][]Step
	def   []Step
	calls []Call
}

// New returns a fake named name (the name goes on the errors it makes
// itself) that plays scripts in order, one per call.
func New(name string, scripts ...[]Step) *Provider {
	return &Provider{name: name, queue: scripts}
}

// Push appends scripts for the next calls.
func (p *Provider) Push(scripts ...[]Step) {
	p.mu.Lock()
	p.queue = append(p.queue, scripts...)
	p.mu.Unlock()
}

// SetDefault sets the script played once the queue is empty. Without
// one, an unscripted call yields an Internal error.
func (p *Provider) SetDefault(steps ...Step) {
	p.mu.Lock()
	p.def = append([]Step{}, steps...) // non-nil even when empty
	p.mu.Unlock()
}

// Calls returns a copy of the calls seen so far (finished ones have
// CtxErr and Stopped set).
func (p *Provider) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// NumCalls returns how many times Stream was iterated.
func (p *Provider) NumCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// Stream implements llm.Provider. It starts nothing until iterated.
func (p *Provider) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		steps, n := p.next(req)
		stopped := false
		defer func() {
			p.mu.Lock()
			p.calls[n].CtxErr = ctx.Err()
			p.calls[n].Stopped = stopped
			p.mu.Unlock()
		}()
		if steps == nil {
			yield(llm.Chunk{}, llm.Errorf(llm.KindInternal, p.name, "fakeprovider: no script for call %d", n+1))
			return
		}
		for _, s := range steps {
			switch {
			case s.fn != nil:
				s.fn(ctx)
			case s.hang:
				<-ctx.Done()
				yield(llm.Chunk{}, &llm.Error{Kind: llm.KindOf(ctx.Err()), Provider: p.name, Message: "request aborted", Err: context.Cause(ctx)})
				return
			case s.err != nil:
				yield(llm.Chunk{}, s.err)
				return
			default:
				if !yield(s.chunk, nil) {
					stopped = true
					return
				}
			}
		}
	}
}

func (p *Provider) next(req *llm.Request) ([]Step, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, Call{Request: req})
	n := len(p.calls) - 1
	if len(p.queue) > 0 {
		s := p.queue[0]
		p.queue = p.queue[1:]
		return s, n
	}
	return p.def, n
}

var _ llm.Provider = (*Provider)(nil)
