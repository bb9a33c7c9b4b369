// Command bench is the load benchmark of llm-connector: a fast fake
// upstream (OpenAI- and Gemini-shaped), the floor (a bare
// httputil.ReverseProxy) and the real service binary, both run as
// subprocesses pinned to one core, and an open-loop load generator that
// measures latency from each request's scheduled send time. It prints a
// Markdown report for BENCHMARKS.md. Everything runs on loopback and
// stops by itself.
//
//	go run ./bench                 # the interleaved comparison, about 2 minutes
//	go run ./bench -d 1s -rounds 1 # a quick look
//	go run ./bench -soak 5m        # RSS, CPU and goroutines of the service over time
//	go run ./bench -profile prof   # CPU and allocation profiles and an execution trace of the service under load
//	go run ./bench -tracking-load  # every interaction into a calibrated fake MLflow at 500 and 1000 req/s, and an outage
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	d, warmup         time.Duration
	rounds            int
	rates             []float64
	streamRate        float64
	conns             int
	delay, deltaDelay time.Duration
	pin, tracking     bool
	soak, soakEvery   time.Duration
	soakRate          float64
	out               string
	maxInFlight       int
	profile           string
	profilePath       string
	profileRate       float64
	profileTracking   bool
	profileStream     bool
	profileFloor      bool
	mlflowDown        bool
	baselineTracking  bool
	trackingLoad      bool
	trackingScale     float64
	chunks            int
	serviceSrc        string
	baselineSrc       string
	baselineBin       string // built from baselineSrc
}

func main() {
	var o options
	floor := flag.Bool("floor", false, "run as the floor proxy (internal: the benchmark starts itself this way)")
	upstreamURL := flag.String("upstream", "", "floor mode: the upstream base URL")
	mlflow := flag.Bool("mlflow", false, "run as the fake MLflow server (internal)")
	mlflowCal := flag.Bool("mlflow-calibrated", false, "run as the calibrated fake MLflow server with a control API on CONTROL_ADDR (internal)")
	flag.BoolVar(&o.trackingLoad, "tracking-load", false, "tracking mode: sustained load with MLflow tracking into the calibrated fake MLflow (500 req/s for 5 min, 1000 req/s for 2 min, a 60 s outage), about 15 minutes")
	flag.Float64Var(&o.trackingScale, "tracking-scale", 1, "tracking mode: scale every phase's duration (0.1 for a quick look)")
	flag.IntVar(&o.chunks, "chunks", DefaultChunks, "fake upstream: text chunks of a streamed answer (a non-stream answer is one JSON body of the same text)")
	flag.StringVar(&o.serviceSrc, "service-src", "", "build the service from the llm-connector module in this folder instead of the current one (a before/after comparison)")
	flag.StringVar(&o.baselineSrc, "baseline-src", "", "also run the service built from the llm-connector module in this folder, as \"baseline\" columns interleaved with the others (before/after in one run)")
	rates := flag.String("rates", "200,1000", "open-loop rates in requests/s, comma-separated")
	flag.DurationVar(&o.d, "d", 3*time.Second, "duration of each measurement per target (split over -rounds interleaved slices)")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved slices per measurement")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "closed-loop warm-up per target")
	flag.Float64Var(&o.streamRate, "stream-rate", 200, "open-loop rate of the streaming time-to-first-byte measurement")
	flag.IntVar(&o.conns, "conns", 64, "connections of the closed-loop (max throughput) measurement")
	flag.IntVar(&o.maxInFlight, "max-inflight", 2048, "open loop: sends beyond this many outstanding are counted as overflow")
	flag.DurationVar(&o.delay, "upstream-delay", 0, "fake upstream: wait before the first byte")
	flag.DurationVar(&o.deltaDelay, "delta-delay", 0, "fake upstream: wait before each streamed delta")
	flag.BoolVar(&o.pin, "pin", true, "pin the measured processes to core 1 and the generator to core 0 (taskset)")
	flag.BoolVar(&o.tracking, "tracking", true, "also run the service with MLflow tracking to a fake MLflow (a low-priority subprocess on the generator core)")
	flag.DurationVar(&o.soak, "soak", 0, "soak mode: load the service at -soak-rate for this long and sample RSS, CPU and goroutines")
	flag.Float64Var(&o.soakRate, "soak-rate", 200, "soak mode: requests/s")
	flag.DurationVar(&o.soakEvery, "soak-every", 10*time.Second, "soak mode: sampling interval")
	flag.StringVar(&o.out, "o", "", "also write the Markdown report to this file")
	flag.StringVar(&o.profile, "profile", "", "profile mode: load the service and write CPU and allocation profiles and an execution trace of it into this folder")
	flag.StringVar(&o.profilePath, "profile-path", "/v1/chat/completions", "profile mode: the endpoint to load")
	flag.Float64Var(&o.profileRate, "profile-rate", 1000, "profile mode: requests/s (0: closed loop at -conns connections, the max-throughput load)")
	flag.BoolVar(&o.baselineTracking, "baseline-tracking", false, "with -baseline-src and -tracking: also run the baseline with MLflow tracking, as \"baseline+…\" columns beside the tracking service's")
	flag.BoolVar(&o.mlflowDown, "mlflow-down", false, "the tracking columns point at an MLflow address that refuses connections: records are spooled, none shipped (the request path's share of tracking)")
	flag.BoolVar(&o.profileStream, "profile-stream", false, "profile mode: load with streaming requests")
	flag.BoolVar(&o.profileFloor, "profile-floor", false, "profile mode: profile the floor proxying -profile-path's upstream exchange instead of the service, for a side-by-side reading")
	flag.BoolVar(&o.profileTracking, "profile-tracking", false, "profile mode: also track every interaction to a fake MLflow")
	flag.StringVar(&surfaceFilter, "surfaces", "", `API surfaces to measure: "" = /v1/chat/completions and /chat, "all" = also /v1/messages and /v1/responses, or comma-separated paths`)
	svcEnv := flag.String("service-env", "", "extra environment of the service processes, comma-separated NAME=value pairs (e.g. GOGC=100,GOMEMLIMIT=32MiB)")
	flag.Parse()
	if *svcEnv != "" {
		extraServiceEnv = strings.Split(*svcEnv, ",")
	}
	if *floor || *mlflow || *mlflowCal {
		run := func() error { return runFloor(*upstreamURL) }
		switch {
		case *mlflow:
			run = func() error { return runMLflow(false) }
		case *mlflowCal:
			run = runMLflowCalibrated
		}
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if o.rates, err = parseRates(*rates); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -rates:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("bad rate %q", f)
		}
		out = append(out, r)
	}
	return out, nil
}

// env describes the machine for the report.
type env struct {
	nproc        int
	cpuModel     string
	goVersion    string
	kernel       string
	loadAvg      string
	date         time.Time
	pinned       bool
	command      string
	upstreamNote string
}

func run(o options) error {
	total := o.budget()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	e := env{nproc: runtime.NumCPU(), cpuModel: cpuModel(), goVersion: runtime.Version(), kernel: readTrim("/proc/sys/kernel/osrelease"),
		loadAvg: readTrim("/proc/loadavg"), date: time.Now(), command: "go run ./bench " + strings.Join(os.Args[1:], " ")}
	tmp, err := os.MkdirTemp("", "llm-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintln(os.Stderr, "bench: building the service …")
	bin, err := buildService(ctx, tmp, o.serviceSrc)
	if err != nil {
		return err
	}
	if o.baselineSrc != "" {
		bdir := filepath.Join(tmp, "baseline")
		if err := os.MkdirAll(bdir, 0o755); err != nil {
			return err
		}
		if o.baselineBin, err = buildService(ctx, bdir, o.baselineSrc); err != nil {
			return err
		}
	}
	core := -1
	if o.pin && e.nproc >= 2 && haveTaskset() {
		if err := pinSelf(0); err != nil {
			fmt.Fprintln(os.Stderr, "bench: could not pin the generator:", err)
		} else {
			core, e.pinned = 1, true
		}
	}
	up, err := startUpstream(o.delay, o.deltaDelay, o.chunks)
	if err != nil {
		return err
	}
	defer up.Close()
	e.upstreamNote = fmt.Sprintf("a streamed answer has %d text chunks, a non-stream answer is one JSON body; first-byte delay %s, per-delta delay %s",
		max(o.chunks, 1), o.delay, o.deltaDelay)
	if o.serviceSrc != "" {
		e.upstreamNote += "; service built from " + o.serviceSrc
	}
	if o.baselineSrc != "" {
		e.upstreamNote += "; baseline service built from " + o.baselineSrc
	}
	if o.soak > 0 {
		return runSoak(ctx, o, e, bin, tmp, core, up)
	}
	if o.profile != "" {
		return runProfile(ctx, o, bin, tmp, core, up)
	}
	if o.trackingLoad {
		return runTrackingLoad(ctx, o, e, bin, tmp, core, up)
	}
	return runCompare(ctx, o, e, bin, tmp, core, up)
}

// budget bounds the whole run: the planned load plus generous room for
// building, starting and draining.
func (o options) budget() time.Duration {
	if o.soak > 0 {
		return o.soak + 3*time.Minute
	}
	if o.trackingLoad {
		return time.Duration(float64(11*time.Minute)*o.trackingScale) + 15*time.Minute
	}
	measures, columns := len(o.rates)+2, 6
	if o.baselineSrc != "" {
		columns += 2
	}
	return time.Duration(columns*measures)*(o.d+time.Duration(o.rounds)*time.Second) + time.Duration(columns)*o.warmup + 4*time.Minute
}

// buildService compiles ./cmd/llm-connector of the module the benchmark
// is run from, or of the module in src when it is set, the way the
// Makefile's build and the Dockerfile ship it: static (CGO_ENABLED=0, no
// libc mapped), without symbol tables. A cgo build maps libc and the
// dynamic loader (~1.3 MiB more RSS) and is not what users run.
func buildService(ctx context.Context, dir, src string) (string, error) {
	env := exec.CommandContext(ctx, "go", "env", "GOMOD")
	env.Dir = src
	gomod, err := env.Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", fmt.Errorf("run from inside the llm-connector module (go env GOMOD: %v)", err)
	}
	bin := filepath.Join(dir, "llm-connector")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "grpcnotrace", "-trimpath", "-ldflags", benchLdflags, "-o", bin, "./cmd/llm-connector")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/llm-connector: %w\n%s", err, out)
	}
	return bin, nil
}

func haveTaskset() bool {
	_, err := exec.LookPath("taskset")
	return err == nil
}

// pinSelf moves every thread of this process to core and runs Go on one P.
func pinSelf(core int) error {
	runtime.GOMAXPROCS(1)
	out, err := exec.Command("taskset", "-a", "-p", "-c", strconv.Itoa(core), strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %w: %s", err, out)
	}
	return nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// benchLdflags strips the service as shipped; BENCH_KEEP_SYMBOLS=1 keeps
// its symbols for an outside profiler (perf record).
var benchLdflags = func() string {
	if os.Getenv("BENCH_KEEP_SYMBOLS") == "1" {
		return ""
	}
	return "-s -w"
}()
