package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The -tracking-load mode: the service tracks every interaction into the
// calibrated fake MLflow (it costs what one real 3.11 server costs) under
// sustained open-loop load, and the report says whether MLflow kept up:
// backlog and oldest record at the end, dropped records, what landed in
// the fake's store (every interaction exactly once), how fast shipping
// resumed after an outage, and the CPU the service spends shipping.

// phase is one measured load of the tracking benchmark.
type phase struct {
	name         string
	rate         float64
	d            time.Duration
	floor        bool          // the bare proxy instead of the service
	deadMLflow   bool          // the service points at an address nothing listens on
	outageAt     time.Duration // > 0: MLflow goes down this far into the load
	outageFor    time.Duration
	drainLimit   time.Duration
	mlflowEnvTag string
}

// phaseResult is what one phase measured.
type phaseResult struct {
	phase
	ok, errs, overflow int
	cpuPerReq          time.Duration
	endBacklog         int // the windows channel: every interaction
	endOldest          float64
	sampleRate         float64
	dropped            int
	drain              time.Duration
	drained            bool
	resume             time.Duration // outage: MLflow back → first record shipped
	landed             landed
	busyPerInteraction time.Duration
}

func trackingPhases(scale float64) []phase {
	s := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
	return []phase{
		{name: "floor", rate: 500, d: s(30 * time.Second), floor: true},
		{name: "spool only (MLflow unreachable)", rate: 500, d: s(30 * time.Second), deadMLflow: true},
		{name: "500 req/s", rate: 500, d: s(5 * time.Minute), drainLimit: 2 * time.Minute},
		{name: "floor", rate: 1000, d: s(30 * time.Second), floor: true},
		{name: "spool only (MLflow unreachable)", rate: 1000, d: s(30 * time.Second), deadMLflow: true},
		{name: "1000 req/s", rate: 1000, d: s(2 * time.Minute), drainLimit: 2 * time.Minute},
		{name: "MLflow down 60 s at 500 req/s", rate: 500, d: 75*time.Second + s(75*time.Second), outageAt: 15 * time.Second,
			outageFor: 60 * time.Second, drainLimit: 2 * time.Minute},
	}
}

func runTrackingLoad(ctx context.Context, o options, e env, bin, tmp string, core int, up *upstream) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctlAddr, err := freeAddr()
	if err != nil {
		return err
	}
	genCore := -1
	if core >= 0 {
		genCore = 0
	}
	ml, err := startProc(ctx, procSpec{name: "fake-mlflow-calibrated", argv: []string{self, "-mlflow-calibrated"},
		env: []string{"CONTROL_ADDR=" + ctlAddr}, dir: tmp, core: genCore, readyPath: "/health"})
	if err != nil {
		return err
	}
	defer ml.stop()
	var out []phaseResult
	for i, ph := range trackingPhases(o.trackingScale) {
		fmt.Fprintf(os.Stderr, "bench: tracking phase %q …\n", ph.name)
		ph.mlflowEnvTag = fmt.Sprintf("bench-%d", i)
		r, err := runPhase(ctx, o, ph, bin, self, tmp, core, up.URL, ml.addr, ctlAddr)
		if err != nil {
			return fmt.Errorf("phase %q: %w", ph.name, err)
		}
		out = append(out, r)
	}
	report := renderTracking(o, e, out)
	fmt.Print(report)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report), 0o644)
	}
	return nil
}

func runPhase(ctx context.Context, o options, ph phase, bin, self, tmp string, core int, upURL, mlAddr, ctl string) (phaseResult, error) {
	res := phaseResult{phase: ph}
	p, path, body, err := startPhaseProc(ctx, ph, bin, self, tmp, core, upURL, mlAddr)
	if err != nil {
		return res, err
	}
	defer p.stop()
	t := &target{name: ph.name, proc: p, path: path, body: body, client: newClient()}
	before, _ := landedAt(ctx, ctl, ph.mlflowEnvTag)
	cpu0, _ := p.cpu()
	var s samples
	outage := make(chan time.Duration, 1)
	if ph.outageAt > 0 {
		go func() { outage <- runOutage(ctx, ph, p.addr, ctl) }()
	}
	openLoop(ctx, ph.rate, ph.d, o.maxInFlight, t.fire(false), &s)
	cpu1, _ := p.cpu()
	res.ok, res.errs, res.overflow = len(s.lat), s.errors, s.overflow
	if s.done > 0 {
		res.cpuPerReq = (cpu1 - cpu0) / time.Duration(s.done)
	}
	if ph.floor || ph.deadMLflow {
		return res, nil
	}
	if ph.outageAt > 0 {
		res.resume = <-outage
	}
	h, _ := trackingOf(ctx, p.addr)
	w := h.Channels["windows"]
	res.endBacklog, res.endOldest, res.dropped, res.sampleRate = w.Backlog, w.OldestAgeSec, h.Dropped, h.SampleRate
	start := time.Now()
	res.drained = drainTracking(p.addr, ph.drainLimit)(ctx) == nil
	res.drain = time.Since(start)
	// The service's CPU is charged from the start of the load until
	// everything it caused was shipped.
	if cpu2, err := p.cpu(); err == nil && s.done > 0 {
		res.cpuPerReq = (cpu2 - cpu0) / time.Duration(s.done)
	}
	p.stop() // a graceful stop ships what is still open
	after, err := landedAt(ctx, ctl, ph.mlflowEnvTag)
	if err != nil {
		return res, err
	}
	res.landed = after
	if n := after.WindowUnique; n > 0 {
		res.busyPerInteraction = time.Duration((after.BusySec - before.BusySec) * float64(time.Second) / float64(n))
	}
	return res, nil
}

func startPhaseProc(ctx context.Context, ph phase, bin, self, tmp string, core int, upURL, mlAddr string) (*proc, string, []byte, error) {
	dir := filepath.Join(tmp, strings.NewReplacer(" ", "-", "/", "-").Replace(ph.name))
	if ph.floor {
		p, err := startProc(ctx, procSpec{name: "floor", argv: []string{self, "-floor", "-upstream", upURL},
			dir: tmp, core: core, readyPath: "/bench-ready"})
		return p, geminiStreamPath, geminiBody(), err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", nil, err
	}
	addr := mlAddr
	if ph.deadMLflow {
		var err error
		if addr, err = freeAddr(); err != nil {
			return nil, "", nil, err
		}
	}
	env := append(serviceEnv(upURL, dir), "MLFLOW_TRACKING_URI=http://"+addr, "MLFLOW_EXPERIMENT_NAME="+ph.mlflowEnvTag, "CACHE_ENABLED=false",
		"MLFLOW_MODE=auto", "MLFLOW_WINDOW_INTERVAL=5s", "SHUTDOWN_TIMEOUT=60s")
	p, err := startProc(ctx, procSpec{name: "service " + ph.name, argv: []string{bin}, env: env, dir: tmp, core: core, readyPath: "/health"})
	return p, "/chat", chatBody(false), err
}

// runOutage takes MLflow down for ph.outageFor and returns how long after
// it came back the service shipped its next record.
func runOutage(ctx context.Context, ph phase, svcAddr, ctl string) time.Duration {
	sleep(ctx, ph.outageAt)
	post(ctx, ctl, "/down")
	sleep(ctx, ph.outageFor)
	h, _ := trackingOf(ctx, svcAddr)
	post(ctx, ctl, "/up")
	back := time.Now()
	for ctx.Err() == nil && time.Since(back) < time.Minute {
		if now, err := trackingOf(ctx, svcAddr); err == nil && now.Shipped > h.Shipped {
			return time.Since(back)
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return -1
}

type trackingState struct {
	Status       string  `json:"status"`
	Backlog      int     `json:"backlog"`
	OldestAgeSec float64 `json:"oldest_age_sec"`
	Shipped      uint64  `json:"shipped"`
	Dropped      int     `json:"dropped"`
	SampleRate   float64 `json:"trace_sample_rate"`
	Channels     map[string]struct {
		Backlog      int     `json:"backlog"`
		OldestAgeSec float64 `json:"oldest_age_sec"`
	} `json:"channels"`
}

func trackingOf(ctx context.Context, addr string) (trackingState, error) {
	var h struct {
		Components struct {
			Tracking trackingState `json:"tracking"`
		} `json:"components"`
	}
	err := getJSON(ctx, "http://"+addr+"/health", &h)
	return h.Components.Tracking, err
}

func landedAt(ctx context.Context, ctl, experiment string) (landed, error) {
	var l landed
	err := getJSON(ctx, "http://"+ctl+"/stats?experiment="+experiment, &l)
	return l, err
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func post(ctx context.Context, ctl, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ctl+path, nil)
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

func renderTracking(o options, e env, rs []phaseResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Tracking into one (calibrated) MLflow server — `%s`\n\n", e.command)
	fmt.Fprintf(&b, "%s, %d cores, %s, load average at start %s; service pinned: %v.\n\n", e.cpuModel, e.nproc, e.goVersion, e.loadAvg, e.pinned)
	b.WriteString(row("phase", "rate", "duration", "ok", "errors", "CPU ms/req", "windows backlog at end", "oldest at end (s)", "dropped",
		"drained in", "landed (unique)", "duplicates", "orphans", "resume after outage", "MLflow CPU ms/interaction", "traces kept"))
	b.WriteString(row(repeat("---", 16)...))
	for _, r := range rs {
		if r.floor || r.deadMLflow {
			b.WriteString(row(r.name, fmt.Sprint(r.rate), r.d.String(), fmt.Sprint(r.ok), fmt.Sprint(r.errs), ms(r.cpuPerReq), "", "", "", "", "", "", "", "", "", ""))
			continue
		}
		resume := ""
		if r.outageAt > 0 {
			resume = r.resume.Round(time.Millisecond).String()
		}
		drain := r.drain.Round(100 * time.Millisecond).String()
		if !r.drained {
			drain = "not drained in " + r.drainLimit.String()
		}
		b.WriteString(row(r.name, fmt.Sprint(r.rate), r.d.String(), fmt.Sprint(r.ok), fmt.Sprint(r.errs), ms(r.cpuPerReq),
			fmt.Sprint(r.endBacklog), fmt.Sprintf("%.1f", r.endOldest), fmt.Sprint(r.dropped), drain,
			fmt.Sprintf("%d of %d", r.landed.WindowUnique, r.ok), fmt.Sprint(r.landed.WindowRows-r.landed.WindowUnique),
			fmt.Sprint(r.landed.Orphans), resume, ms(r.busyPerInteraction), fmt.Sprintf("%.1f %%", 100*r.sampleRate)))
	}
	b.WriteString("\n" + trackingVerdict(rs))
	return b.String()
}

// trackingVerdict compares the phases with issue 12's targets.
func trackingVerdict(rs []phaseResult) string {
	floors, spools := map[float64]time.Duration{}, map[float64]time.Duration{}
	var b strings.Builder
	for _, r := range rs {
		switch {
		case r.floor:
			floors[r.rate] = r.cpuPerReq
		case r.deadMLflow:
			spools[r.rate] = r.cpuPerReq
		default:
			floor, spool := floors[r.rate], spools[r.rate]
			ship := r.cpuPerReq - spool
			fmt.Fprintf(&b, "- %s: shipping CPU in the service %s ms per interaction (target ≤ 0.05); service CPU with tracking %.2f× the floor (target ≤ 1.5×); every interaction landed once: %v\n",
				r.name, ms(ship), float64(r.cpuPerReq)/float64(max(floor, 1)), r.landed.WindowUnique == r.ok && r.landed.WindowRows == r.ok)
		}
	}
	return b.String()
}
