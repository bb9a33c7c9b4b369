package main

import (
	"context"

	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The service's GC defaults (each overridable: an explicit GOGC or
// GOMEMLIMIT in the environment wins and turns the tuner off).
//
// GOGC=300: the live heap of a gateway is a few MiB, and Go's default
// GOGC=100 collects many times a second under load; fewer collections
// cost less CPU per request. Alone it let the heap reach four times the
// live heap (RSS ~48 MiB at 64 connections in the load benchmark, where
// ~20 MiB of the RSS is the binary's mapped code). So a soft memory limit
// (debug.SetMemoryLimit) caps the Go memory at defaultMemoryFloor while
// the live heap is small; the tuner raises it with the live heap, never
// below what GOGC=100 would allow (2 × live heap + the runtime's other
// memory), so a service holding many streams collects as Go's default
// would, never in a loop against a limit. The floor was 20 MiB until the
// request path allocated less (issue 17), then 16 MiB; at 64 connections
// that floor is what binds, and Go's non-heap memory (GC metadata,
// stacks, the profiler's table: ~8.4 MiB) left about 2 MiB of heap
// between collections: 150 a second, a fifth of the CPU at saturation.
// 18 MiB, paid for by SQLite's smaller page caches (store.pageCacheKiB),
// gave 1.30–1.32× the bare proxy's CPU per request at saturation instead
// of 1.68–1.71× at 1.1 MiB less RSS (38.4 MiB; BENCHMARKS.md, issue 17's
// eighth round).
const (
	defaultGCPercent   = 300
	defaultMemoryFloor = 18 << 20
	memTuneEvery       = 250 * time.Millisecond
)

// memoryLimitFor is the soft limit for a live heap of live bytes and
// other bytes of non-heap Go memory (stacks, runtime structures).
func memoryLimitFor(live, other uint64) int64 {
	return int64(max(defaultMemoryFloor, 2*live+other))
}

// gcDefaults applies the defaults above unless the environment sets
// GOGC or GOMEMLIMIT, and returns the tuner to run (nil: none).
func gcDefaults(getenv func(string) string) func(ctx context.Context) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return nil
	}
	debug.SetGCPercent(defaultGCPercent)
	s := newMemSample()
	debug.SetMemoryLimit(s.limit())
	return func(ctx context.Context) {
		t := time.NewTicker(memTuneEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				debug.SetMemoryLimit(s.limit())
			}
		}
	}
}

// memSample reads the runtime metrics the limit depends on.
type memSample struct{ m []metrics.Sample }

var memMetrics = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
}

func newMemSample() *memSample {
	s := &memSample{m: make([]metrics.Sample, len(memMetrics))}
	for i, name := range memMetrics {
		s.m[i].Name = name
	}
	return s
}

func (s *memSample) limit() int64 {
	metrics.Read(s.m)
	v := make([]uint64, len(s.m))
	for i := range s.m {
		if s.m[i].Value.Kind() == metrics.KindUint64 {
			v[i] = s.m[i].Value.Uint64()
		}
	}
	heap := v[2] + v[3] + v[4] + v[5]
	other := uint64(0)
	if v[1] > heap {
		other = v[1] - heap
	}
	return memoryLimitFor(v[0], other)
}
