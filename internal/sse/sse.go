// Package sse reads and writes text/event-stream, as the WHATWG HTML
// standard defines it ("Server-sent events"). It imports only the
// standard library.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
)

// Event is one dispatched event. Type is empty for the default "message".
type Event struct {
	Type string
	ID   string
	Data string
}

// MaxLine bounds one line of input so that a hostile or broken upstream
// cannot make the reader buffer without end.
const MaxLine = 8 << 20

// readBuf is the size of Read's first buffer, and so of its reads: an
// upstream that sends a burst of events (an answer that was ready) is
// read in pieces this large, as httputil.ReverseProxy reads, and a
// caller that writes what one read gave in one flush (server's pump)
// sends it in as few writes. 4 KiB reads cost a read, a flush and two
// writes per 14 OpenAI chunks.
const readBuf = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, readBuf); return &b }}

// MaxEvent bounds the data of one event: consecutive data: lines, each
// within MaxLine, must not pile up without end either.
const MaxEvent = MaxLine

// MaxStream bounds a whole stream, so that an upstream that never stops
// cannot make a reader (and whoever collects the answer) grow without
// end. The longest answer a model gives, with the JSON around every
// chunk, is a few megabytes.
const MaxStream = 32 << 20

// ErrTooLarge is what every size error of this package matches
// (errors.Is): the upstream sent more than a reader accepts.
var ErrTooLarge = errors.New("upstream answer too large")

// The size errors.
var (
	// ErrLineTooLong is returned when a line exceeds MaxLine.
	ErrLineTooLong = fmt.Errorf("%w: a line is over %d bytes", ErrTooLarge, MaxLine)
	// ErrEventTooLarge is returned when one event's data exceeds MaxEvent.
	ErrEventTooLarge = fmt.Errorf("%w: an event is over %d bytes", ErrTooLarge, MaxEvent)
	// ErrStreamTooLarge is returned when a stream exceeds MaxStream (or the
	// bound given to LimitReader).
	ErrStreamTooLarge = fmt.Errorf("%w: the stream is over %d bytes", ErrTooLarge, MaxStream)
)

// LimitReader returns a reader of r that fails with ErrStreamTooLarge once
// it has returned n bytes and r has more: the bound of Read for bodies
// that are not event streams (NDJSON).
func LimitReader(r io.Reader, n int64) io.Reader { return &limitReader{r: r, n: n} }

type limitReader struct {
	r io.Reader
	n int64 // bytes still allowed
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One more byte tells a body of exactly n bytes from a longer one.
		var one [1]byte
		if k, err := l.r.Read(one[:]); k == 0 {
			return 0, err
		}
		return 0, ErrStreamTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// Read yields the events of r in order. Comments and empty events are
// skipped; a final event without its blank line is still dispatched, as
// browsers do at end of stream. Lines may end in LF, CR or CRLF.
//
// Sizes are bounded: a line by MaxLine, an event's data by MaxEvent, the
// whole stream by MaxStream. Past a bound Read yields an error matching
// ErrTooLarge and stops.
func Read(r io.Reader) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for ev, err := range ReadRaw(r) {
			if !yield(Event{Type: ev.Type, ID: ev.ID, Data: string(ev.Data)}, err) {
				return
			}
		}
	}
}

// RawEvent is an event as ReadRaw yields it: Data is the reader's own
// buffer, valid only until the loop body returns.
type RawEvent struct {
	Type string
	ID   string
	Data []byte
}

// ReadRaw is Read without a copy of each event's data: a decoder that
// keeps nothing of Data past its loop body (or copies what it keeps)
// saves an allocation of the event's size per event — most of what a
// long streamed answer allocated. Type and ID are strings of their own;
// a type equal to the previous event's is that same string.
func ReadRaw(r io.Reader) iter.Seq2[RawEvent, error] {
	return func(yield func(RawEvent, error) bool) {
		sc := bufio.NewScanner(LimitReader(r, MaxStream))
		// The first buffer comes from a pool: a stream per request would
		// otherwise allocate one each. A scanner that needs more grows its
		// own buffer and leaves this one as it was.
		buf := bufPool.Get().(*[]byte)
		defer bufPool.Put(buf)
		sc.Buffer((*buf)[:0], MaxLine)
		sc.Split(scanLines)
		var d dispatcher
		for sc.Scan() {
			if !d.line(sc.Bytes(), yield) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = ErrLineTooLong
			}
			yield(RawEvent{}, err)
			return
		}
		d.dispatch(yield)
	}
}

// dispatcher gathers one event's fields across its lines.
type dispatcher struct {
	ev       RawEvent
	data     []byte // reused: ReadRaw's events do not outlive their turn
	hasData  bool
	lastType string
}

// line takes one line; false when the reader stops (the caller's loop
// ended, or an error was yielded).
func (d *dispatcher) line(line []byte, yield func(RawEvent, error) bool) bool {
	if len(line) == 0 {
		return d.dispatch(yield)
	}
	if line[0] == ':' {
		return true
	}
	field, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	switch string(field) {
	case "data":
		if len(d.data)+len(value)+1 > MaxEvent {
			yield(RawEvent{}, ErrEventTooLarge)
			return false
		}
		if d.hasData {
			d.data = append(d.data, '\n')
		}
		d.data = append(d.data, value...)
		d.hasData = true
	case "event":
		if string(value) != d.lastType {
			d.lastType = string(value)
		}
		d.ev.Type = d.lastType
	case "id":
		if !bytes.ContainsRune(value, 0) {
			d.ev.ID = string(value)
		}
	}
	return true
}

// dispatch yields the gathered event, if it has data, and starts the
// next.
func (d *dispatcher) dispatch(yield func(RawEvent, error) bool) bool {
	if !d.hasData {
		d.ev = RawEvent{}
		return true
	}
	out := d.ev
	out.Data = d.data
	d.ev, d.hasData, d.data = RawEvent{}, false, d.data[:0]
	return yield(out, nil)
}

// scanLines splits on LF, CRLF or a lone CR. The line break is found
// with lineBreak's vectorised scans, not byte by byte.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	i := lineBreak(data)
	switch {
	case i < 0:
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data):
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	case atEOF:
		return i + 1, data[:i], nil
	}
	return 0, nil, nil // need one more byte to tell CR from CRLF
}

// Writer writes events to an HTTP response and flushes each one at once,
// or, after Coalesce, when the caller says (Flush).
type Writer struct {
	w     io.Writer
	f     http.Flusher
	buf   []byte
	hold  bool // Coalesce: Event leaves flushing to Flush
	dirty bool // written since the last flush
	// pooled is where buf came from (Coalesce), for Release.
	pooled *[]byte
	// mark and start are where BeginJSON's event and its data begin in
	// buf, for EndJSON.
	mark, start int
}

// NewWriter wraps w. If w is an http.ResponseWriter, the caller sets the
// headers (see Headers) before the first event.
func NewWriter(w io.Writer) *Writer {
	sw := &Writer{w: w}
	if f, ok := w.(http.Flusher); ok {
		sw.f = f
	} else if rc, ok := w.(http.ResponseWriter); ok {
		ctl := http.NewResponseController(rc)
		sw.f = flushFunc(func() { _ = ctl.Flush() })
	}
	return sw
}

type flushFunc func()

func (f flushFunc) Flush() { f() }

// Headers sets the response headers of an event stream.
func Headers(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
}

// Event writes one event. Data may span lines; each becomes a data: line.
// typ may be empty for the default message type.
func (s *Writer) Event(typ string, data []byte) error {
	b := s.begin()
	if typ != "" {
		if strings.ContainsAny(typ, "\r\n") {
			return fmt.Errorf("sse: event type %q contains a line break", typ)
		}
		b = append(b, "event: "...)
		b = append(b, typ...)
		b = append(b, '\n')
	}
	for {
		i := lineBreak(data)
		if i < 0 {
			break
		}
		b = append(b, "data: "...)
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	b = append(b, '\n', '\n')
	return s.end(b)
}

// BeginJSON starts one event (typ as for Event) whose data the caller
// appends to the returned buffer — one line (compact JSON), encoded
// straight into the writer's buffer instead of into a scratch buffer
// that Event copies — and hands to EndJSON:
//
//	b, err := sw.BeginJSON("delta")
//	if err == nil { err = sw.EndJSON(appendDelta(b, text)) }
//
// A pair of calls, not a callback: a closure over the caller's chunk
// moved the chunk to the heap on every event. Data with a line break is
// an error in EndJSON, and nothing of the event is written.
func (s *Writer) BeginJSON(typ string) ([]byte, error) {
	b := s.begin()
	s.mark = len(b)
	if typ != "" {
		if strings.ContainsAny(typ, "\r\n") {
			return nil, fmt.Errorf("sse: event type %q contains a line break", typ)
		}
		b = append(append(append(b, "event: "...), typ...), '\n')
	}
	b = append(b, "data: "...)
	s.start = len(b)
	return b, nil
}

// EndJSON ends the event BeginJSON started: b is the buffer it returned,
// extended by the event's data.
func (s *Writer) EndJSON(b []byte) error {
	if s.start > len(b) || lineBreak(b[s.start:]) >= 0 {
		s.buf = b[:min(s.mark, len(b))]
		return errors.New("sse: JSON event data contains a line break")
	}
	return s.end(append(b, '\n', '\n'))
}

// lineBreak is the index of the first '\r' or '\n' in b, or -1. Two
// vectorised IndexByte scans: bytes.IndexAny walks its set byte by byte
// and was 60 % of Event's time on JSON chunks, which have no line break.
func lineBreak(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		i = len(b)
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	if i == len(b) {
		return -1
	}
	return i
}

// begin returns the buffer an event is appended to: after the events
// held so far (Coalesce), else empty.
func (s *Writer) begin() []byte {
	if !s.hold {
		return s.buf[:0]
	}
	if s.pooled == nil {
		s.pooled = holdPool.Get().(*[]byte)
		s.buf = *s.pooled
	}
	return s.buf
}

// end keeps b, which begin started, and writes it now unless Coalesce
// holds it (until Flush or holdLimit).
func (s *Writer) end(b []byte) error {
	if !s.hold {
		s.buf = b[:0] // written now: nothing is held for Flush
		return s.write(b)
	}
	s.buf = b
	if len(b) >= holdLimit {
		return s.send()
	}
	return nil
}

// holdLimit is how much Coalesce holds before writing it to the
// response. net/http copies a write into its 4 KiB connection buffer
// only as far as it fills it and writes the rest through, so a burst
// handed over in one piece leaves in two write(2)s whatever its size,
// where pieces under 4 KiB went out every 4 KiB. About what one read of
// Read (readBuf) gives once re-encoded.
const holdLimit = 32 << 10

// holdPool holds Coalesce's buffers (a stream's own, grown to holdLimit,
// was most of the bytes a stream allocated). A writer takes one for the
// events it holds and gives it back at each Flush, so a stream waiting
// for its upstream holds none. A new one starts at 4 KiB, what a few
// paced deltas need, and goes back grown by a burst (Release): taken
// per flush, buffers of holdLimit made anew after each collection had
// emptied the pool were most of what paced streams allocated.
var holdPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// Release gives the writer's buffer back, if it holds one; after it the
// writer may still be used (it takes another).
func (s *Writer) Release() {
	if s.pooled != nil && cap(s.buf) <= 4*holdLimit {
		*s.pooled = s.buf[:0]
		holdPool.Put(s.pooled)
	}
	s.pooled, s.buf = nil, nil
}

// Comment writes a comment line, used as a heartbeat.
func (s *Writer) Comment(text string) error {
	line := ": " + strings.NewReplacer("\r", " ", "\n", " ").Replace(text) + "\n\n"
	if s.hold {
		s.buf = append(s.begin(), line...)
		return s.Flush()
	}
	return s.write([]byte(line))
}

func (s *Writer) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("sse: write: %w", err)
	}
	if s.f != nil {
		s.f.Flush()
	}
	return nil
}

// Coalesce makes Event hold events until Flush (or until holdLimit
// bytes are held): the caller flushes when no further event is ready (a
// stream's chunks often arrive together, and one flush — one write(2) —
// per chunk was most of a stream's cost). Comment still flushes at once.
func (s *Writer) Coalesce() { s.hold = true }

// send hands the held events to the response, without flushing.
func (s *Writer) send() error {
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:0]
	s.dirty = true
	if err != nil {
		return fmt.Errorf("sse: write: %w", err)
	}
	return nil
}

// Flush sends what was written or held since the last flush, if
// anything.
func (s *Writer) Flush() error {
	err := s.send()
	if s.dirty && s.f != nil {
		s.f.Flush()
	}
	s.dirty = false
	if s.hold {
		s.Release() // nothing is held now: the next event takes a buffer again
	}
	return err
}
