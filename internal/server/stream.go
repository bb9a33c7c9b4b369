package server

import (
	"context"
	"iter"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// eventFormat is what differs between /chat's and /v1's event streams.
type eventFormat interface {
	headers(h http.Header)
	chunk(sw *sse.Writer, c llm.Chunk) error
	done(sw *sse.Writer, res *gateway.Result, requestID string) error
	fail(sw *sse.Writer, err error) error
	failBeforeStart(s *Server, w http.ResponseWriter, err error)
}

type item struct {
	c   llm.Chunk
	err error
	// mark stands for no chunk: the producer is about to read the
	// upstream again, so what it sent before is all that has arrived.
	mark bool
}

// streamFeed carries a stream's chunks from the goroutine that ranges
// over it (the producer) to the one that writes them (pump), and tells
// pump when to flush: the adapters report each read of the upstream
// body (llm.WithBeforeRead), and the producer then sends a mark after
// the chunks of the last read. A burst that arrived in one read (a whole
// answer the upstream had ready: 14 OpenAI chunks in 4 KiB) is decoded
// from the read buffer and leaves in one flush, as a reverse proxy
// writes what one read gave; flushing whenever the channel was empty
// flushed every 16 chunks of such a burst, which the producer decodes
// no faster than pump writes. A stream whose source reports no reads
// (a cached answer) is flushed when nothing else is ready.
type streamFeed struct {
	// The buffer is how many chunks the producer decodes ahead of pump.
	ch chan item
	// reads: the source reports its reads, so marks come.
	reads atomic.Bool
	// sent and done belong to the producer: a chunk went out since the
	// last mark; the producer stopped (the stream's context ended).
	sent bool
	done <-chan struct{}
}

func newStreamFeed() *streamFeed { return &streamFeed{ch: make(chan item, 16)} }

// beforeRead runs on the producer, before a read of the upstream body.
func (f *streamFeed) beforeRead() {
	f.reads.Store(true)
	if !f.sent { // nothing sent yet (pump, which sets done, sends nothing before it starts)
		return
	}
	f.sent = false
	select {
	case f.ch <- item{mark: true}:
	case <-f.done:
	}
}

// send hands one chunk (or the error that ends the stream) to pump; it
// reports false when the stream's context ended.
func (f *streamFeed) send(it item) bool {
	select {
	case f.ch <- it: // room: no need to watch done too
	default:
		select {
		case f.ch <- it:
		case <-f.done:
			return false
		}
	}
	f.sent = true
	return true
}

// flushAfter says whether pump flushes after writing it: at a mark with
// nothing behind it, at the end of the answer, and, for a source that
// reports no reads, whenever nothing else is ready.
func (f *streamFeed) flushAfter(it item) bool {
	if it.c.FinishReason != "" {
		return true
	}
	if it.mark || !f.reads.Load() {
		return len(f.ch) == 0
	}
	return false
}

// pump streams seq to the client. Nothing is written until the first
// chunk arrives: a failure before it is a normal JSON error with its
// status. After it, a failure is an explicit error event, never a clean
// end. A heartbeat comment goes out when the stream is idle. A client
// that leaves cancels the upstream at once (cancel), and pump waits for
// the producer so that the interaction is recorded before it returns.
func (s *Server) pump(ctx context.Context, cancel context.CancelFunc, w http.ResponseWriter,
	res *gateway.Result, seq iter.Seq2[llm.Chunk, error], f eventFormat, feed *streamFeed) {
	feed.done = ctx.Done()
	ch := feed.ch
	producerDone := make(chan struct{})
	producers.run(func() {
		defer close(producerDone)
		defer close(ch)
		for c, err := range seq {
			if !feed.send(item{c: c, err: err}) || err != nil {
				return
			}
		}
	})
	defer func() {
		cancel()
		<-producerDone
	}()
	p := &pumper{ctx: ctx, s: s, w: w, res: res, f: f, producerDone: producerDone,
		// A client that stops reading but keeps the connection open must
		// not pin this handler: every write gets a deadline.
		rc: http.NewResponseController(w), writeTimeout: max(2*s.Heartbeat, 30*time.Second)}
	// The server sets no deadline of its own (no WriteTimeout: streams are
	// long), so clear ours for the next request on a kept-alive connection.
	defer func() { _ = p.rc.SetWriteDeadline(time.Time{}) }()
	defer p.stopTicker()
	defer func() {
		if p.sw != nil {
			p.sw.Release()
		}
	}()
	for {
		// A chunk that is ready is taken without the three-way select
		// (which locks every channel it waits on): most chunks of a burst.
		select {
		case it, ok := <-ch:
			if !p.take(it, ok, feed) {
				return
			}
			continue
		default:
		}
		select {
		case it, ok := <-ch:
			if !p.take(it, ok, feed) {
				return
			}
		case <-p.tick:
			p.deadline()
			if err := heartbeat(p.sw, f); err != nil {
				return
			}
		case <-ctx.Done():
			p.canceled()
			return
		}
	}
}

// take handles what the producer sent (ok false: it is done); false
// when the stream is over.
func (p *pumper) take(it item, ok bool, feed *streamFeed) bool {
	if !ok {
		p.finish()
		return false
	}
	return p.item(it, feed.flushAfter(it))
}

// pumper is the consumer side of pump: one stream's writer, deadline and
// heartbeat state.
type pumper struct {
	ctx          context.Context
	s            *Server
	w            http.ResponseWriter
	res          *gateway.Result
	f            eventFormat
	producerDone chan struct{}
	rc           *http.ResponseController
	writeTimeout time.Duration
	deadlineSet  time.Time
	sw           *sse.Writer
	ticker       *time.Ticker
	tick         <-chan time.Time
}

// deadline moves the write deadline. Moving it costs a timer update:
// chunks of a burst share one (a deadline at most a second older is
// still ≥ writeTimeout-1s away).
func (p *pumper) deadline() {
	if now := time.Now(); now.Sub(p.deadlineSet) >= time.Second {
		p.deadlineSet = now
		_ = p.rc.SetWriteDeadline(now.Add(p.writeTimeout))
	}
}

func (p *pumper) stopTicker() {
	if p.ticker != nil {
		p.ticker.Stop()
	}
}

// item writes one chunk, or the error that ends the stream; flush says
// what was written leaves now (streamFeed.flushAfter). It reports false
// when the stream is over.
func (p *pumper) item(it item, flush bool) bool {
	if it.mark {
		if flush && p.sw != nil {
			return p.flush()
		}
		return true
	}
	p.deadline()
	if it.err != nil {
		if p.sw == nil {
			p.f.failBeforeStart(p.s, p.w, p.s.endErr(it.err))
		} else {
			_ = p.f.fail(p.sw, p.s.endErr(it.err))
			_ = p.sw.Flush()
		}
		return false
	}
	if p.sw == nil {
		p.sw = p.s.startStream(p.w, p.res, p.f)
		if p.s.Heartbeat > 0 {
			p.ticker = time.NewTicker(p.s.Heartbeat)
			p.tick = p.ticker.C
		}
		flush = true // the first chunk leaves at once, whatever follows it
	}
	if err := p.f.chunk(p.sw, it.c); err != nil {
		return false // client gone; the deferred cancel stops the upstream
	}
	if !flush {
		return true
	}
	return p.flush()
}

// flush sends what was written: chunks that arrived together leave in one
// write; none waits for one that has not arrived. It reports false when
// the client is gone.
func (p *pumper) flush() bool {
	p.deadline()
	if err := p.sw.Flush(); err != nil {
		return false
	}
	if p.ticker != nil {
		p.ticker.Reset(p.s.Heartbeat)
	}
	return true
}

// finish ends a stream whose producer is done.
func (p *pumper) finish() {
	if p.sw == nil { // ended without a chunk: the gateway saw an error or a cancel
		<-p.producerDone
		if p.res.Err != nil {
			p.f.failBeforeStart(p.s, p.w, p.res.Err)
			return
		}
		p.sw = p.s.startStream(p.w, p.res, p.f)
	}
	<-p.producerDone // res is complete once the producer returned
	p.deadline()
	// Headers left with the first byte: the overhead goes as a trailer
	// (declared in startStream).
	p.w.Header().Set("X-Overhead-Ms", overheadMs(p.res))
	p.s.annotateResult(p.w, p.res)
	// Flushed here, under the write deadline the deferred reset clears: a
	// client that stopped reading cannot pin the handler on the last events.
	if p.res.Err != nil {
		_ = p.f.fail(p.sw, p.s.endErr(p.res.Err))
	} else {
		_ = p.f.done(p.sw, p.res, RequestID(p.ctx))
	}
	_ = p.sw.Flush()
}

// canceled ends a stream whose request context ended: if shutdown, not
// the client, ended it, say so.
func (p *pumper) canceled() {
	err := p.s.endErr(nil)
	if err == nil {
		return
	}
	p.deadline()
	if p.sw == nil {
		p.f.failBeforeStart(p.s, p.w, err)
	} else {
		_ = p.f.fail(p.sw, err)
		_ = p.sw.Flush()
	}
}

func (s *Server) startStream(w http.ResponseWriter, res *gateway.Result, f eventFormat) *sse.Writer {
	h := w.Header()
	sse.Headers(h)
	if res.Cached {
		h.Set("X-Cache", "HIT")
	} else {
		h.Set("X-Cache", "MISS")
	}
	f.headers(h)
	h.Set("Trailer", "X-Overhead-Ms")
	w.WriteHeader(http.StatusOK)
	sw := sse.NewWriter(w)
	sw.Coalesce()
	return sw
}

// heartbeat keeps an idle stream alive: the format's own ping event
// when it has one (Anthropic's "event: ping"), else an SSE comment.
func heartbeat(sw *sse.Writer, f eventFormat) error {
	if p, ok := f.(interface{ ping(*sse.Writer) error }); ok {
		return p.ping(sw)
	}
	return sw.Comment("keep-alive")
}
