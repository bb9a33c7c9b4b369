package server

import (
	"context"
	"iter"
	"net/http"
	"sync"
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

// streamOut writes one stream's events. It runs on the goroutine that
// ranges over the stream — the handler's own, as a reverse proxy copies
// on the goroutine that reads — with no hand-off between a producer and
// a writer: the hand-off (a channel item per chunk, a goroutine woken per
// burst) was the largest share of the service's own cost per streamed
// chunk after decoding and encoding.
//
// When to flush: the adapters report each read of the upstream body
// (llm.WithBeforeRead), and what was written since the last flush leaves
// before that read. A burst that arrived in one read (a whole answer the
// upstream had ready: 14 OpenAI chunks in 4 KiB) is decoded from the
// read buffer and leaves in one flush, as a reverse proxy writes what one
// read gave, and nothing waits while the upstream is read again. A
// stream whose source reports no reads (a cached answer) flushes every
// event. The first event leaves at once.
//
// The heartbeat is the one thing written from another goroutine (a
// timer's): mu makes it and the stream's writes take turns, and closed
// tells a late heartbeat that the handler is done with the response.
type streamOut struct {
	ctx    context.Context
	cancel context.CancelFunc // ends the upstream read when the client is gone
	s      *Server
	w      http.ResponseWriter
	res    *gateway.Result
	f      eventFormat
	rc     *http.ResponseController
	// A client that stops reading but keeps the connection open must
	// not pin the handler: every write goes under a deadline.
	writeTimeout time.Duration
	deadlineSet  time.Time

	reads   bool // the source reports its reads (beforeRead ran)
	pending bool // written since the last flush
	gone    bool // a write failed: the client is gone

	mu        sync.Mutex
	sw        *sse.Writer // nil until the first event
	closed    bool        // the handler is done: nothing more is written
	hb        *time.Timer // the heartbeat, once the stream started
	lastFlush time.Time
}

func newStreamOut() *streamOut { return &streamOut{} }

// beforeRead runs before each read of the upstream body: what arrived
// since the last read leaves now.
func (o *streamOut) beforeRead() {
	o.reads = true
	if !o.pending { // pending belongs to this goroutine; gone does not
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.gone {
		o.flush()
	}
}

// pump streams seq to the client. Nothing is written until the first
// chunk arrives: a failure before it is a normal JSON error with its
// status. After it, a failure is an explicit error event, never a clean
// end. A heartbeat comment goes out when the stream is idle. A client
// that leaves ends the upstream call: its context is the request's, and
// a failed write cancels it. The interaction is recorded (the gateway's
// part of seq) before pump returns.
func (s *Server) pump(ctx context.Context, cancel context.CancelFunc, w http.ResponseWriter,
	res *gateway.Result, seq iter.Seq2[llm.Chunk, error], f eventFormat, o *streamOut) {
	o.ctx, o.cancel, o.s, o.w, o.res, o.f = ctx, cancel, s, w, res, f
	o.rc = http.NewResponseController(w)
	o.writeTimeout = max(2*s.Heartbeat, 30*time.Second)
	defer o.close()
	for c, err := range seq {
		if !o.chunk(c, err) {
			return // breaking out cancels the upstream; the gateway records what came
		}
	}
	o.finish()
}

// close ends the response's use by this stream: no heartbeat writes
// after it, and the deadline is cleared for the next request on a
// kept-alive connection (the server sets none of its own: streams are
// long).
func (o *streamOut) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.hb != nil {
		o.hb.Stop()
	}
	_ = o.rc.SetWriteDeadline(time.Time{})
	if o.sw != nil {
		o.sw.Release()
	}
}

// chunk writes one chunk, or the error that ends the stream. It reports
// false when the stream is over.
func (o *streamOut) chunk(c llm.Chunk, err error) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone {
		return false
	}
	if !o.pending {
		o.deadline()
	}
	if err != nil {
		o.fail(o.s.endErr(err))
		return false
	}
	first := o.sw == nil
	if first {
		o.start()
	}
	if o.f.chunk(o.sw, c) != nil {
		o.lost()
		return false
	}
	o.pending = true
	if first || !o.reads || c.FinishReason != "" {
		return o.flush()
	}
	return true
}

// start begins the response at the first event and the heartbeat with it.
func (o *streamOut) start() {
	o.sw = o.s.startStream(o.w, o.res, o.f)
	if o.s.Heartbeat > 0 {
		o.hb = time.AfterFunc(o.s.Heartbeat, o.heartbeat)
	}
}

// fail ends the stream with err: an error status before the first event,
// the format's error event after it.
func (o *streamOut) fail(err error) {
	if o.sw == nil {
		o.f.failBeforeStart(o.s, o.w, err)
		return
	}
	_ = o.f.fail(o.sw, err)
	o.flush()
}

// deadline moves the write deadline. Moving it costs a timer update:
// the writes of a burst share one (a deadline at most a second older is
// still ≥ writeTimeout-1s away).
func (o *streamOut) deadline() time.Time {
	now := time.Now()
	if now.Sub(o.deadlineSet) >= time.Second {
		o.deadlineSet = now
		_ = o.rc.SetWriteDeadline(now.Add(o.writeTimeout))
	}
	return now
}

// flush sends what was written: chunks that arrived together leave in
// one write; none waits for one that has not arrived. It reports false
// when the client is gone. o.mu is held.
func (o *streamOut) flush() bool {
	o.lastFlush = o.deadline()
	o.pending = false
	if o.sw.Flush() != nil {
		o.lost()
		return false
	}
	return true
}

// lost notes a failed write: the client is gone, so the upstream call
// ends now rather than at its next chunk.
func (o *streamOut) lost() {
	o.gone = true
	o.cancel()
}

// heartbeat runs on its timer: a stream that flushed nothing for a
// Heartbeat gets the format's keep-alive, and the timer is set for the
// next one. It waits for a write in progress (which may be blocked on a
// slow client until its deadline).
func (o *streamOut) heartbeat() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.gone {
		return
	}
	if idle := time.Since(o.lastFlush); idle < o.s.Heartbeat {
		o.hb.Reset(o.s.Heartbeat - idle)
		return
	}
	now := o.deadline()
	if heartbeat(o.sw, o.f) != nil {
		o.lost()
		return
	}
	o.lastFlush = now
	o.hb.Reset(o.s.Heartbeat)
}

// finish ends a stream whose source is done: the closing event, or the
// error the gateway ended it with.
func (o *streamOut) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone {
		return
	}
	if o.sw == nil { // ended without a chunk: the gateway saw an error or a cancel
		if o.res.Err != nil {
			o.f.failBeforeStart(o.s, o.w, o.s.endErr(o.res.Err))
			return
		}
		o.sw = o.s.startStream(o.w, o.res, o.f)
	}
	o.deadline()
	// Headers left with the first byte: the overhead goes as a trailer
	// (declared in startStream).
	o.w.Header().Set("X-Overhead-Ms", overheadMs(o.res))
	o.s.annotateResult(o.w, o.res)
	// Flushed here, under the write deadline close clears: a client that
	// stopped reading cannot pin the handler on the last events.
	if o.res.Err != nil {
		_ = o.f.fail(o.sw, o.s.endErr(o.res.Err))
	} else {
		_ = o.f.done(o.sw, o.res, RequestID(o.ctx))
	}
	_ = o.sw.Flush()
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
