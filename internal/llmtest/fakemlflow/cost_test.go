package fakemlflow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// logBatchBody is a log-batch of the given numbers of metrics, params, tags.
func logBatchBody(run string, metrics, params, tags int) string {
	var m, p, g []string
	for i := range metrics {
		m = append(m, fmt.Sprintf(`{"key":"m%d","value":%d,"timestamp":1,"step":%d}`, i%8, i, i/8))
	}
	for i := range params {
		p = append(p, fmt.Sprintf(`{"key":"p%d","value":"v"}`, i))
	}
	for i := range tags {
		g = append(g, fmt.Sprintf(`{"key":"t%d","value":"v"}`, i))
	}
	return fmt.Sprintf(`{"run_id":%q,"metrics":[%s],"params":[%s],"tags":[%s]}`, run, strings.Join(m, ","), strings.Join(p, ","), strings.Join(g, ","))
}

// call is one request the way a shipper makes it.
type call struct {
	method, path, body string
}

// runPerInteraction is the seed shipper's sequence: create, log-batch (4
// params, 8 metrics, 6 tags), two artifact PUTs (200- and 400-char
// contents), update.
func runPerInteraction(exp, run string, artifacts bool) []call {
	calls := []call{
		{"POST", api + "runs/create", `{"experiment_id":"` + exp + `"}`},
		{"POST", api + "runs/log-batch", logBatchBody(run, 8, 4, 6)},
	}
	if artifacts {
		base := artProxy + "/" + exp + "/" + run + "/artifacts/"
		calls = append(calls, call{"PUT", base + "prompt.json", strings.Repeat("p", 200)},
			call{"PUT", base + "response.json", strings.Repeat("r", 400)})
	}
	return append(calls, call{"POST", api + "runs/update", `{"run_id":"` + run + `","status":"FINISHED"}`})
}

// window is one run for 1,000 interactions: 8 metrics each as steps in
// log-batches of 1,000, and a ~800 KiB table artifact.
func window(exp, run string) []call {
	calls := []call{{"POST", api + "runs/create", `{"experiment_id":"` + exp + `"}`}}
	for range 8 {
		calls = append(calls, call{"POST", api + "runs/log-batch", logBatchBody(run, 1000, 0, 0)})
	}
	return append(calls,
		call{"PUT", artProxy + "/" + exp + "/" + run + "/artifacts/interactions.json", strings.Repeat("x", 800<<10)},
		call{"POST", api + "runs/update", `{"run_id":"` + run + `","status":"FINISHED"}`})
}

func otlpTraces(t testing.TB, traces int) []byte {
	var spans []*tracepb.Span
	for i := range traces {
		spans = append(spans, otlpSpan(t, fmt.Sprintf("%032x", i+1), "00000000000000a1", "", "chat", nil))
	}
	return otlpBody(t, spans...)
}

func costOf(c *Cost, calls []call) time.Duration {
	var d time.Duration
	for _, k := range calls {
		d += c.of(k.method, k.path, []byte(k.body))
	}
	return d
}

func perSecond(d time.Duration) float64 { return float64(time.Second) / float64(d) }

// The calibrated figures reproduce the table of mlflow.md §6.
func TestCalibratedFitsReferenceTable(t *testing.T) {
	c := Calibrated()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	otlp1 := c.of("POST", otlpPath, otlpTraces(t, 1))
	otlp100 := c.of("POST", otlpPath, otlpTraces(t, 100)) / 100
	startTrace := c.of("POST", apiV3, nil)
	cases := []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"run per interaction, ms", ms(costOf(c, runPerInteraction("1", "r", true))), 85, 90},
		{"run per interaction, per s", perSecond(costOf(c, runPerInteraction("1", "r", true))), 9, 12},
		{"run without artifacts, ms", ms(costOf(c, runPerInteraction("1", "r", false))), 78, 80},
		{"OTLP 1 span per request, traces/s", perSecond(otlp1), 35, 44},
		{"OTLP 100 per request, traces/s", perSecond(otlp100), 35, 45},
		{"OTLP 100 per request, ms per trace", ms(otlp100), 20, 25},
		{"batching saves, %", 100 * (1 - float64(otlp100)/float64(otlp1)), 10, 20},
		{"StartTraceV3 + OTLP/100, s per 1000", ms(startTrace + otlp100), 35, 37},
		{"500-span export, s", ms(c.of("POST", otlpPath, otlpTraces(t, 500))) / 1000, 9.9, 13},
		{"window, s per 1000", ms(costOf(c, window("1", "r"))) / 1000, 1.9, 2.3},
		{"window, interactions/s", 1000 * perSecond(costOf(c, window("1", "r"))), 437, 500},
	}
	for _, k := range cases {
		if k.got < k.min || k.got > k.max {
			t.Errorf("%s = %.3f, want %.3f–%.3f", k.name, k.got, k.min, k.max)
		}
	}
	if half := c.Scale(0.5); half.PerValue != c.PerValue/2 || half.PerTrace != c.PerTrace/2 || half.Base != c.Base/2 {
		t.Errorf("Scale(0.5) = %+v", half)
	}
}

func startCost(t *testing.T, workers int) *Server {
	t.Helper()
	s, err := Start(Options{Cost: Calibrated().Scale(0.02), Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func createRun(t testing.TB, s *Server, exp string) string {
	t.Helper()
	_, body, _ := do(t, s, "POST", api+"runs/create", `{"experiment_id":"`+exp+`"}`)
	var out struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			}
		} `json:"run"`
	}
	json.Unmarshal([]byte(body), &out)
	return out.Run.Info.RunID
}

// busyOf runs calls (the first a runs/create whose run the rest use) and
// returns the core time they were charged.
func busyOf(t *testing.T, s *Server, exp string, seq func(exp, run string) []call) time.Duration {
	t.Helper()
	before := s.Busy()
	run := createRun(t, s, exp)
	for _, c := range seq(exp, run)[1:] {
		if st, b, _ := do(t, s, c.method, c.path, c.body); st != 200 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, st, b)
		}
	}
	return s.Busy() - before
}

// Through HTTP, a run per interaction costs the core ~44 times what one
// interaction of a window run costs (§6: 78–97 s against 1.9–2.3 s per 1,000).
func TestBusyProportions(t *testing.T) {
	s := startCost(t, 0)
	exp := s.CreateExperiment("llm-connector", "")
	const n = 3
	var runs time.Duration
	for range n {
		runs += busyOf(t, s, exp, func(exp, run string) []call { return runPerInteraction(exp, run, true) })
	}
	win := busyOf(t, s, exp, window)
	ratio := (float64(runs) / n) / (float64(win) / 1000)
	if ratio < 37 || ratio > 47 {
		t.Fatalf("run per interaction / window per interaction = %.1f (runs %v for %d, window %v)", ratio, runs, n, win)
	}
	if got, want := runs/n, costOf(s.opt.Cost, runPerInteraction(exp, "r", true)); got != want {
		t.Fatalf("Busy per interaction %v, want the calibrated %v", got, want)
	}
}

// A big OTLP export holds the one core: a /health sent while it runs is
// answered only after every span of the export is stored.
func TestBigExportBlocksHealth(t *testing.T) {
	s := startCost(t, 0)
	exp := s.CreateExperiment("llm-connector", "")
	body := otlpTraces(t, 200) // 200 traces of one span
	exportCost := s.opt.Cost.of("POST", otlpPath, body)
	done := make(chan int, 1)
	go func() {
		st, _, _ := postOTLP(t, s, exp, "application/x-protobuf", body)
		done <- st
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Wait(ctx, func() bool { return s.Busy() > 0 }); err != nil { // the export has the core
		t.Fatal(err)
	}
	if st, _, _ := do(t, s, "GET", "/health", ""); st != 200 {
		t.Fatalf("/health: %d", st)
	}
	if n := s.Count().Spans; n != 200 {
		t.Fatalf("/health answered with %d of 200 spans stored: it did not wait for the export", n)
	}
	if got, want := s.Busy(), exportCost+s.opt.Cost.Base; got != want {
		t.Fatalf("Busy = %v, want export %v + /health", got, want)
	}
	if st := <-done; st != 200 {
		t.Fatalf("export: %d", st)
	}
}

// A request admitted before its client went away is still processed: the
// killed client's queued runs/create makes a run.
func TestProcessedAfterClientGone(t *testing.T) {
	s := startCost(t, 0)
	exp := s.CreateExperiment("llm-connector", "")
	release := s.HoldCore()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+api+"runs/create", strings.NewReader(`{"experiment_id":"`+exp+`"}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := Wait(wctx, func() bool { return len(s.Requests()) == 1 }); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the cancelled client got an answer")
	}
	release()
	if err := Wait(wctx, func() bool { return s.Count().Runs == 1 }); err != nil {
		t.Fatalf("the queued runs/create was dropped: %v", err)
	}
}

// Beyond Workers, requests wait for admission.
func TestWorkersBound(t *testing.T) {
	s := startCost(t, 2)
	release := s.HoldCore()
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 3 {
		wg.Go(func() {
			resp, err := http.Get(s.URL() + "/health")
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Wait(ctx, func() bool { a, w := s.Queue(); return a == 2 && w == 1 }); err != nil {
		a, w := s.Queue()
		t.Fatalf("admitted %d waiting %d: %v", a, w, err)
	}
	if n := len(s.Requests()); n != 2 {
		t.Fatalf("%d requests read, want the 2 admitted", n)
	}
	release()
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("status %d", c)
		}
	}
	if a, w := s.Queue(); a != 0 || w != 0 || s.Busy() != 3*s.opt.Cost.Base {
		t.Fatalf("after: admitted %d waiting %d busy %v", a, w, s.Busy())
	}
}

func TestFastModeChargesNothing(t *testing.T) {
	s := start(t)
	do(t, s, "GET", "/health", "")
	if a, w := s.Queue(); s.Busy() != 0 || a != 0 || w != 0 {
		t.Fatalf("busy %v queue %d/%d", s.Busy(), a, w)
	}
}
