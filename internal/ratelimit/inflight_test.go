package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
)

// TestInFlight: both implementations hold at most max slots per key,
// free one on release (once, however often release is called), and keep
// keys apart; a memory lease whose release never comes expires after TTL.
func TestInFlight(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	mem := NewMemoryInFlight(time.Minute)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mem.now = func() time.Time { return now }
	for name, in := range map[string]InFlight{"memory": mem, "redis": NewRedisInFlight(rdb, prefix, time.Minute)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r1, ok1, err1 := in.Acquire(ctx, "user:a", 2)
			_, ok2, _ := in.Acquire(ctx, "user:a", 2)
			_, ok3, _ := in.Acquire(ctx, "user:a", 2)
			_, okB, _ := in.Acquire(ctx, "user:b", 2)
			if err1 != nil || !ok1 || !ok2 || ok3 || !okB {
				t.Fatalf("acquire: %v %v %v %v %v; want two slots for a, none more, b apart", err1, ok1, ok2, ok3, okB)
			}
			r1()
			r1()
			_, ok4, _ := in.Acquire(ctx, "user:a", 2)
			_, ok5, _ := in.Acquire(ctx, "user:a", 2)
			if !ok4 || ok5 {
				t.Fatalf("after one release: %v %v; want exactly one slot back", ok4, ok5)
			}
		})
	}
	now = now.Add(time.Minute)
	if _, ok, _ := mem.Acquire(context.Background(), "user:a", 2); !ok {
		t.Fatal("leases never released did not expire after their TTL")
	}
}
