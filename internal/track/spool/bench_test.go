package spool

import (
	"context"
	"testing"
)

// BenchmarkRecord is the request-path cost: JSON encode + one write(2).
func BenchmarkRecord(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), MaxBytes: 4 << 30, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
	s, err := Open(Options{Dir: b.TempDir(), MaxBytes: 4 << 30, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
