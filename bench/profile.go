package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// profileAdminKey unlocks the service's /debug/pprof/ in profile mode.
const profileAdminKey = "bench-admin-key-not-a-secret"

// runProfile loads the service at -profile-rate on -profile-path and
// fetches, while the load runs, a CPU profile, an allocation profile, an
// execution trace and, at the end, the heap in use and the goroutines of
// the service process into -profile. Read them with
//
//	go tool pprof -top DIR/cpu.prof
//	go tool pprof -sample_index=alloc_space -top DIR/allocs.prof
//	go tool pprof -sample_index=inuse_space -top DIR/heap.prof
//	go tool trace -pprof=sched DIR/trace.out > sched.prof; go tool pprof -top sched.prof
//
// The scheduler-latency profile names what kept runnable goroutines
// waiting, which is where added tail latency comes from.
func runProfile(ctx context.Context, o options, bin, tmp string, core int, up *upstream) error {
	if err := os.MkdirAll(o.profile, 0o755); err != nil {
		return err
	}
	sf, ok := surfaceOf(o.profilePath)
	if !ok {
		var paths []string
		for _, sf := range surfaces {
			paths = append(paths, sf.path)
		}
		return fmt.Errorf("-profile-path: one of %s, not %q", strings.Join(paths, ", "), o.profilePath)
	}
	start := startProfiledService
	if o.profileFloor {
		start = startProfiledFloor
	}
	svc, t, stop, err := start(ctx, o, sf, bin, tmp, core, up)
	if err != nil {
		return err
	}
	defer stop()
	t.client = newClient()
	closedLoop(ctx, 8, o.warmup, t.fire(false), &samples{})

	cpuSecs := max(int(o.d.Seconds()), 1)
	loadFor := time.Duration(cpuSecs)*time.Second + 6*time.Second // CPU profile, then 2 s of allocations and a 2 s trace
	s := &samples{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if o.profileRate > 0 {
			openLoop(ctx, o.profileRate, loadFor, o.maxInFlight, t.fire(o.profileStream), s)
		} else {
			closedLoop(ctx, o.conns, loadFor, t.fire(o.profileStream), s)
		}
	}()
	sleep(ctx, 500*time.Millisecond)
	fmt.Fprintf(os.Stderr, "bench: CPU profile of %s for %ds at %s …\n", t.name, cpuSecs, profileLoad(o))
	if err := fetchTo(ctx, svc.addr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", cpuSecs), filepath.Join(o.profile, "cpu.prof")); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: allocations for 2s …")
	if err := fetchTo(ctx, svc.addr, "/debug/pprof/allocs?seconds=2", filepath.Join(o.profile, "allocs.prof")); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: execution trace for 2s …")
	if err := fetchTo(ctx, svc.addr, "/debug/pprof/trace?seconds=2", filepath.Join(o.profile, "trace.out")); err != nil {
		return err
	}
	if err := fetchTo(ctx, svc.addr, "/debug/pprof/heap", filepath.Join(o.profile, "heap.prof")); err != nil {
		return err
	}
	if err := fetchTo(ctx, svc.addr, "/debug/pprof/goroutine?debug=1", filepath.Join(o.profile, "goroutines.txt")); err != nil {
		return err
	}
	<-done
	fmt.Printf("profile of %s at %s: %d requests, %d errors, p50 %s ms, p99 %s ms\n",
		t.name, profileLoad(o), len(s.lat), s.errors+s.overflow, ms(percentile(s.lat, 50)), ms(percentile(s.lat, 99)))
	fmt.Printf("wrote cpu.prof, allocs.prof, trace.out, heap.prof and goroutines.txt in %s\n", o.profile)
	return nil
}

// startProfiledService starts the service for profile mode (with a fake
// MLflow under -profile-tracking) and its target on surface sf.
func startProfiledService(ctx context.Context, o options, sf surface, bin, tmp string, core int, up *upstream) (*proc, *target, func(), error) {
	env := append(serviceEnv(up.URL, filepath.Join(tmp, "svc")), "LLM_ADMIN_KEY="+profileAdminKey)
	stopML := func() {}
	if o.profileTracking {
		self, err := os.Executable()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("own executable: %w", err)
		}
		mlflowEnv, ml, err := startMLflow(ctx, o, self, tmp, core)
		if err != nil {
			return nil, nil, nil, err
		}
		if ml != nil {
			stopML = ml.stop
		}
		env = append(env, mlflowEnv...)
	}
	svc, err := startProc(ctx, procSpec{name: "service", argv: []string{bin}, env: env,
		dir: tmp, core: core, readyPath: "/health"})
	if err != nil {
		stopML()
		return nil, nil, nil, err
	}
	return svc, sf.target("service", svc), func() { svc.stop(); stopML() }, nil
}

// startProfiledFloor starts the floor for profile mode (-profile-floor)
// and its target: the upstream exchange surface sf's adapter makes.
func startProfiledFloor(ctx context.Context, _ options, sf surface, _, tmp string, core int, up *upstream) (*proc, *target, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("own executable: %w", err)
	}
	i := slices.IndexFunc(floors, func(f floorSpec) bool { return f.name == sf.floor })
	if i < 0 {
		return nil, nil, nil, fmt.Errorf("no floor %q for %s", sf.floor, sf.path)
	}
	f := floors[i]
	p, err := startProc(ctx, procSpec{name: "floor", argv: []string{self, "-floor", "-upstream", up.URL},
		dir: tmp, core: core, readyPath: "/bench-ready"})
	if err != nil {
		return nil, nil, nil, err
	}
	return p, &target{name: f.name, floor: true, proc: p, path: f.path, spath: f.spath, body: f.body(), sbody: f.sbody()}, p.stop, nil
}

// profileLoad names profile mode's load: a rate, or -conns connections
// as fast as the service answers (-profile-rate 0).
func profileLoad(o options) string {
	if o.profileRate > 0 {
		return fmt.Sprintf("%.0f req/s", o.profileRate)
	}
	return fmt.Sprintf("%d connections (closed loop)", o.conns)
}

func fetchTo(ctx context.Context, addr, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Admin-Key", profileAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("fetch %s: status %d: %s", path, resp.StatusCode, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("fetch %s: %w", path, err)
	}
	return f.Close()
}
