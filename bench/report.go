package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func mib(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// row renders one Markdown table row.
func row(cells ...string) string { return "| " + strings.Join(cells, " | ") + " |\n" }

func renderReport(o options, e env, res *results, ps []*proc) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Load benchmark, %s\n\n", e.date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Command: `%s`\n", e.command)
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, Linux %s; load average at start: %s\n", e.nproc, e.cpuModel, e.kernel, e.loadAvg)
	fmt.Fprintf(&b, "- Go: %s\n", e.goVersion)
	if e.pinned {
		b.WriteString("- Pinning: floor and service processes on core 1 (`taskset -c 1`), load generator and fake upstream on core 0.\n")
	} else {
		b.WriteString("- Pinning: none (taskset missing, one CPU, or -pin=false): numbers include contention with the generator.\n")
	}
	fmt.Fprintf(&b, "- Fake upstream in the generator process: %s. Loopback only.\n", e.upstreamNote)
	fmt.Fprintf(&b, "- Each measurement: %s per column, in %d interleaved slices (columns rotate every round).\n", o.d, o.rounds)
	b.WriteString("- Latency is measured from each request's scheduled send time (open loop, no coordinated omission), to the last byte;\n" +
		"  streaming time to first token (TTFT: the first answer text byte; a bare proxy passes OpenAI's empty role chunk on at once). CPU per request = (utime+stime of the process over the slices) / requests,\n" +
		"  10 ms tick resolution; for the MLflow columns it includes shipping the records (the slice waits for the backlog to drain).\n\n")

	b.WriteString(row(append([]string{"metric"}, names(res.targets)...)...))
	b.WriteString(row(repeat("---", len(res.targets)+1)...))
	for j, m := range res.measures {
		b.WriteString(measureRows(res, j, m))
	}
	errs, firsts := []string{"errors / overflow"}, []string{}
	for i := range res.targets {
		n, ov, first := 0, 0, ""
		for _, s := range res.s[i] {
			n, ov = n+s.errors, ov+s.overflow
			if first == "" {
				first = s.firstErr
			}
		}
		errs = append(errs, fmt.Sprintf("%d / %d", n, ov))
		if first != "" {
			firsts = append(firsts, fmt.Sprintf("First error of %s: `%.200s`\n", res.targets[i].name, first))
		}
	}
	b.WriteString(row(errs...))
	b.WriteString("\n")
	for _, f := range firsts {
		b.WriteString(f)
	}
	b.WriteString(comparison(res))
	b.WriteString("\n")
	b.WriteString(memoryTable(res, ps))
	if res.drainErr != nil {
		fmt.Fprintf(&b, "\nTracking drain: %v\n", res.drainErr)
	}
	return b.String()
}

func names(ts []*target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.name
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func measureRows(res *results, j int, m measure) string {
	var b strings.Builder
	cells := func(label string, f func(s *samples) string) {
		c := []string{label}
		for i := range res.targets {
			c = append(c, f(res.s[i][j]))
		}
		b.WriteString(row(c...))
	}
	switch {
	case m.rate == 0:
		cells("max throughput, req/s ("+m.name+")", func(s *samples) string { return fmt.Sprintf("%.0f", s.throughput()) })
		cells("  CPU per request at max throughput, ms", func(s *samples) string { return ms(s.cpuPerRequest()) })
	case m.stream:
		cells("streaming TTFT p50 / p99, ms ("+m.name+")", func(s *samples) string {
			return ms(percentile(s.ttfb, 50)) + " / " + ms(percentile(s.ttfb, 99))
		})
		cells(fmt.Sprintf("  CPU per streamed request at %.0f req/s, ms", m.rate), func(s *samples) string { return ms(s.cpuPerRequest()) })
		cells("  read+write system calls per streamed request", func(s *samples) string { return s.syscallsPerRequest() })
		cells("  context switches per streamed request", func(s *samples) string { return s.switchesPerRequest() })
	default:
		cells("p50 / p99, ms ("+m.name+")", func(s *samples) string {
			return ms(percentile(s.lat, 50)) + " / " + ms(percentile(s.lat, 99))
		})
		cells(fmt.Sprintf("  CPU per request at %.0f req/s, ms", m.rate), func(s *samples) string { return ms(s.cpuPerRequest()) })
	}
	return b.String()
}

// comparison states each service column against its floor, for the
// issue's targets.
func comparison(res *results) string {
	var b strings.Builder
	b.WriteString(row("service column vs its floor", "CPU/request ratio, max throughput (non-stream)", "CPU/request ratio (highest fixed rate, non-stream)",
		"added p99 at highest fixed rate, ms", "median over slices: CPU ratio / added p99, ms", "CPU/request ratio, streaming: pooled / median over slices", "added streaming TTFT p50, ms"))
	b.WriteString(row(repeat("---", 7)...))
	mx, hi, st := -1, -1, -1
	for j, m := range res.measures {
		switch {
		case m.rate == 0:
			mx = j
		case m.stream:
			st = j
		case hi < 0 || m.rate > res.measures[hi].rate:
			hi = j
		}
	}
	for i, t := range res.targets {
		f := floorOf(res.targets, i)
		if f < 0 || mx < 0 || hi < 0 || st < 0 {
			continue
		}
		svc, flo := res.s[i][hi], res.s[f][hi]
		addP99 := percentile(svc.lat, 99) - percentile(flo.lat, 99)
		addTTFB := percentile(res.s[i][st].ttfb, 50) - percentile(res.s[f][st].ttfb, 50)
		medRatio, medP99 := sliceMedians(svc.slices, flo.slices)
		stMed, _ := sliceMedians(res.s[i][st].slices, res.s[f][st].slices)
		b.WriteString(row(t.name+" vs "+res.targets[f].name, cpuRatio(res.s[i][mx], res.s[f][mx]), cpuRatio(svc, flo), ms(addP99),
			fmt.Sprintf("%.2f× / %s", medRatio, ms(medP99)), fmt.Sprintf("%s / %.2f×", cpuRatio(res.s[i][st], res.s[f][st]), stMed), ms(addTTFB)))
	}
	b.WriteString("\nThe median columns compare each slice of a service column with the floor's slice of the same round\n" +
		"(adjacent in time) and take the median over the rounds, so that a burst of noise on this shared machine\n" +
		"in one slice does not decide the comparison; the pooled columns are over all requests of all slices.\n")
	return b.String()
}

// cpuRatio is the CPU per request of svc over flo's.
func cpuRatio(svc, flo *samples) string {
	if c := flo.cpuPerRequest(); c > 0 {
		return fmt.Sprintf("%.2f×", float64(svc.cpuPerRequest())/float64(c))
	}
	return "n/a"
}

// sliceMedians pairs the slices of a service column with the floor's of
// the same round and returns the median CPU-per-request ratio and the
// median added p99.
func sliceMedians(svc, flo []sliceStat) (ratio float64, addP99 time.Duration) {
	var ratios []float64
	var adds []time.Duration
	for r := range min(len(svc), len(flo)) {
		s, f := svc[r], flo[r]
		if s.done > 0 && f.done > 0 && f.cpu > 0 {
			ratios = append(ratios, (float64(s.cpu)/float64(s.done))/(float64(f.cpu)/float64(f.done)))
		}
		adds = append(adds, s.p99-f.p99)
	}
	return median(ratios), median(adds)
}

// median sorts xs in place and returns its median; 0 when empty.
func median[T float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + m) / 2
	}
	return m
}

func memoryTable(res *results, ps []*proc) string {
	var b strings.Builder
	b.WriteString(row("process", "idle RSS, MiB (after start)", "RSS at 64 connections, MiB (max sampled)",
		"of it anonymous (heap, stacks), MiB (max sampled)", "RSS while streaming, MiB (max sampled)",
		"peak RSS (VmHWM), MiB", "RSS at the end, MiB"))
	b.WriteString(row(repeat("---", 7)...))
	for _, p := range ps {
		if p == nil {
			continue
		}
		hwm, _ := p.hwm()
		end, _ := p.rss()
		pk := res.rss64[p]
		b.WriteString(row(p.name, mib(p.idle), mib(pk.total), mib(pk.anon), mib(res.rssStream[p].total), mib(hwm), mib(end)))
	}
	return b.String()
}
