package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// soakSample is the service's state after one interval of steady load.
type soakSample struct {
	at         time.Duration
	rss        uint64
	cpu        time.Duration // over the interval
	goroutines int           // -1 when /metrics is not served
	heap       float64       // go_memstats_heap_inuse_bytes; -1 when not served
	p99        time.Duration
	errors     int
}

// runSoak loads the service (/chat, non-streaming and streaming
// alternately) at a steady rate and samples RSS, CPU and goroutines
// every interval, to show whether anything grows.
func runSoak(ctx context.Context, o options, e env, bin, tmp string, core int, up *upstream) error {
	svc, err := startProc(ctx, procSpec{name: "service", argv: []string{bin}, env: serviceEnv(up.URL, filepath.Join(tmp, "svc")),
		dir: tmp, core: core, readyPath: "/health"})
	if err != nil {
		return err
	}
	defer svc.stop()
	t := &target{name: "service /chat", proc: svc, path: "/chat", body: chatBody(false), sbody: chatBody(true), client: newClient()}
	var out []soakSample
	start := time.Now()
	fmt.Fprintf(os.Stderr, "bench: soak for %s at %.0f req/s …\n", o.soak, o.soakRate)
	n := max(int(o.soak/o.soakEvery), 1)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		cpu0, err := svc.cpu()
		if err != nil {
			return err
		}
		s := &samples{}
		openLoop(ctx, o.soakRate, o.soakEvery, o.maxInFlight, t.fire(i%2 == 1), s)
		cpu1, err := svc.cpu()
		if err != nil {
			return err
		}
		rss, _ := svc.rss()
		rt := runtimeStats(ctx, svc.addr)
		smp := soakSample{at: time.Since(start), rss: rss, cpu: cpu1 - cpu0, goroutines: int(rt["go_goroutines"]),
			heap: rt["go_memstats_heap_inuse_bytes"], p99: percentile(s.lat, 99), errors: s.errors + s.overflow}
		out = append(out, smp)
		fmt.Fprintf(os.Stderr, "  %6s  rss %s MiB  goroutines %d  p99 %s ms  errors %d\n",
			smp.at.Round(time.Second), mib(smp.rss), smp.goroutines, ms(smp.p99), smp.errors)
	}
	report := renderSoak(o, e, svc, out)
	fmt.Print(report)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report), 0o644)
	}
	return nil
}

// runtimeStats reads go_goroutines and go_memstats_heap_inuse_bytes from
// the service's /metrics; a value is -1 when it is not served.
func runtimeStats(ctx context.Context, addr string) map[string]float64 {
	out := map[string]float64{"go_goroutines": -1, "go_memstats_heap_inuse_bytes": -1}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if _, want := out[name]; ok && want {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				out[name] = f
			}
		}
	}
	return out
}

func renderSoak(o options, e env, svc *proc, out []soakSample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Soak, %s\n\n", e.date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Command: `%s`; %d CPUs, %s; Go %s; pinned: %v\n", e.command, e.nproc, e.cpuModel, e.goVersion, e.pinned)
	fmt.Fprintf(&b, "- The service on /chat at %.0f req/s (open loop), streaming and non-streaming intervals alternating; idle RSS %s MiB.\n\n",
		o.soakRate, mib(svc.idle))
	b.WriteString(row("time", "RSS, MiB", "Go heap in use, MiB", "goroutines", "CPU per request, ms", "p99, ms", "errors"))
	b.WriteString(row(repeat("---", 7)...))
	perInterval := int(o.soakRate * o.soakEvery.Seconds())
	for _, s := range out {
		g, h := "n/a", "n/a"
		if s.goroutines >= 0 {
			g = strconv.Itoa(s.goroutines)
		}
		if s.heap >= 0 {
			h = mib(uint64(s.heap))
		}
		cpr := time.Duration(0)
		if perInterval > 0 {
			cpr = s.cpu / time.Duration(perInterval)
		}
		b.WriteString(row(s.at.Round(time.Second).String(), mib(s.rss), h, g, ms(cpr), ms(s.p99), strconv.Itoa(s.errors)))
	}
	b.WriteString("\n" + soakVerdict(out) + "\n")
	return b.String()
}

// soakVerdict compares the last sample with the second one (the first
// interval includes warm-up).
func soakVerdict(out []soakSample) string {
	if len(out) < 3 {
		return "Too few samples to judge growth (run at least 3 intervals)."
	}
	base, last := out[1], out[len(out)-1]
	v := fmt.Sprintf("Growth from %s to %s: RSS %+.1f MiB", base.at.Round(time.Second), last.at.Round(time.Second),
		(float64(last.rss)-float64(base.rss))/(1<<20))
	if base.goroutines >= 0 && last.goroutines >= 0 {
		v += fmt.Sprintf(", Go heap in use %+.1f MiB, goroutines %+d", (last.heap-base.heap)/(1<<20), last.goroutines-base.goroutines)
	} else {
		v += ", goroutines not measured (the service does not serve /metrics yet)"
	}
	return v + "."
}
