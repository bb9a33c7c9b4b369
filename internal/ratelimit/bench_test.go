package ratelimit

import (
	"context"
	"strconv"
	"testing"

	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
)

// A generous budget so that the benchmark measures admissions, not
// rejections; the wall clock refills it.
var benchLimits = Limits{RPM: 1 << 30, TPM: 1 << 30}

func BenchmarkMemoryAdmit(b *testing.B) {
	m := NewMemory()
	ctx := context.Background()
	for b.Loop() {
		m.Admit(ctx, "caller", benchLimits, 100)
	}
}

func BenchmarkMemoryAdmitParallel(b *testing.B) {
	m := NewMemory()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "caller-" + strconv.Itoa(i)
	}
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := 0
		for pb.Next() {
			m.Admit(ctx, keys[i%len(keys)], benchLimits, 100)
			i++
		}
	})
}

func BenchmarkRedisAdmit(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	r := NewRedis(rdb, prefix)
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.Admit(ctx, "caller", benchLimits, 100); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisAdmitParallel(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	r := NewRedis(rdb, prefix)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := r.Admit(ctx, "caller", benchLimits, 100); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
