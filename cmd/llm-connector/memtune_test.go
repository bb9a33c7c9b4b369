package main

import (
	"runtime/debug"
	"testing"
)

func TestMemoryLimitFollowsLiveHeap(t *testing.T) {
	for _, tc := range []struct {
		live, other uint64
		want        int64
	}{
		{0, 0, defaultMemoryFloor},
		{4 << 20, 3 << 20, defaultMemoryFloor},          // small heap: the floor caps it
		{40 << 20, 5 << 20, 85 << 20},                   // large heap: never tighter than GOGC=100
		{defaultMemoryFloor / 2, 0, defaultMemoryFloor}, // the crossover
	} {
		if got := memoryLimitFor(tc.live, tc.other); got != tc.want {
			t.Errorf("memoryLimitFor(%d, %d) = %d, want %d", tc.live, tc.other, got, tc.want)
		}
	}
}

func TestGCDefaultsYieldToEnvironment(t *testing.T) {
	for _, env := range []map[string]string{{"GOGC": "100"}, {"GOMEMLIMIT": "1GiB"}} {
		if tune := gcDefaults(func(k string) string { return env[k] }); tune != nil {
			t.Errorf("env %v: the tuner runs, want the environment's setting alone", env)
		}
	}
	gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	defer func() { debug.SetGCPercent(gc); debug.SetMemoryLimit(limit) }()
	if tune := gcDefaults(func(string) string { return "" }); tune == nil {
		t.Fatal("no tuner without GOGC and GOMEMLIMIT")
	}
	if got := debug.SetGCPercent(gc); got != defaultGCPercent {
		t.Errorf("GOGC = %d, want %d", got, defaultGCPercent)
	}
	s := newMemSample()
	if got := debug.SetMemoryLimit(limit); got < defaultMemoryFloor || got > s.limit()*2 {
		t.Errorf("memory limit = %d, want between the floor %d and about the tuner's %d", got, defaultMemoryFloor, s.limit())
	}
}
