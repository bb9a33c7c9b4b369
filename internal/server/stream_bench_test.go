package server

// Benchmarks of the streaming path (issue 4): the time to first byte the
// service adds over an upstream that answers at once, and the memory an
// open stream holds.
//
//	go test -run='^$' -bench='BenchmarkStream' -benchtime=2000x ./internal/server   (TTFB)
//	go test -run='^$' -bench='BenchmarkStreamMemory' -benchtime=3x ./internal/server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/sse"
)

const benchBody = `{"prompt":"hi","stream":true}`

// benchService is the real handler (middleware, gateway, router with its
// watchdog, SSE pump) over an in-memory provider playing steps.
func benchService(tb testing.TB, steps ...fakeprovider.Step) http.Handler {
	tb.Helper()
	p := fakeprovider.New("google")
	p.SetDefault(steps...)
	table, err := route.New(route.Config{
		Backends: map[string]route.Backend{"google": {P: p, DefaultModel: "gemini-2.5-flash"}},
		Primary:  "google", Policy: router.DefaultPolicy(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{GW: &gateway.Gateway{Routes: table}, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Heartbeat: 15 * time.Second}
	return s.Handler()
}

var (
	benchDelta = []byte(`{"text":"hello"}`)
	benchDone  = []byte(`{"response":"hello","model":"gemini-2.5-flash","tokens_used":5,"processing_time_ms":0,"provider":"google","cached":false}`)
)

// direct writes what the service writes, with nothing in between: the
// floor any SSE handler pays (net/http, headers, one flush per event).
// hold, when set, keeps the stream open after the first event until it
// is closed or the client leaves.
func direct(hold <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		sse.Headers(w.Header())
		w.WriteHeader(http.StatusOK)
		sw := sse.NewWriter(w)
		_ = sw.Event("delta", benchDelta)
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		_ = sw.Event("done", benchDone)
	})
}

// ttfb posts a stream request and returns the time until the first body
// byte (the first event: nothing is written before it), then drains the
// body so that the connection is reused.
func ttfb(b *testing.B, c *http.Client, url string) time.Duration {
	start := time.Now()
	resp, err := c.Post(url+"/chat", "application/json", strings.NewReader(benchBody))
	if err != nil {
		b.Fatal(err)
	}
	var one [1]byte
	if _, err := io.ReadFull(resp.Body, one[:]); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return d
}

// BenchmarkStreamTTFB measures the time to first byte of a /chat stream
// through the service and through the direct handler, alternating
// requests so that both see the same machine load. added-µs is what the
// service adds to the first byte.
func BenchmarkStreamTTFB(b *testing.B) {
	svc := httptest.NewServer(benchService(b,
		fakeprovider.Text("hello"),
		fakeprovider.Chunk(llm.Chunk{FinishReason: llm.FinishStop, Usage: &llm.Usage{InputTokens: 3, OutputTokens: 2}}),
	))
	defer svc.Close()
	dir := httptest.NewServer(direct(nil))
	defer dir.Close()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer c.CloseIdleConnections()
	for range 50 { // warm up connections and pools
		ttfb(b, c, svc.URL)
		ttfb(b, c, dir.URL)
	}
	var service, floor time.Duration
	b.ResetTimer()
	for b.Loop() {
		service += ttfb(b, c, svc.URL)
		floor += ttfb(b, c, dir.URL)
	}
	n := float64(b.N)
	b.ReportMetric(float64(service.Microseconds())/n, "service-µs")
	b.ReportMetric(float64(floor.Microseconds())/n, "direct-µs")
	b.ReportMetric(float64((service-floor).Microseconds())/n, "added-µs")
}

// heldStream is one open stream read by a bare TCP client (no
// goroutines, one 4 KiB buffer), so that the measured memory is the
// server's.
type heldStream struct {
	conn net.Conn
	body io.ReadCloser
}

func openStream(b *testing.B, addr string) heldStream {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/chat", strings.NewReader(benchBody))
	req.Header.Set("Content-Type", "application/json")
	if err := req.Write(conn); err != nil {
		b.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		b.Fatal(err)
	}
	var one [1]byte // the first event is out: the stream is open mid-answer
	if _, err := io.ReadFull(resp.Body, one[:]); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("first byte: status %d, %v", resp.StatusCode, err)
	}
	return heldStream{conn, resp.Body}
}

// memState is what one measurement reads.
type memState struct {
	heap, stack, sys uint64
	goroutines       int
}

func measure() memState {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memState{m.HeapInuse, m.StackInuse, m.Sys, runtime.NumGoroutine()}
}

// perStream opens n streams on h, each held after its first event until
// release is closed, and returns the memory growth per open stream.
// The values are heap, stack and Sys bytes and goroutines, in that order.
func perStream(b *testing.B, h http.Handler, release chan struct{}, n int) [4]float64 {
	srv := httptest.NewServer(h)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	openStream(b, addr).conn.Close() // warm up
	before := measure()
	streams := make([]heldStream, n)
	for i := range streams {
		streams[i] = openStream(b, addr)
	}
	after := measure()
	close(release)
	for _, s := range streams {
		_, _ = io.Copy(io.Discard, s.body)
		s.conn.Close()
	}
	f := float64(n)
	return [4]float64{
		(float64(after.heap) - float64(before.heap)) / f,
		(float64(after.stack) - float64(before.stack)) / f,
		(float64(after.sys) - float64(before.sys)) / f,
		float64(after.goroutines-before.goroutines) / f,
	}
}

// BenchmarkStreamMemory holds 200 /chat streams open mid-answer (the
// upstream has sent one delta and then waits) and reports the memory
// each one holds: heap and goroutine stacks, through the service and
// through the direct handler (net/http's own share), and the difference.
// Target: total-B/stream under 64 KiB.
func BenchmarkStreamMemory(b *testing.B) {
	const n = 200
	var svc, dir [4]float64
	for b.Loop() {
		release := make(chan struct{})
		add(&svc, perStream(b, benchService(b, heldAnswer(release)...), release, n))
		hold := make(chan struct{})
		add(&dir, perStream(b, direct(hold), hold, n))
	}
	k := float64(b.N)
	b.ReportMetric((svc[0]+svc[1])/k, "total-B/stream")
	b.ReportMetric(svc[0]/k, "heap-B/stream")
	b.ReportMetric(svc[1]/k, "stack-B/stream")
	b.ReportMetric(svc[2]/k, "sys-B/stream")
	b.ReportMetric(svc[3]/k, "goroutines/stream")
	b.ReportMetric((dir[0]+dir[1])/k, "direct-total-B/stream")
	b.ReportMetric(((svc[0]+svc[1])-(dir[0]+dir[1]))/k, "added-B/stream")
	b.ReportMetric(dir[3]/k, "direct-goroutines/stream")
}

// heldAnswer is an answer whose upstream sends one delta, then waits for
// release (or the request's end) before it finishes.
func heldAnswer(release <-chan struct{}) []fakeprovider.Step {
	return []fakeprovider.Step{
		fakeprovider.Text("hello"),
		fakeprovider.Do(func(ctx context.Context) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}),
		fakeprovider.Chunk(llm.Chunk{FinishReason: llm.FinishStop, Usage: &llm.Usage{InputTokens: 3, OutputTokens: 2}}),
	}
}

func add(sum *[4]float64, v [4]float64) {
	for i := range v {
		sum[i] += v[i]
	}
}

// TestStreamMemoryHarness keeps the benchmark's harness honest in a
// plain test run: held streams are open mid-answer (one delta out, no
// done) and end cleanly once released.
func TestStreamMemoryHarness(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(benchService(t, heldAnswer(release)...))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/chat", "application/json", strings.NewReader(benchBody))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var types []string
	for ev, err := range sse.Read(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
		if len(types) == 1 {
			close(release) // the first event arrived while the upstream was held
		}
	}
	if !slices.Equal(types, []string{"delta", "done"}) {
		t.Fatalf("events %v", types)
	}
}
