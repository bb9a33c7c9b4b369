package fakeserver

import (
	"context"
	"net/http"
	"time"
)

// Call is one request being answered by a fake. It writes and flushes the
// answer piece by piece and waits as scripted; a wait ends early when the
// client goes away, which the Call notes once on its Cancels, or when the
// fake shuts down (stop), which is not a cancellation. A Call is used by
// the one goroutine serving the request.
type Call struct {
	w       http.ResponseWriter
	ctx     context.Context
	cancels *Cancels
	stop    <-chan struct{}
	gone    bool
}

// NewCall starts answering r on w. cancels may be nil (nothing is
// counted); stop, when closed, ends every wait (nil: never).
func NewCall(w http.ResponseWriter, r *http.Request, cancels *Cancels, stop <-chan struct{}) *Call {
	return &Call{w: w, ctx: r.Context(), cancels: cancels, stop: stop}
}

// Gone notes that the client went away; only the first call counts.
func (c *Call) Gone() {
	if c.gone {
		return
	}
	c.gone = true
	if c.cancels != nil {
		c.cancels.Note()
	}
}

// Sleep waits d and reports whether the answer goes on: false when the
// client went away (noted) or the fake stopped first. With d <= 0 it only
// checks that the client is still there.
func (c *Call) Sleep(d time.Duration) bool {
	if d <= 0 {
		if c.ctx.Err() != nil {
			c.Gone()
			return false
		}
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	return await(c, t.C)
}

// Hold stalls the answer until release is closed (true), the client goes
// away (false, noted) or the fake stops (false). With release nil it
// waits for the client to go away.
func (c *Call) Hold(release <-chan struct{}) bool { return await(c, release) }

func await[T any](c *Call, ch <-chan T) bool {
	select {
	case <-ch:
		return true
	case <-c.ctx.Done():
		c.Gone()
		return false
	case <-c.stop:
		return false
	}
}

// Write writes b and flushes it to the client.
func (c *Call) Write(b []byte) error {
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.Flush()
}

// Flush sends what was written so far (the headers, at least).
func (c *Call) Flush() error { return http.NewResponseController(c.w).Flush() }

// Send is Write that reports success, noting the client gone on failure.
func (c *Call) Send(b []byte) bool {
	if err := c.Write(b); err != nil {
		c.Gone()
		return false
	}
	return true
}

// Cut closes the connection at once, sending nothing more: no headers if
// none went out yet, no end of a chunked body. It does not return: it
// ends the handler with http.ErrAbortHandler, which net/http takes
// silently.
func (c *Call) Cut() {
	if conn, _, err := http.NewResponseController(c.w).Hijack(); err == nil {
		_ = conn.Close()
	}
	panic(http.ErrAbortHandler)
}

// Event is one server-sent event.
type Event struct {
	Name  string // the "event:" line; "" for a data-only event
	Data  []byte // one line
	Delta bool   // content: counted by Stream's after, trickled
}

// Frame renders e: an "event:" line when named, the "data:" line, and a
// blank line.
func (e Event) Frame() []byte {
	b := make([]byte, 0, len(e.Name)+len(e.Data)+16)
	if e.Name != "" {
		b = append(b, "event: "...)
		b = append(b, e.Name...)
		b = append(b, '\n')
	}
	b = append(b, "data: "...)
	b = append(b, e.Data...)
	return append(b, '\n', '\n')
}

// Stream answers 200 with an SSE body ("text/event-stream;
// charset=utf-8", no-cache) and sends events, each flushed, waiting
// trickle before each delta event. When fault is not nil, it is played
// in place of the rest of the stream once after delta events went out
// (never before the first event). Stream stops early when the client
// goes away.
func (c *Call) Stream(events []Event, trickle time.Duration, after int, fault func()) {
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	c.w.WriteHeader(http.StatusOK)
	_ = c.Flush()
	sent := 0
	for i, ev := range events {
		if fault != nil && i > 0 && sent == after {
			fault()
			return
		}
		if ev.Delta {
			if !c.Sleep(trickle) {
				return
			}
			sent++
		}
		if !c.Send(ev.Frame()) {
			return
		}
	}
}
