// Package fakeserver is the plumbing the fake upstream servers
// (fakeopenai, fakeanthropic, fakegemini, fakeollama) share: the queue of
// scripted replies, the log of requests received, the count of clients
// that went away, and a Call that plays one answer's timing and faults
// (cut the connection, stall, trickle, write and flush each piece).
//
// Wire formats and validation are not here: each fake keeps its
// provider's bytes in its own package.
package fakeserver

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
)

// MaxBody is the most of a request body a fake reads and records.
const MaxBody = 32 << 20

// ReadBody reads the request body, up to MaxBody bytes.
func ReadBody(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, MaxBody))
	return b
}

// Request is one request a fake received.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// Record returns r as a Request with body, its header cloned.
func Record(r *http.Request, body []byte) Request {
	return Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
}

// Decode unmarshals the body into v.
func (r Request) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// Queue is a first-in first-out list of scripted replies, safe for
// concurrent use. The zero Queue is empty and ready.
type Queue[T any] struct {
	mu    sync.Mutex
	items []T
}

// Push appends items to the end of the queue.
func (q *Queue[T]) Push(items ...T) {
	q.mu.Lock()
	q.items = append(q.items, items...)
	q.mu.Unlock()
}

// Pop removes and returns the first item; ok is false (and v zero) when
// the queue is empty.
func (q *Queue[T]) Pop() (v T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return v, false
	}
	v = q.items[0]
	q.items = q.items[1:]
	return v, true
}

// Log records what a fake received, in order, safe for concurrent use.
// The zero Log is empty and ready.
type Log[T any] struct {
	mu    sync.Mutex
	items []T
}

// Add appends v and returns its index, for Update.
func (l *Log[T]) Add(v T) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, v)
	return len(l.items) - 1
}

// Update calls f on the entry at index i, under the log's lock.
func (l *Log[T]) Update(i int, f func(*T)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.items[i])
}

// All returns a copy of the entries so far.
func (l *Log[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.items...)
}

// Last returns the latest entry; ok is false (and v zero) when there is
// none.
func (l *Log[T]) Last() (v T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) == 0 {
		return v, false
	}
	return l.items[len(l.items)-1], true
}

// CopyHeader adds every value of src to dst, replacing dst's values of
// the same keys.
func CopyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = vs
	}
}

// WriteRaw answers status with h added to the response header and body
// sent as it is.
func WriteRaw(w http.ResponseWriter, status int, h http.Header, body string) {
	CopyHeader(w.Header(), h)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// MustJSON marshals v; it panics on a value that cannot be marshaled (a
// bug in the fake).
func MustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Fragments cuts s into pieces of at most n bytes; "" is one empty piece.
func Fragments(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// Do sends req with the default client and returns the response and its
// whole body (already closed); it fails t on a transport error.
func Do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", req.Method, req.URL, err)
	}
	return resp, body
}
