package spool

import (
	"context"
	"runtime"
	"testing"
)

// benchSpool is a spool in a fresh directory, big enough never to drop,
// closed with the benchmark.
func benchSpool(b *testing.B) *Spool {
	s, err := Open(Options{Dir: b.TempDir(), MaxBytes: 4 << 30, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkRecord is the request-path cost: JSON encode + one write(2).
func BenchmarkRecord(b *testing.B) {
	s := benchSpool(b)
	c := call(1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Record(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	s := benchSpool(b)
	c := call(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Record(context.Background(), c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkIndexMemory is the heap the spool holds per waiting record
// (nothing acked): what an MLflow outage costs in memory besides disk.
func BenchmarkIndexMemory(b *testing.B) {
	s := benchSpool(b)
	c := call(1)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if err := s.Record(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/record")
	runtime.KeepAlive(s)
}

// BenchmarkReadCall is the shipper's cost per record handed out by Next:
// read the line back, check it, decode the Call.
func BenchmarkReadCall(b *testing.B) {
	s := benchSpool(b)
	c := call(1)
	c.Prompt = "Summarise this:\n\"quoted\" text, 20 words or so, with a newline and <tags>."
	if err := s.Record(context.Background(), c); err != nil {
		b.Fatal(err)
	}
	s.mu.Lock()
	e := s.all[s.head]
	f := s.segByID[e.seg].f
	s.mu.Unlock()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readCall(f, e.off, int64(e.n)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGCWithBacklog is one full collection with 100,000 undelivered
// records in the index: what an MLflow outage adds to every GC cycle of
// the service (the index holds no pointers, so the collector skips it).
func BenchmarkGCWithBacklog(b *testing.B) {
	s := benchSpool(b)
	c := call(1)
	for range 100_000 {
		if err := s.Record(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(s)
}
