package server

import (
	"context"
	"iter"
	"net/http"
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
}

// pump streams seq to the client. Nothing is written until the first
// chunk arrives: a failure before it is a normal JSON error with its
// status. After it, a failure is an explicit error event, never a clean
// end. A heartbeat comment goes out when the stream is idle. A client
// that leaves cancels the upstream at once (cancel), and pump waits for
// the producer so that the interaction is recorded before it returns.
func (s *Server) pump(ctx context.Context, cancel context.CancelFunc, w http.ResponseWriter,
	res *gateway.Result, seq iter.Seq2[llm.Chunk, error], f eventFormat) {
	// The buffer is how many chunks a burst can carry into one write
	// (below): the producer decodes ahead while this goroutine waits.
	ch := make(chan item, 16)
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		defer close(ch)
		for c, err := range seq {
			select {
			case ch <- item{c, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-producerDone
	}()

	// A client that stops reading but keeps the connection open must not
	// pin this handler: every write gets a deadline.
	rc := http.NewResponseController(w)
	writeTimeout := max(2*s.Heartbeat, 30*time.Second)
	// Moving it costs a timer update: chunks of a burst share one (a
	// deadline at most a second older is still ≥ writeTimeout-1s away).
	var deadlineSet time.Time
	deadline := func() {
		if now := time.Now(); now.Sub(deadlineSet) >= time.Second {
			deadlineSet = now
			_ = rc.SetWriteDeadline(now.Add(writeTimeout))
		}
	}
	// The server sets no deadline of its own (no WriteTimeout: streams are
	// long), so clear ours for the next request on a kept-alive connection.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	var sw *sse.Writer
	var tick <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case it, ok := <-ch:
			if !ok {
				if sw == nil { // ended without a chunk: the gateway saw an error or a cancel
					<-producerDone
					if res.Err != nil {
						f.failBeforeStart(s, w, res.Err)
						return
					}
					sw = s.startStream(w, res, f)
				}
				<-producerDone // res is complete once the producer returned
				deadline()
				// Headers left with the first byte: the overhead goes as
				// a trailer (declared in startStream).
				w.Header().Set("X-Overhead-Ms", overheadMs(res))
				s.annotateResult(w, res)
				// Flushed here, under the write deadline the deferred reset
				// clears: a client that stopped reading cannot pin the
				// handler on the last events.
				if res.Err != nil {
					_ = f.fail(sw, s.endErr(res.Err))
				} else {
					_ = f.done(sw, res, RequestID(ctx))
				}
				_ = sw.Flush()
				return
			}
			deadline()
			if it.err != nil {
				if sw == nil {
					f.failBeforeStart(s, w, s.endErr(it.err))
				} else {
					_ = f.fail(sw, s.endErr(it.err))
					_ = sw.Flush()
				}
				return
			}
			if sw == nil {
				sw = s.startStream(w, res, f)
				if s.Heartbeat > 0 {
					ticker = time.NewTicker(s.Heartbeat)
					tick = ticker.C
				}
			}
			if err := f.chunk(sw, it.c); err != nil {
				return // client gone; the deferred cancel stops the upstream
			}
			if len(ch) == 0 {
				// Nothing else is ready: send what was written. Chunks that
				// arrived together leave in one write; none waits for one
				// that has not arrived.
				if err := sw.Flush(); err != nil {
					return // client gone
				}
				if ticker != nil {
					ticker.Reset(s.Heartbeat)
				}
			}
		case <-tick:
			deadline()
			if err := heartbeat(sw, f); err != nil {
				return
			}
		case <-ctx.Done():
			if err := s.endErr(nil); err != nil {
				// Shutdown, not the client, ended the request: say so.
				deadline()
				if sw == nil {
					f.failBeforeStart(s, w, err)
				} else {
					_ = f.fail(sw, err)
					_ = sw.Flush()
				}
			}
			return
		}
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
