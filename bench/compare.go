package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// measure is one row group of the report.
type measure struct {
	name   string
	stream bool
	rate   float64 // 0: closed loop with conns connections
}

// serviceEnv configures the service against the fake upstream: Gemini
// for /chat, OpenAI for "openai/<model>" on /v1/chat/completions.
// Variables of -service-env come last and win.
func serviceEnv(upstreamURL, dataDir string) []string {
	return append([]string{
		"GOOGLE_API_KEY=bench", "GOOGLE_GEMINI_BASE_URL=" + upstreamURL,
		"OPENAI_API_KEY=bench", "OPENAI_BASE_URL=" + upstreamURL + "/v1",
		"LLM_FALLBACK=none", "DATA_DIR=" + dataDir, "CACHE_ENABLED=false", "LOG_LEVEL=warn",
	}, extraServiceEnv...)
}

// extraServiceEnv is -service-env: NAME=value pairs for every service
// process (GOGC=100, GOMEMLIMIT=64MiB … for a comparison).
var extraServiceEnv []string

// procs are the measured subprocesses of a comparison run.
type procs struct {
	floor, svc, svcT, mlflow, base, baseT *proc
}

func (p *procs) stop() {
	for _, x := range []*proc{p.floor, p.svc, p.svcT, p.mlflow, p.base, p.baseT} {
		if x != nil {
			x.stop()
		}
	}
}

func startProcs(ctx context.Context, o options, bin, tmp string, core int, upURL string) (*procs, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own executable: %w", err)
	}
	p := &procs{}
	if p.floor, err = startProc(ctx, procSpec{name: "floor", argv: []string{self, "-floor", "-upstream", upURL},
		dir: tmp, core: core, readyPath: "/bench-ready"}); err != nil {
		return nil, err
	}
	if p.svc, err = startProc(ctx, procSpec{name: "service", argv: []string{bin}, env: serviceEnv(upURL, filepath.Join(tmp, "svc")),
		dir: tmp, core: core, readyPath: "/health"}); err != nil {
		p.stop()
		return nil, err
	}
	if o.baselineBin != "" {
		if p.base, err = startProc(ctx, procSpec{name: "baseline", argv: []string{o.baselineBin}, env: serviceEnv(upURL, filepath.Join(tmp, "base")),
			dir: tmp, core: core, readyPath: "/health"}); err != nil {
			p.stop()
			return nil, err
		}
	}
	if !o.tracking {
		return p, nil
	}
	mlflowEnv, ml, err := startMLflow(ctx, o, self, tmp, core)
	if err != nil {
		p.stop()
		return nil, err
	}
	p.mlflow = ml
	env := append(serviceEnv(upURL, filepath.Join(tmp, "svct")), mlflowEnv...)
	if p.svcT, err = startProc(ctx, procSpec{name: "service+mlflow", argv: []string{bin}, env: env,
		dir: tmp, core: core, readyPath: "/health"}); err != nil {
		p.stop()
		return nil, err
	}
	if o.baselineBin != "" && o.baselineTracking {
		env := append(serviceEnv(upURL, filepath.Join(tmp, "baset")), mlflowEnv...)
		if p.baseT, err = startProc(ctx, procSpec{name: "baseline+mlflow", argv: []string{o.baselineBin}, env: env,
			dir: tmp, core: core, readyPath: "/health"}); err != nil {
			p.stop()
			return nil, err
		}
	}
	return p, nil
}

// startMLflow starts the fake MLflow beside the generator (core 0) at
// the lowest priority — in production it is another machine — and
// returns the service's environment for it. With -mlflow-down it starts
// nothing (ml is nil) and points the service at an address nothing
// listens on.
func startMLflow(ctx context.Context, o options, self, tmp string, core int) (env []string, ml *proc, err error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	if !o.mlflowDown {
		genCore := -1
		if core >= 0 {
			genCore = 0
		}
		if ml, err = startProc(ctx, procSpec{name: "fake-mlflow", argv: []string{self, "-mlflow"},
			dir: tmp, core: genCore, nice: true, readyPath: "/api/2.0/mlflow/experiments/get?experiment_id=0"}); err != nil {
			return nil, nil, err
		}
		addr = ml.addr
	}
	return []string{"MLFLOW_TRACKING_URI=http://" + addr, "MLFLOW_EXPERIMENT_NAME=bench"}, ml, nil
}

// floorSpec is a floor column: the bare proxy doing the upstream
// exchange a service surface's adapter makes.
type floorSpec struct {
	name        string
	path, spath string // non-stream and stream upstream paths (spath "" = path)
	body, sbody func() []byte
}

// surface is an API surface of the service in the comparison: a column
// per service process, compared with its floor. A new surface is one
// entry here (and, for a new upstream shape, one in floors and a
// handler in upstream.go).
type surface struct {
	path        string
	body, sbody func() []byte
	floor       string // floorSpec.name
	extra       bool   // measured only when -surfaces asks for it
}

var floors = []floorSpec{
	{name: "floor (OpenAI)", path: "/v1/chat/completions",
		body: func() []byte { return openAIBody("gpt-4o-mini", false, true) }, sbody: func() []byte { return openAIBody("gpt-4o-mini", true, true) }},
	{name: "floor (Gemini)", path: geminiPath, spath: geminiStreamPath, body: geminiBody, sbody: geminiBody},
}

var surfaces = []surface{
	{path: "/v1/chat/completions", floor: "floor (OpenAI)",
		body:  func() []byte { return openAIBody("openai/gpt-4o-mini", false, false) },
		sbody: func() []byte { return openAIBody("openai/gpt-4o-mini", true, false) }},
	{path: "/chat", floor: "floor (Gemini)",
		body: func() []byte { return chatBody(false) }, sbody: func() []byte { return chatBody(true) }},
	// The other API surfaces, measured with -surfaces all (or by path):
	// the same OpenAI upstream exchange behind another front.
	{path: "/v1/messages", floor: "floor (OpenAI)", extra: true,
		body: func() []byte { return anthropicBody(false) }, sbody: func() []byte { return anthropicBody(true) }},
	{path: "/v1/responses", floor: "floor (OpenAI)", extra: true,
		body: func() []byte { return responsesBody(false) }, sbody: func() []byte { return responsesBody(true) }},
}

// surfaceFilter is -surfaces: "" measures the surfaces that are not
// extra, "all" every one, else the comma-separated paths.
var surfaceFilter string

// activeSurfaces are the surfaces -surfaces selects.
func activeSurfaces() []surface {
	var out []surface
	for _, sf := range surfaces {
		switch {
		case surfaceFilter == "all",
			surfaceFilter == "" && !sf.extra,
			surfaceFilter != "" && slices.Contains(strings.Split(surfaceFilter, ","), sf.path):
			out = append(out, sf)
		}
	}
	return out
}

// surfaceOf returns the surface served at path.
func surfaceOf(path string) (surface, bool) {
	for _, sf := range surfaces {
		if sf.path == path {
			return sf, true
		}
	}
	return surface{}, false
}

func (sf surface) target(name string, p *proc) *target {
	return &target{name: name + " " + sf.path, proc: p, path: sf.path, body: sf.body(), sbody: sf.sbody(), floorName: sf.floor}
}

// targetsOf lists the columns: each floor followed by the plain service
// on the surfaces it serves as floor for, then the tracking service on
// every surface.
func targetsOf(o options, p *procs) []*target {
	var ts []*target
	for _, f := range floors {
		ts = append(ts, &target{name: f.name, floor: true, proc: p.floor, path: f.path, spath: f.spath, body: f.body(), sbody: f.sbody()})
		for _, sf := range activeSurfaces() {
			if sf.floor == f.name {
				ts = append(ts, sf.target("service", p.svc))
				if p.base != nil {
					ts = append(ts, sf.target("baseline", p.base))
				}
			}
		}
	}
	if p.svcT != nil {
		suffix := "+MLflow"
		if o.mlflowDown {
			suffix = "+spool (MLflow down)"
		}
		tracked := []struct {
			name string
			p    *proc
		}{{"service", p.svcT}, {"baseline", p.baseT}}
		for _, sf := range activeSurfaces() {
			for _, tp := range tracked {
				if tp.p == nil {
					continue
				}
				t := sf.target(tp.name+suffix, tp.p)
				if !o.mlflowDown { // nothing ships while MLflow is down
					t.drain = drainTracking(tp.p.addr, 30*time.Second)
				}
				ts = append(ts, t)
			}
		}
	}
	for _, t := range ts {
		t.client = newClient()
	}
	return ts
}

// floorOf pairs each service column with the floor column of the same
// upstream exchange.
func floorOf(ts []*target, i int) int {
	if ts[i].floor {
		return -1
	}
	for j, t := range ts {
		if t.floor && t.name == ts[i].floorName {
			return j
		}
	}
	return -1
}

// results of a comparison run.
type results struct {
	measures []measure
	targets  []*target
	s        [][]*samples // [target][measure]
	rss64    map[*proc]rssPeak
	// rssStream is the peak while streaming: with -delta-delay the
	// streams stay open, and this is what many open streams hold.
	rssStream map[*proc]rssPeak
	drainErr  error
}

func runCompare(ctx context.Context, o options, e env, bin, tmp string, core int, up *upstream) error {
	p, err := startProcs(ctx, o, bin, tmp, core, up.URL)
	if err != nil {
		return err
	}
	defer p.stop()
	ts := targetsOf(o, p)
	ms := []measure{{name: fmt.Sprintf("max throughput (closed loop, %d connections)", o.conns)}}
	for _, r := range o.rates {
		ms = append(ms, measure{name: fmt.Sprintf("open loop %.0f req/s", r), rate: r})
	}
	ms = append(ms, measure{name: fmt.Sprintf("streaming, open loop %.0f req/s", o.streamRate), rate: o.streamRate, stream: true})
	res := &results{measures: ms, targets: ts, rss64: map[*proc]rssPeak{}, rssStream: map[*proc]rssPeak{}}
	res.s = make([][]*samples, len(ts))
	for i := range ts {
		res.s[i] = make([]*samples, len(ms))
		for j := range ms {
			res.s[i][j] = &samples{}
		}
	}
	fmt.Fprintln(os.Stderr, "bench: warming up …")
	for _, t := range ts {
		closedLoop(ctx, 8, o.warmup, t.fire(false), &samples{})
		closedLoop(ctx, 8, o.warmup/4, t.fire(true), &samples{})
		if t.drain != nil {
			if err := t.drain(ctx); err != nil {
				res.drainErr = err
			}
		}
	}
	slice := o.d / time.Duration(o.rounds)
	for j, m := range ms {
		fmt.Fprintf(os.Stderr, "bench: %s …\n", m.name)
		for r := range o.rounds {
			for k := range ts {
				i := (k + r) % len(ts) // rotate the order every round
				if err := res.runSlice(ctx, o, ts[i], m, slice, res.s[i][j]); err != nil {
					return err
				}
			}
		}
	}
	report := renderReport(o, e, res, []*proc{p.floor, p.svc, p.base, p.svcT, p.baseT})
	fmt.Print(report)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.out, err)
		}
	}
	return nil
}

// runSlice runs one interleaved slice of measure m on t and charges the
// process's CPU time over it (and over draining the work it queued).
func (res *results) runSlice(ctx context.Context, o options, t *target, m measure, d time.Duration, s *samples) error {
	if ctx.Err() != nil {
		return fmt.Errorf("time budget exhausted: %w", ctx.Err())
	}
	cpu0, err := t.proc.cpu()
	if err != nil {
		return err
	}
	sys0, err := t.proc.syscalls()
	if err != nil {
		return err
	}
	sw0, err := t.proc.switches()
	if err != nil {
		return err
	}
	s.mu.Lock()
	from, doneFrom := len(s.lat), s.done
	s.mu.Unlock()
	var peaks map[*proc]rssPeak
	switch {
	case m.rate == 0:
		peaks = res.rss64
	case m.stream:
		peaks = res.rssStream
	}
	var rs *rssSampler
	if peaks != nil {
		rs = sampleRSS(t.proc, 50*time.Millisecond)
	}
	if m.rate == 0 {
		closedLoop(ctx, o.conns, d, t.fire(false), s)
	} else {
		openLoop(ctx, m.rate, d, o.maxInFlight, t.fire(m.stream), s)
	}
	if rs != nil {
		pk, prev := rs.end(), peaks[t.proc]
		peaks[t.proc] = rssPeak{max(prev.total, pk.total), max(prev.anon, pk.anon)}
	}
	if t.drain != nil {
		if err := t.drain(ctx); err != nil && res.drainErr == nil {
			res.drainErr = err
		}
	}
	sleep(ctx, 100*time.Millisecond) // let work queued by the slice finish (ledger writes, GC)
	cpu1, err := t.proc.cpu()
	if err != nil {
		return err
	}
	sys1, err := t.proc.syscalls()
	if err != nil {
		return err
	}
	sw1, err := t.proc.switches()
	if err != nil {
		return err
	}
	s.cpu += cpu1 - cpu0
	s.syscalls += sys1 - sys0
	s.switches += sw1 - sw0
	s.endSlice(from, doneFrom, cpu1-cpu0)
	return nil
}
