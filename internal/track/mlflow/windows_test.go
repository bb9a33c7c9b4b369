package mlflow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// windowEnv is a fake MLflow behind a front that answers runs/delete
// (which the fake lacks so far) and can play dead (it closes every
// connection without an answer, after reading the request).
type windowEnv struct {
	t     *testing.T
	fake  *fakemlflow.Server
	front *httptest.Server
	down  atomic.Bool
	// lostCreates > 0: the next runs/create reaches the fake, but its
	// answer is lost (the connection closes), as in a timeout.
	lostCreates atomic.Int32
	// downAfterCreates > 0: the front goes down once that many
	// runs/create calls have been answered.
	downAfterCreates atomic.Int32
	cl               *client
	dir              string

	ok, fails atomic.Int64
}

func newWindowEnv(t *testing.T) *windowEnv {
	t.Helper()
	env := &windowEnv{t: t, fake: startFake(t, fakemlflow.Options{}), dir: t.TempDir()}
	env.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if env.down.Load() {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/api/2.0/mlflow/runs/delete" && r.Method == http.MethodPost {
			var in struct {
				RunID string `json:"run_id"`
			}
			json.NewDecoder(r.Body).Decode(&in)
			if !env.fake.DeleteRunForTest(in.RunID) {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprintf(w, `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Run with id=%s not found"}`, in.RunID)
				return
			}
			fmt.Fprint(w, "{}")
			return
		}
		if r.URL.Path == "/api/2.0/mlflow/runs/create" && env.lostCreates.Add(-1) >= 0 {
			env.fake.ServeHTTP(httptest.NewRecorder(), r)
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		if r.URL.Path == "/api/2.0/mlflow/runs/create" && env.downAfterCreates.Add(-1) == 0 {
			rec := httptest.NewRecorder()
			env.fake.ServeHTTP(rec, r)
			env.down.Store(true) // before the answer leaves
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		env.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(env.front.Close)
	env.cl = &client{base: env.front.URL, hc: &http.Client{Timeout: 10 * time.Second}}
	return env
}

func (env *windowEnv) openSpool() *spool.Spool {
	env.t.Helper()
	sp, err := spool.Open(spool.Options{Dir: env.dir, Logger: quiet()})
	if err != nil {
		env.t.Fatal(err)
	}
	env.t.Cleanup(func() { sp.Close() })
	return sp
}

func (env *windowEnv) deps() shipDeps {
	var mu sync.Mutex
	var exp string
	var failing atomic.Bool
	return shipDeps{
		cl: env.cl,
		experiment: func(ctx context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if exp != "" {
				return exp, nil
			}
			id, err := env.cl.ensureExperiment(ctx, "llm-connector", "llm-connector")
			exp = id
			return id, err
		},
		log: quiet(),
		report: func(err error) {
			if err == nil {
				env.ok.Add(1)
				failing.Store(false)
				return
			}
			env.fails.Add(1)
			failing.Store(true)
		},
		wait: func(ctx context.Context) error {
			if failing.Load() {
				return sleepCtx(ctx, 5*time.Millisecond)
			}
			return ctx.Err()
		},
		now: time.Now,
	}
}

// start runs a shipper over q until the test ends.
func (env *windowEnv) start(q Queue, opt WindowOptions) *windowShipper {
	env.t.Helper()
	if opt.SweepEvery == 0 {
		opt.SweepEvery = -1
	}
	if opt.MaxAge == 0 {
		opt.MaxAge = time.Hour // windows close by size or flush: deterministic
	}
	opt.RetryMin, opt.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	ws := newWindowShipper(env.deps(), q, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ws.run(ctx); close(done) }()
	env.t.Cleanup(func() { cancel(); <-done })
	return ws
}

func flushAll(t *testing.T, ws *windowShipper) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ws.flush(ctx); err != nil {
		t.Fatalf("flush: %v (stats %+v)", err, ws.Stats())
	}
}

func (env *windowEnv) runs() []fakemlflow.Run {
	id, ok := env.fake.ExperimentID("llm-connector")
	if !ok {
		env.t.Fatal("no experiment")
	}
	return env.fake.Runs(id)
}

// windowCall is interaction i on one of two routes; every 10th fails and
// every 3rd is streamed.
func windowCall(i int) track.Call {
	c := sampleCall(i)
	c.ID = fmt.Sprintf("req-%05d", i)
	if i%2 == 1 {
		c.Endpoint, c.RequestedModel = "/v1/chat/completions", "gpt-4o"
	}
	if i%10 == 0 {
		c.Success, c.ErrorKind, c.ErrorMessage = false, "upstream", "boom"
	}
	if i%3 == 0 {
		c.Streamed, c.TTFT = true, 120*time.Millisecond
	}
	c.Duration = time.Duration(100+i%50) * time.Millisecond
	return c
}

func recordWindowCalls(t *testing.T, q Queue, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := q.Record(context.Background(), windowCall(i)); err != nil {
			t.Fatal(err)
		}
	}
}

type tableJSON struct {
	Columns []string `json:"columns"`
	Data    [][]any  `json:"data"`
}

func (env *windowEnv) table(r fakemlflow.Run) tableJSON {
	env.t.Helper()
	b, ok := env.fake.Artifact(r.ID, WindowTable)
	if !ok {
		env.t.Fatalf("run %s has no %s", r.ID, WindowTable)
	}
	var tb tableJSON
	if err := json.Unmarshal(b, &tb); err != nil {
		env.t.Fatalf("table: %v", err)
	}
	return tb
}

// checkWindows checks every window run and returns how many times each
// request ID appears in the tables.
func (env *windowEnv) checkWindows(runs []fakemlflow.Run) map[string]int {
	t := env.t
	seen := map[string]int{}
	for _, r := range runs {
		if r.Status != "FINISHED" || r.Tags[TagWindowID] == "" || r.Tags[TagLoggedArts] != windowTableTag {
			t.Fatalf("run %s: status %s, tags %v", r.ID, r.Status, r.Tags)
		}
		tb := env.table(r)
		if fmt.Sprint(tb.Columns) != fmt.Sprint(windowColumns) {
			t.Fatalf("columns %v", tb.Columns)
		}
		for _, row := range tb.Data {
			seen[row[0].(string)]++
			if row[3] != r.Params["endpoint"] {
				t.Errorf("run %s (%s) has a row of %v", r.ID, r.Params["endpoint"], row[3])
			}
		}
		if r.Params["route"] != r.Tags[TagWindowRoute] || r.Params["endpoint"] == "" {
			t.Errorf("run %s: params %v", r.ID, r.Params)
		}
		if n, _ := r.LatestMetric("count"); int(n) != len(tb.Data) {
			t.Errorf("run %s: count %v, table rows %d", r.ID, n, len(tb.Data))
		}
		env.checkSteps(r, tb)
	}
	return seen
}

// checkSteps checks that the run's step series are the ones its
// step_metrics tag names, with a value for every step that has one.
func (env *windowEnv) checkSteps(r fakemlflow.Run, tb tableJSON) {
	t := env.t
	steps := map[string]map[int64]bool{}
	for _, m := range r.Metrics {
		if isSummaryKey(m.Key) {
			continue
		}
		if steps[m.Key] == nil {
			steps[m.Key] = map[int64]bool{}
		}
		steps[m.Key][m.Step] = true
	}
	keys := map[string][]string{StepMetricsFull: FullStepMetrics, StepMetricsCore: CoreStepMetrics, StepMetricsNone: nil}[r.Tags[TagStepMetrics]]
	if len(steps) != len(keys) {
		t.Errorf("run %s (%s): step series %d, want %v", r.ID, r.Tags[TagStepMetrics], len(steps), keys)
	}
	streamed := 0
	for _, row := range tb.Data {
		if row[16] != nil { // ttft_ms
			streamed++
		}
	}
	for _, k := range keys {
		want := len(tb.Data)
		if k == "ttft_ms" {
			want = streamed
		}
		if len(steps[k]) != want {
			t.Errorf("run %s: %s has %d steps, want %d", r.ID, k, len(steps[k]), want)
		}
	}
}

func isSummaryKey(k string) bool {
	for _, m := range windowSummary(nil, 0) {
		if m.Key == k {
			return true
		}
	}
	return false
}

func TestWindowsTwoRoutes(t *testing.T) {
	env := newWindowEnv(t)
	sp := env.openSpool()
	ws := env.start(sp, WindowOptions{BehindWindows: 100}) // full set throughout
	recordWindowCalls(t, sp, 0, 2500)
	eventually(t, "two full windows", func() bool { return ws.Stats().Shipped == 2 })
	flushAll(t, ws)

	runs := env.runs()
	var sizes []int
	for _, r := range runs {
		n, _ := r.LatestMetric("count")
		sizes = append(sizes, int(n))
	}
	sort.Ints(sizes)
	if fmt.Sprint(sizes) != "[250 250 1000 1000]" {
		t.Fatalf("window sizes %v, want two routes of 1000 + 250", sizes)
	}
	seen := env.checkWindows(runs)
	for i := range 2500 {
		if id := fmt.Sprintf("req-%05d", i); seen[id] != 1 {
			t.Fatalf("%s in %d tables", id, seen[id])
		}
	}
	for _, r := range runs {
		rate, _ := r.LatestMetric("error_rate")
		if n, _ := r.LatestMetric("count"); n == 1000 && rate != 0.2 && rate != 0 {
			// route 0 gets every even i, a tenth of all i fail: 1 in 5 of route 0.
			t.Errorf("run %s error_rate %v", r.ID, rate)
		}
		if p95, _ := r.LatestMetric("latency_p95_ms"); p95 < 100 || p95 >= 150 {
			t.Errorf("run %s latency_p95_ms %v", r.ID, p95)
		}
	}
	st := ws.Stats()
	if st.Shipped != 4 || st.Interactions != 2500 || st.CoreWindows != 0 || st.Open != 0 || sp.Stats().Backlog != 0 {
		t.Errorf("stats %+v, spool %+v", st, sp.Stats())
	}
}

// crashedWindow leaves what a process killed mid-window leaves: records
// grouped in the spool and, if runs > 0, that many RUNNING runs carrying
// the window's tag (the second one a duplicate create a congested server
// processed after the kill). It returns the window name.
func (env *windowEnv) crashedWindow(n, runs, acked int) string {
	t := env.t
	sp := env.openSpool()
	recordWindowCalls(t, sp, 0, 2*n) // n per route
	var seqs []uint64
	for range 2 * n {
		e, err := sp.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if e.Call.Endpoint == "/chat" {
			seqs = append(seqs, e.Seq)
		}
	}
	const name = "w-19c2d3e4f50-0123456789abcdef"
	if err := sp.Group(context.Background(), name, seqs); err != nil {
		t.Fatal(err)
	}
	for _, seq := range seqs[:acked] {
		sp.Ack(seq)
	}
	exp := env.fake.CreateExperiment("llm-connector", "")
	for range runs {
		env.fake.CreateRunForTest(exp, map[string]string{TagWindowID: name, TagStepMetrics: StepMetricsCore})
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestWindowReplayAfterCrash(t *testing.T) {
	for _, c := range []struct {
		name       string
		runs       int
		wantDelete uint64
	}{
		{"group recorded, no run yet", 0, 0},
		{"run created, not finished", 1, 0},
		{"run and a queued duplicate create", 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := newWindowEnv(t)
			name := env.crashedWindow(30, c.runs, 0)
			sp := env.openSpool()
			ws := env.start(sp, WindowOptions{})
			flushAll(t, ws)
			var mine []fakemlflow.Run
			for _, r := range env.runs() {
				if r.Tags[TagWindowID] == name {
					mine = append(mine, r)
				}
			}
			if len(mine) != 1 {
				t.Fatalf("%d runs carry the window tag, want 1", len(mine))
			}
			if c.runs > 0 && mine[0].Tags[TagStepMetrics] != StepMetricsCore {
				t.Errorf("replay changed the step-metric set: %v", mine[0].Tags[TagStepMetrics])
			}
			if rows := len(env.table(mine[0]).Data); rows != 30 {
				t.Errorf("window table has %d rows, want 30", rows)
			}
			env.checkWindows(env.runs())
			if st := ws.Stats(); st.OrphansDeleted != c.wantDelete || st.Shipped != 2 {
				t.Errorf("stats %+v", st) // the recovered window and the other route's
			}
		})
	}
}

func TestWindowPartlyAckedGroupIsNotShippedAgain(t *testing.T) {
	env := newWindowEnv(t)
	name := env.crashedWindow(10, 0, 0)
	// The earlier process finished the run, then died while acking.
	sp := env.openSpool()
	ws := env.start(sp, WindowOptions{})
	flushAll(t, ws)
	first := env.runs()
	sp.Close()
	// Re-group the same interactions in a fresh spool, half acked, as the
	// dead process left them: the FINISHED run is found and kept.
	sp2, err := spool.Open(spool.Options{Dir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	recordWindowCalls(t, sp2, 0, 20)
	var seqs []uint64
	for range 20 {
		e, _ := sp2.Next(context.Background())
		if e.Call.Endpoint == "/chat" {
			seqs = append(seqs, e.Seq)
		} else {
			sp2.Ack(e.Seq)
		}
	}
	sp2.Group(context.Background(), name, seqs)
	for _, s := range seqs[:5] {
		sp2.Ack(s)
	}
	for _, s := range seqs[5:] {
		sp2.Release(s, time.Time{})
	}
	ws2 := env.start(sp2, WindowOptions{})
	flushAll(t, ws2)
	if after := env.runs(); len(after) != len(first) {
		t.Fatalf("runs %d after the replay, %d before", len(after), len(first))
	}
	if st := ws2.Stats(); st.Shipped != 1 || st.Interactions != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestWindowsOutageLosesNothing(t *testing.T) {
	env := newWindowEnv(t)
	sp := env.openSpool()
	env.down.Store(true)
	ws := env.start(sp, WindowOptions{BehindWindows: 100})
	recordWindowCalls(t, sp, 0, 2100)
	eventually(t, "failures while down", func() bool { return env.fails.Load() >= 3 })
	env.lostCreates.Store(2)
	env.down.Store(false)
	flushAll(t, ws)
	seen := env.checkWindows(env.runs())
	if len(seen) != 2100 {
		t.Fatalf("%d interactions in MLflow, want 2100", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s in %d tables", id, n)
		}
	}
	if env.lostCreates.Load() >= 0 {
		t.Error("no runs/create answer was lost")
	}
	if len(env.runs()) != 4 || env.ok.Load() != 4 {
		t.Errorf("runs %d, successes reported %d; want 4 and 4", len(env.runs()), env.ok.Load())
	}
}

func TestWindowsCoreSetWhenBehind(t *testing.T) {
	env := newWindowEnv(t)
	sp := env.openSpool()
	recordWindowCalls(t, sp, 0, 6000) // 6 windows queued before the shipper starts
	ws := env.start(sp, WindowOptions{Concurrency: 1, BehindWindows: 2})
	flushAll(t, ws)
	runs := env.runs()
	env.checkWindows(runs)
	sets := map[string]int{}
	for _, r := range runs {
		sets[r.Tags[TagStepMetrics]]++
	}
	if sets[StepMetricsCore] == 0 || sets[StepMetricsFull] == 0 || sets[StepMetricsCore]+sets[StepMetricsFull] != 6 {
		t.Fatalf("step-metric sets %v: want core while behind, full once caught up", sets)
	}
	if st := ws.Stats(); st.CoreWindows != uint64(sets[StepMetricsCore]) || st.Behind {
		t.Errorf("stats %+v", st)
	}
}

func TestWindowSweepDeletesOrphans(t *testing.T) {
	env := newWindowEnv(t)
	exp := env.fake.CreateExperiment("llm-connector", "")
	mk := func(window string) string {
		return env.fake.CreateRunForTest(exp, map[string]string{TagWindowID: window})
	}
	finish := func(id string) {
		if err := env.cl.updateRun(context.Background(), id, "FINISHED", 1); err != nil {
			t.Fatal(err)
		}
	}
	done := mk("w-a")
	finish(done)
	orphan := mk("w-a")      // RUNNING beside a FINISHED sibling: deleted
	alone := mk("w-b")       // RUNNING, no finished sibling: maybe being shipped
	other := mk("unrelated") // not a window run
	sp := env.openSpool()
	ws := newWindowShipper(env.deps(), sp, WindowOptions{SweepAge: time.Minute})
	ws.d.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if err := ws.sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, r := range env.runs() {
		left[r.ID] = true
	}
	if !left[done] || left[orphan] || !left[alone] || !left[other] {
		t.Fatalf("after the sweep: %v (done %s orphan %s alone %s other %s)", left, done, orphan, alone, other)
	}
	if ws.Stats().OrphansDeleted != 1 {
		t.Errorf("stats %+v", ws.Stats())
	}
	// Young orphans are left for a later sweep.
	young := mk("w-a")
	ws.d.now = time.Now
	if err := ws.sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(env.runs()) != 4 || young == "" {
		t.Errorf("a young RUNNING run was swept: %d runs", len(env.runs()))
	}
}

func TestWindowTableCells(t *testing.T) {
	c := windowCall(0) // failed, streamed
	c.Prompt = strings.Repeat("x", 10000)
	c.ErrorMessage = "key sk-abcdefghijklmnop leaked"
	b := windowTable([]track.Call{c, windowCall(1)}, 4096, nil)
	var tb tableJSON
	if err := json.Unmarshal(b, &tb); err != nil {
		t.Fatal(err)
	}
	row := map[string]any{}
	for i, col := range tb.Columns {
		row[col] = tb.Data[0][i]
	}
	if p := row["prompt"].(string); len(p) > 4096 || len(p) < 4000 {
		t.Errorf("prompt cell %d bytes", len(p))
	}
	if e := row["error"].(string); e != "upstream: key [REDACTED] leaked" {
		t.Errorf("error cell %q", e)
	}
	if row["success"] != false || row["ttft_ms"] != 120.0 || row["temperature"] != 0.7 || row["total_tokens"] != 22.0 {
		t.Errorf("row %v", row)
	}
	if tb.Data[1][len(windowColumns)-1] != nil {
		t.Errorf("a successful row has an error: %v", tb.Data[1])
	}
}

func TestBatchBounds(t *testing.T) {
	for _, c := range []struct{ n, first, want int }{{0, 995, 1}, {995, 995, 1}, {996, 995, 2}, {7000, 995, 8}} {
		if got := batchCount(c.n, c.first); got != c.want {
			t.Errorf("batchCount(%d,%d) = %d, want %d", c.n, c.first, got, c.want)
		}
		covered := 0
		for i := range batchCount(c.n, c.first) {
			lo, hi := batchBounds(i, c.n, c.first)
			if lo != covered || hi-lo > maxMetricsPerCall || (i == 0 && hi-lo > c.first) {
				t.Errorf("n=%d batch %d: [%d,%d)", c.n, i, lo, hi)
			}
			covered = hi
		}
		if covered != c.n {
			t.Errorf("n=%d: batches cover %d", c.n, covered)
		}
	}
}

func TestWindowRoutesBeyondTheCapShareOne(t *testing.T) {
	env := newWindowEnv(t)
	sp := env.openSpool()
	for i := range 40 {
		c := windowCall(2 * i) // all on /chat
		c.RequestedModel = fmt.Sprintf("made-up-%d", i)
		if err := sp.Record(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	ws := env.start(sp, WindowOptions{MaxRoutes: 3})
	flushAll(t, ws)
	routes := map[string]int{}
	for _, r := range env.runs() {
		n, _ := r.LatestMetric("count")
		routes[r.Tags[TagWindowRoute]] = int(n)
	}
	want := map[string]int{"/chat:made-up-0": 1, "/chat:made-up-1": 1, "/chat:made-up-2": 1, "/chat:other": 37}
	if fmt.Sprint(routes) != fmt.Sprint(want) {
		t.Fatalf("routes %v, want %v", routes, want)
	}
}

func TestWindowReplayKeepsTheFoundRunsParams(t *testing.T) {
	env := newWindowEnv(t)
	name := env.crashedWindow(5, 1, 0)
	r := env.runs()[0]
	// The dead process had put these members under the shared route.
	err := env.cl.logBatch(context.Background(), logBatchReq{RunID: r.ID, Metrics: []metric{},
		Params: []kv{{"route", "/chat:other"}, {"endpoint", "/chat"}, {"requested_model", "other"}},
		Tags:   []kv{{TagWindowRoute, "/chat:other"}}})
	if err != nil {
		t.Fatal(err)
	}
	sp := env.openSpool()
	ws := env.start(sp, WindowOptions{})
	flushAll(t, ws)
	for _, r := range env.runs() {
		if r.Tags[TagWindowID] == name && (r.Status != "FINISHED" || r.Params["route"] != "/chat:other" || r.Tags[TagWindowRoute] != "/chat:other") {
			t.Fatalf("replayed run: %s %v %v", r.Status, r.Params, r.Tags)
		}
	}
	if st := ws.Stats(); st.Failures != 0 || st.Shipped != 2 {
		t.Errorf("stats %+v", st)
	}
}

// referenceTable is windowTable written with encoding/json.
func referenceTable(calls []track.Call, maxCell int) []byte {
	rows := make([][]any, len(calls))
	for i, c := range calls {
		var temp, maxTok, cost, ttft, errText any
		if c.Temperature != nil {
			temp = *c.Temperature
		}
		if c.MaxTokens > 0 {
			maxTok = c.MaxTokens
		}
		if c.CostKnown {
			cost = c.CostUSD
		}
		if c.TTFT > 0 {
			ttft = float64(c.TTFT.Microseconds()) / 1000
		}
		if !c.Success {
			errText = truncateRunes(firstNonEmpty(c.ErrorKind, "unknown")+": "+Redact(c.ErrorMessage), maxErrorMsgLen)
		}
		rows[i] = []any{c.ID, c.Start.UTC().Format(time.RFC3339Nano), c.User, c.Endpoint, c.Provider, c.Model, temp, maxTok,
			cutCell(promptText(c), maxCell), cutCell(c.Response, maxCell), c.Usage.InputTokens, c.Usage.OutputTokens,
			c.Usage.ThinkingTokens, c.Usage.Total(), cost, float64(c.Duration.Microseconds()) / 1000, ttft, c.Success, errText}
	}
	b, _ := json.Marshal(map[string]any{"columns": windowColumns, "data": rows})
	return b
}

func TestWindowTableMatchesEncodingJSON(t *testing.T) {
	odd := []string{"", "plain", "quote \" back \\ slash", "ctl \x00\x01\x1f\n\r\t", "ünïcødé ✓ 🚀", "bad \xff\xfe utf8",
		"<html>&amp;</html>", "line\u2028sep", strings.Repeat("é", 3000)}
	var calls []track.Call
	for i, s := range odd {
		c := windowCall(i)
		c.User, c.Prompt, c.Response, c.Model, c.ErrorMessage = s, s, s, s, s
		tiny := 1e-9 * float64(i+1)
		c.Temperature, c.CostUSD = &tiny, 1e22*float64(i)
		calls = append(calls, c)
	}
	got, want := windowTable(calls, 1000, nil), referenceTable(calls, 1000)
	if !json.Valid(got) {
		t.Fatalf("invalid JSON: %.300s", got)
	}
	var g, w any
	json.Unmarshal(got, &g)
	json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("hand-encoded table differs:\n%.600s\nwant\n%.600s", got, want)
	}
}

// TestWindowCrashMidShipThenReplay: the process dies (its context ends,
// nothing acked) after runs/create and before the run is finished; the
// next process, on the reopened spool, finishes that run.
func TestWindowCrashMidShipThenReplay(t *testing.T) {
	env := newWindowEnv(t)
	sp := env.openSpool()
	env.downAfterCreates.Store(1)
	ws := newWindowShipper(env.deps(), sp, WindowOptions{MaxAge: time.Hour, SweepEvery: -1, RetryMin: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ws.run(ctx); close(done) }()
	recordWindowCalls(t, sp, 0, 2000) // two windows of 1000
	eventually(t, "a failure after the create", func() bool { return env.fails.Load() > 0 })
	cancel()
	<-done
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	before := env.runs() // one or both windows' creates were answered before the front went down
	if len(before) == 0 {
		t.Fatal("no run created before the crash")
	}
	for _, r := range before {
		if r.Status != "RUNNING" {
			t.Fatalf("run %s is %s before the replay", r.ID, r.Status)
		}
	}
	env.down.Store(false)
	sp = env.openSpool()
	ws = env.start(sp, WindowOptions{})
	flushAll(t, ws)
	seen := env.checkWindows(env.runs())
	if len(env.runs()) != 2 || len(seen) != 2000 {
		t.Fatalf("%d runs, %d interactions; want 2 and 2000", len(env.runs()), len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s in %d tables", id, n)
		}
	}
}

func TestWindowClosesAtMaxAge(t *testing.T) {
	env := newWindowEnv(t)
	// Records appended two minutes ago, as after an outage: windows still
	// fill up to Size from the backlog, the rest closes once drained.
	var appendedAgo atomic.Int64
	appendedAgo.Store(int64(2 * time.Minute))
	sp, err := spool.Open(spool.Options{Dir: env.dir, Logger: quiet(), Now: func() time.Time { return time.Now().Add(-time.Duration(appendedAgo.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	for i := range 2500 {
		if err := sp.Record(context.Background(), windowCall(2*i)); err != nil { // one route
			t.Fatal(err)
		}
	}
	var offset atomic.Int64
	d := env.deps()
	d.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	ws := newWindowShipper(d, sp, WindowOptions{MaxAge: time.Minute, SweepEvery: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ws.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "the backlog in windows", func() bool { return ws.Stats().Interactions == 2500 })
	var sizes []int
	for _, r := range env.runs() {
		n, _ := r.LatestMetric("count")
		sizes = append(sizes, int(n))
	}
	sort.Ints(sizes)
	if fmt.Sprint(sizes) != "[500 1000 1000]" {
		t.Fatalf("window sizes %v", sizes)
	}
	// A fresh record closes its window once it is MaxAge old.
	appendedAgo.Store(0)
	if err := sp.Record(context.Background(), windowCall(1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the record held", func() bool { return ws.Stats().Open == 1 })
	offset.Store(int64(3 * time.Minute))
	eventually(t, "the aged window shipped", func() bool { return ws.Stats().Shipped == 4 })
}

// TestWindowRecheckKeepsOneFinishedRun: two instances that both finished
// one window (a lease taken over while the first still worked) keep the
// same run: the FINISHED one with the smallest run ID.
func TestWindowRecheckKeepsOneFinishedRun(t *testing.T) {
	env := newWindowEnv(t)
	exp := env.fake.CreateExperiment("llm-connector", "")
	var ids []string
	for range 3 {
		id := env.fake.CreateRunForTest(exp, map[string]string{TagWindowID: "w-x"})
		ids = append(ids, id)
	}
	for _, id := range ids[:2] {
		if err := env.cl.updateRun(context.Background(), id, "FINISHED", 1); err != nil {
			t.Fatal(err)
		}
	}
	keep := min(ids[0], ids[1])
	mine := max(ids[0], ids[1])
	ws := newWindowShipper(env.deps(), env.openSpool(), WindowOptions{})
	if err := ws.recheck(context.Background(), exp, &window{name: "w-x", run: runInfo{RunID: mine}}); err != nil {
		t.Fatal(err)
	}
	left := env.runs()
	if len(left) != 1 || left[0].ID != keep {
		t.Fatalf("left %d runs (first %v), want only %s", len(left), left[0].ID, keep)
	}
}

// countingQueue counts the records Next hands out (each one read back
// from disk and decoded).
type countingQueue struct {
	Queue
	handed atomic.Int64
}

func (q *countingQueue) Next(ctx context.Context) (spool.Entry, error) {
	e, err := q.Queue.Next(ctx)
	if err == nil {
		q.handed.Add(1)
	}
	return e, err
}

// While MLflow refuses connections the shipper stops reading the spool:
// the records recorded during the outage stay on disk, undecoded, until
// a window ships again; then every one is shipped exactly once.
func TestWindowsDownStopsReading(t *testing.T) {
	env := newWindowEnv(t)
	q := &countingQueue{Queue: env.openSpool()}
	env.down.Store(true)
	ws := env.start(q, WindowOptions{Size: 100, Concurrency: 2, BehindWindows: 100})
	recordWindowCalls(t, q, 0, 300) // two routes: a window of 100 closes on each
	eventually(t, "failures while down", func() bool { return env.fails.Load() >= 2 })
	recordWindowCalls(t, q, 300, 3300)
	// Without the stop the reader would take records up to MaxHeld (1000)
	// in far less time than these retries take.
	fails := env.fails.Load()
	eventually(t, "more failures while down", func() bool { return env.fails.Load() >= fails+10 })
	// Bound: the 300 recorded before the first failure, one the run loop
	// took in the select it was in when the failure was seen, one in the
	// reader's hand.
	if n := q.handed.Load(); n > 302 {
		t.Fatalf("%d records read back while MLflow was down; want at most 302", n)
	}
	if st := ws.Stats(); st.Held > 302 {
		t.Fatalf("held %d", st.Held)
	}
	env.down.Store(false)
	flushAll(t, ws)
	seen := env.checkWindows(env.runs())
	if len(seen) != 3300 {
		t.Fatalf("%d interactions in MLflow, want 3300", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s in %d tables", id, n)
		}
	}
}
