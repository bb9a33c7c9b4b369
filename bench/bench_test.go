package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/metrics"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 … 1, unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"median of odd", ms(5, 1, 3), 50, 3 * time.Millisecond},
		{"median of even is the lower (nearest rank)", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p1 of 100", ms(hundred...), 1, time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	for _, tt := range []struct {
		rate float64
		i    int
		want time.Duration
	}{
		{1000, 0, 0},
		{1000, 1, time.Millisecond},
		{1000, 999, 999 * time.Millisecond},
		{200, 3, 15 * time.Millisecond},
		{3, 1, 333333333 * time.Nanosecond},
	} {
		if got := schedule(start, tt.rate, tt.i).Sub(start); got != tt.want {
			t.Errorf("schedule(rate %v, i %d) = +%v, want +%v", tt.rate, tt.i, got, tt.want)
		}
	}
}

// TestOpenLoopNoCoordinatedOmission holds the first answer until every
// other request has been sent: an open loop keeps sending, and charges
// the held request from its scheduled time, so its latency is at least
// the span of the schedule.
func TestOpenLoopNoCoordinatedOmission(t *testing.T) {
	const rate, n = 1000.0, 50
	var fired atomic.Int32
	var once sync.Once
	var heldAt, releasedAt time.Time // written before release is closed, read after openLoop
	release := make(chan struct{})
	fire := func(ctx context.Context) (time.Time, error) {
		if fired.Add(1) == 1 { // the first to fire (not always request 0 under load) is held
			heldAt = time.Now()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
				t.Error("the generator waited for the slow answer before sending the next requests")
			}
			return time.Now(), nil
		}
		if fired.Load() == n {
			once.Do(func() { releasedAt = time.Now(); close(release) })
		}
		return time.Now(), nil
	}
	s := &samples{}
	openLoop(context.Background(), rate, n*time.Millisecond, 1000, fire, s)
	if len(s.lat) != n || s.errors != 0 || s.overflow != 0 {
		t.Fatalf("got %d latencies, %d errors, %d overflow; want %d, 0, 0", len(s.lat), s.errors, s.overflow, n)
	}
	// The held request was scheduled before it fired and ended after the
	// release: measured from its scheduled time, its latency covers the
	// whole hold. No wall-clock threshold: both ends are observed here.
	if slowest, hold := percentile(s.lat, 100), releasedAt.Sub(heldAt); slowest < hold {
		t.Errorf("held request latency %v < its hold %v: not measured from its scheduled time", slowest, hold)
	}
}

func TestOpenLoopOverflow(t *testing.T) {
	block := make(chan struct{})
	fire := func(ctx context.Context) (time.Time, error) { <-block; return time.Now(), nil }
	s := &samples{}
	go func() {
		time.Sleep(100 * time.Millisecond)
		close(block)
	}()
	openLoop(context.Background(), 1000, 20*time.Millisecond, 5, fire, s)
	if len(s.lat)+s.overflow != 20 || len(s.lat) < 5 {
		t.Errorf("latencies %d + overflow %d, want 20 in all with at least 5 answered", len(s.lat), s.overflow)
	}
}

func TestCPUPerRequestAndThroughput(t *testing.T) {
	s := &samples{lat: make([]time.Duration, 500), done: 500, cpu: 50 * time.Millisecond, elapsed: 2 * time.Second}
	if got := s.cpuPerRequest(); got != 100*time.Microsecond {
		t.Errorf("cpuPerRequest = %v, want 100µs", got)
	}
	if got := s.throughput(); got != 250 {
		t.Errorf("throughput = %v, want 250", got)
	}
	if got := (&samples{}).cpuPerRequest(); got != 0 {
		t.Errorf("cpuPerRequest of nothing = %v, want 0", got)
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (llm connector) S 1 4242 4242 0 -1 4194560 1500 0 0 0 123 45 0 0 20 0 9 0 100 0 0 18446744073709551615")
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Duration(123+45) * clockTick; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1")); err == nil {
		t.Error("a short stat line parsed without error")
	}
	io := "rchar: 100\nwchar: 200\nsyscr: 7\nsyscw: 5\nread_bytes: 0\n"
	if n, err := parseIOSyscalls([]byte(io)); err != nil || n != 12 {
		t.Errorf("syscalls = %d, %v; want 12", n, err)
	}
	if _, err := parseIOSyscalls([]byte("rchar: 1\n")); err == nil {
		t.Error("an io file without syscr/syscw parsed without error")
	}
	task := "Name:\tllm-connector\nvoluntary_ctxt_switches:\t40\nnonvoluntary_ctxt_switches:\t2\n"
	if n, err := parseSwitches([]byte(task)); err != nil || n != 42 {
		t.Errorf("switches = %d, %v; want 42", n, err)
	}
	if _, err := parseSwitches([]byte("Name:\tx\n")); err == nil {
		t.Error("a status without ctxt_switches parsed without error")
	}
	status := "Name:\tllm-connector\nVmHWM:\t   30720 kB\nVmRSS:\t   20480 kB\n"
	rss, err := parseStatusKB(strings.NewReader(status), "VmRSS:")
	if err != nil || rss != 20480*1024 {
		t.Errorf("VmRSS = %d, %v; want %d", rss, err, 20480*1024)
	}
	if _, err := parseStatusKB(strings.NewReader(status), "VmSwap:"); err == nil {
		t.Error("a missing field parsed without error")
	}
}

// TestGeminiHandlerWithAdapter runs the service's own Gemini adapter
// against the bench fake: the fake must speak the wire format it reads.
func TestGeminiHandlerWithAdapter(t *testing.T) {
	for _, tc := range []struct {
		deltaDelay time.Duration
		chunks     int
		collect    bool
	}{{0, 3, false}, {time.Millisecond, 3, false}, {0, 200, false}, {0, 20, true}, {0, 200, true}} {
		srv := httptest.NewServer(newGeminiHandler(0, tc.deltaDelay, tc.chunks))
		defer srv.Close()
		c := gemini.New(gemini.Config{BaseURL: srv.URL, APIKey: "bench"})
		n := 0
		resp, err := llm.Collect(func(yield func(llm.Chunk, error) bool) {
			for ch, err := range c.Stream(context.Background(), &llm.Request{
				Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: "user", Content: "hi"}}, Collect: tc.collect,
			}) {
				if ch.HasContent() {
					n++
				}
				if !yield(ch, err) {
					return
				}
			}
		})
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		wantChunks := tc.chunks
		if tc.collect {
			wantChunks = 1
		}
		if resp.Text != strings.Repeat("tick ", tc.chunks) || resp.Usage.InputTokens != 10 || resp.Usage.OutputTokens != tc.chunks || n != wantChunks {
			t.Errorf("%+v: got %d content chunks, text %q, usage %+v; want %d chunks of \"tick \", 10 in, %d out", tc, n, resp.Text, resp.Usage, wantChunks, tc.chunks)
		}
	}
}

func TestParseRates(t *testing.T) {
	got, err := parseRates("200, 1000")
	if err != nil || len(got) != 2 || got[0] != 200 || got[1] != 1000 {
		t.Errorf("parseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "x", "100,-1"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}

// TestRuntimeStatsFromMetrics reads the soak's runtime figures from the
// handler the service exposes at /metrics.
func TestRuntimeStatsFromMetrics(t *testing.T) {
	srv := httptest.NewServer(metrics.New().Handler())
	defer srv.Close()
	got := runtimeStats(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if got["go_goroutines"] < 1 || got["go_memstats_heap_inuse_bytes"] <= 0 {
		t.Errorf("runtimeStats = %v, want goroutines and heap", got)
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	if got := runtimeStats(context.Background(), strings.TrimPrefix(missing.URL, "http://")); got["go_goroutines"] != -1 {
		t.Errorf("without /metrics: %v, want -1", got)
	}
}

func TestSoakVerdict(t *testing.T) {
	mb := uint64(1 << 20)
	out := []soakSample{
		{at: 10 * time.Second, rss: 30 * mb, goroutines: 20, heap: 5 << 20},
		{at: 20 * time.Second, rss: 25 * mb, goroutines: 12, heap: 4 << 20},
		{at: 30 * time.Second, rss: 27 * mb, goroutines: 12, heap: 4 << 20},
	}
	if got, want := soakVerdict(out), "Growth from 20s to 30s: RSS +2.0 MiB, Go heap in use +0.0 MiB, goroutines +0."; got != want {
		t.Errorf("verdict = %q, want %q", got, want)
	}
	if got := soakVerdict(out[:2]); !strings.Contains(got, "Too few samples") {
		t.Errorf("verdict of 2 samples = %q", got)
	}
}

func TestSliceMedians(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name      string
		svc, flo  []sliceStat
		ratio     float64
		addP99    time.Duration
		wantEmpty bool
	}{
		{name: "one burst does not decide",
			svc:   []sliceStat{{p99: 2 * ms, cpu: 30 * ms, done: 100}, {p99: 30 * ms, cpu: 90 * ms, done: 100}, {p99: 3 * ms, cpu: 28 * ms, done: 100}},
			flo:   []sliceStat{{p99: 1 * ms, cpu: 20 * ms, done: 100}, {p99: 2 * ms, cpu: 20 * ms, done: 100}, {p99: 2 * ms, cpu: 20 * ms, done: 100}},
			ratio: 1.5, addP99: 1 * ms},
		{name: "even count averages the middle two",
			svc:   []sliceStat{{p99: 2 * ms, cpu: 10 * ms, done: 10}, {p99: 4 * ms, cpu: 20 * ms, done: 10}},
			flo:   []sliceStat{{p99: 1 * ms, cpu: 10 * ms, done: 10}, {p99: 1 * ms, cpu: 10 * ms, done: 10}},
			ratio: 1.5, addP99: 2 * ms},
		{name: "per request, not per slice",
			svc:   []sliceStat{{p99: ms, cpu: 20 * ms, done: 200}},
			flo:   []sliceStat{{p99: ms, cpu: 10 * ms, done: 50}},
			ratio: 0.5},
		{name: "no slices", wantEmpty: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ratio, add := sliceMedians(tc.svc, tc.flo)
			if tc.wantEmpty {
				if ratio != 0 || add != 0 {
					t.Fatalf("got %v, %v", ratio, add)
				}
				return
			}
			if ratio < tc.ratio-0.001 || ratio > tc.ratio+0.001 || add != tc.addP99 {
				t.Fatalf("got ratio %.3f, added p99 %v; want %.3f, %v", ratio, add, tc.ratio, tc.addP99)
			}
		})
	}
}

// TestSurfacesPairWithTheirFloor: every surface names a floor that
// exists, and each service column is compared with that floor.
func TestSurfacesPairWithTheirFloor(t *testing.T) {
	defer func(f string) { surfaceFilter = f }(surfaceFilter)
	for _, tc := range []struct {
		filter     string
		mlflowDown bool
		surfaces   int
	}{{"", false, 2}, {"", true, 2}, {"all", false, len(surfaces)}, {"/v1/messages", true, 1}} {
		surfaceFilter = tc.filter
		ts := targetsOf(options{mlflowDown: tc.mlflowDown}, &procs{floor: &proc{}, svc: &proc{}, svcT: &proc{}})
		if want := len(floors) + 2*tc.surfaces; len(ts) != want {
			t.Fatalf("-surfaces %q: %d columns, want %d", tc.filter, len(ts), want)
		}
		for i, c := range ts {
			f := floorOf(ts, i)
			switch {
			case c.floor && f != -1:
				t.Errorf("floor column %q has a floor", c.name)
			case !c.floor && (f < 0 || ts[f].name != c.floorName):
				t.Errorf("column %q: floor %d, want %q", c.name, f, c.floorName)
			}
			if len(c.body) == 0 || len(c.sbody) == 0 {
				t.Errorf("column %q has no request body", c.name)
			}
		}
	}
}

// TestReadFirstToken: the first token is found across read boundaries,
// and a body without it falls back to its first byte.
func TestReadFirstToken(t *testing.T) {
	for _, body := range []string{`data: {"role":"assistant"}` + "\n\n" + `data: {"content":"tick "}` + "\n\n", "no answer"} {
		got, first, err := readFirstToken(iotest.OneByteReader(strings.NewReader(body)))
		if err != nil || string(got) != body || first.IsZero() {
			t.Errorf("%q: got %q, first %v, %v", body, got, first, err)
		}
	}
	if _, _, err := readFirstToken(strings.NewReader("")); err == nil {
		t.Error("an empty body read without error")
	}
}
