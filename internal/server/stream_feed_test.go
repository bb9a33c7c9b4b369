package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// upstreamRead is a step that reads the upstream body as an adapter does
// (llm.ReadsReported): the read reports itself, then waits for release
// (nil: the read returns at once, as one that found a burst buffered).
func upstreamRead(release <-chan struct{}) fakeprovider.Step {
	return fakeprovider.Do(func(ctx context.Context) {
		body := llm.ReadsReported(ctx, io.NopCloser(waitingReader{ctx, release}))
		_, _ = body.Read(make([]byte, 1))
	})
}

// waitingReader's Read waits for release (or the context's end).
type waitingReader struct {
	ctx     context.Context
	release <-chan struct{}
}

func (r waitingReader) Read(p []byte) (int, error) {
	if r.release != nil {
		select {
		case <-r.release:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	return copy(p, "x"), nil
}

// flushCounter counts the flushes that reach the connection.
type flushCounter struct {
	http.ResponseWriter
	n *atomic.Int32
}

func (f flushCounter) Flush() {
	f.n.Add(1)
	f.ResponseWriter.(http.Flusher).Flush()
}

func (f flushCounter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// TestStreamBurstLeavesInOneFlush: chunks decoded from one upstream read
// leave together, at the next read (or the end); only the first chunk
// leaves on its own, at once.
func TestStreamBurstLeavesInOneFlush(t *testing.T) {
	h := newHarness(t)
	steps := []fakeprovider.Step{upstreamRead(nil)}
	for range 40 {
		steps = append(steps, fakeprovider.Text("tick "))
	}
	steps = append(steps, upstreamRead(nil))
	steps = append(steps, answer("tock", 50, "google", "gemini-2.5-flash")...)
	h.primary.Push(steps)
	var flushes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.srv.Config.Handler.ServeHTTP(flushCounter{w, &flushes}, r)
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"default","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs := readEvents(t, resp.Body)
	if len(evs) < 43 || evs[len(evs)-1].Data != "[DONE]" {
		t.Fatalf("%d events, last %+v", len(evs), evs[len(evs)-1])
	}
	// The first chunk, the 40 of the burst at the second read, the last
	// text with its finish reason, and the end: at most 4 (one per chunk
	// without the reported reads).
	if n := flushes.Load(); n > 4 {
		t.Errorf("%d flushes for %d events, want at most 4", n, len(evs))
	}
}

// TestStreamFlushesBeforeBlockingRead: what arrived leaves before the
// adapter reads the upstream again. The upstream here sends its next
// chunk only once the client has the previous one: were any chunk held
// until more came, the stream would never end.
func TestStreamFlushesBeforeBlockingRead(t *testing.T) {
	h := newHarness(t)
	const n = 5
	releases := make([]chan struct{}, n)
	steps := []fakeprovider.Step{upstreamRead(nil)}
	for i := range releases {
		releases[i] = make(chan struct{})
		steps = append(steps, fakeprovider.Text("a "), fakeprovider.Text("b "), upstreamRead(releases[i]))
	}
	steps = append(steps, answer("end", 20, "google", "gemini-2.5-flash")...)
	h.primary.Push(steps)
	resp, err := http.Post(h.srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"default","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan sse.Event)
	go func() {
		defer close(got)
		for ev, err := range sse.Read(resp.Body) {
			if err != nil {
				return
			}
			got <- ev
		}
	}()
	next := func() sse.Event {
		t.Helper()
		select {
		case ev := <-got:
			return ev
		case <-time.After(10 * time.Second): // a liveness guard, not a timing
			t.Fatal("a chunk was held while the upstream waited for the client")
			return sse.Event{}
		}
	}
	for i := range releases {
		for range 2 {
			if ev := next(); !strings.Contains(ev.Data, `"content":"`) {
				t.Fatalf("round %d: event %+v", i, ev)
			}
		}
		close(releases[i])
	}
	for ev := next(); ev.Data != "[DONE]"; ev = next() {
	}
}

// TestStreamHeartbeatsInterleaveWithChunks: the heartbeat is written
// from its timer's goroutine while the handler writes chunks; with a
// heartbeat shorter than the gaps between chunks, concurrent streams
// still each carry every event whole and in order, end with [DONE], and
// (with the race detector) no write races another or outlives the
// handler.
func TestStreamHeartbeatsInterleaveWithChunks(t *testing.T) {
	h := newHarness(t)
	const words = 20
	var steps []fakeprovider.Step
	for range words {
		steps = append(steps, fakeprovider.Text("w "), fakeprovider.Do(func(context.Context) { time.Sleep(200 * time.Microsecond) }))
	}
	h.primary.SetDefault(append(steps, answer("end", 30, "google", "gemini-2.5-flash")...)...)
	s := &Server{GW: h.gw, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Heartbeat: 50 * time.Microsecond}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	want := strings.Repeat("w ", words) + "end"
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"default","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var text strings.Builder
			last := ""
			for ev, err := range sse.Read(resp.Body) {
				if err != nil {
					t.Errorf("sse: %v", err)
					return
				}
				last = ev.Data
				if ev.Data == "[DONE]" {
					continue
				}
				var c struct {
					Choices []struct {
						Delta struct{ Content string } `json:"delta"`
					} `json:"choices"`
				}
				if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
					t.Errorf("event %q: %v", ev.Data, err)
					return
				}
				for _, ch := range c.Choices {
					text.WriteString(ch.Delta.Content)
				}
			}
			if last != "[DONE]" || text.String() != want {
				t.Errorf("stream ended with %q, text %q; want [DONE] and %q", last, text.String(), want)
			}
		})
	}
	wg.Wait()
}
