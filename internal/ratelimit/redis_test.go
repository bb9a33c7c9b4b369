package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
	"github.com/redis/go-redis/v9"
)

// near reports whether got is in (want-slack, want]: real time passes
// between the calls of a Redis test, which can only shorten a wait.
func near(got, want time.Duration) bool {
	const slack = 5 * time.Second
	return got <= want && got > want-slack
}

func TestRedisTwoInstancesOneLimit(t *testing.T) {
	rdb1, prefix := redistest.Client(t)
	rdb2 := redistest.NewClient(t)
	instances := []*Redis{NewRedis(rdb1, prefix), NewRedis(rdb2, prefix)}
	tests := []struct {
		name   string
		limits Limits
		tokens int
		n      int // the number that must pass
	}{
		{"requests", Limits{RPM: 50}, 0, 50},
		{"tokens", Limits{RPM: 10_000, TPM: 1000}, 40, 25},
		{"both, requests bind first", Limits{RPM: 30, TPM: 1000}, 10, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ok, rejected atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 4*tt.n)
			for i := range 2 * tt.n {
				lim := instances[i%2]
				wg.Go(func() {
					d, err := lim.Admit(context.Background(), tt.name, tt.limits, tt.tokens)
					switch {
					case err != nil:
						errs <- err
					case d.Allowed:
						ok.Add(1)
					default:
						rejected.Add(1)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("Admit: %v", err)
			}
			// Refill during the test is at most a few units at these rates
			// only if the test stalls for seconds; the budget is one minute.
			if ok.Load() != int64(tt.n) {
				t.Fatalf("allowed %d of %d across two instances, want exactly %d", ok.Load(), 2*tt.n, tt.n)
			}
		})
	}
}

func TestRedisDecisionValues(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	r := NewRedis(rdb, prefix)
	ctx := context.Background()
	l := Limits{RPM: 3, TPM: 1000}

	d, err := r.Admit(ctx, "k", l, 600)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || d.Requests.Limit != 3 || d.Requests.Remaining != 2 || !near(d.Requests.Reset, 20*time.Second) ||
		d.Tokens.Limit != 1000 || d.Tokens.Remaining != 400 || !near(d.Tokens.Reset, 36*time.Second) {
		t.Fatalf("first decision: %+v", d)
	}
	d, _ = r.Admit(ctx, "k", l, 500)
	if d.Allowed || d.Limit != LimitTokens || !near(d.RetryAfter, 6*time.Second) || d.Requests.Remaining != 2 {
		t.Fatalf("over the token budget: %+v, want rejected on tokens, retry ≈6s, nothing charged", d)
	}
	r.Admit(ctx, "k", l, 0)
	r.Admit(ctx, "k", l, 0)
	d, _ = r.Admit(ctx, "k", l, 0)
	if d.Allowed || d.Limit != LimitRequests || !near(d.RetryAfter, 20*time.Second) || d.Requests.Remaining != 0 {
		t.Fatalf("over the request budget: %+v", d)
	}
	// The key expires once both budgets are full again.
	ttl, err := rdb.PTTL(ctx, prefix+"k").Result()
	if err != nil || ttl <= 0 || ttl > Window+2*time.Second {
		t.Fatalf("key TTL = %v, %v; want within a minute", ttl, err)
	}
}

func TestRedisReconcile(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	r1 := NewRedis(rdb, prefix)
	r2 := NewRedis(redistest.NewClient(t), prefix)
	ctx := context.Background()
	l := Limits{TPM: 1000}

	if d, _ := r1.Admit(ctx, "refund", l, 1000); !d.Allowed {
		t.Fatalf("first admit rejected: %+v", d)
	}
	if d, _ := r2.Admit(ctx, "refund", l, 500); d.Allowed {
		t.Fatal("budget spent, yet admitted")
	}
	if err := r1.Reconcile(ctx, "refund", l, 1000, 300); err != nil {
		t.Fatal(err)
	}
	d, _ := r2.Admit(ctx, "refund", l, 500)
	if !d.Allowed || d.Tokens.Remaining < 200 || d.Tokens.Remaining > 210 {
		t.Fatalf("after a refund of 700 the other instance should admit 500: %+v", d)
	}

	r1.Admit(ctx, "over", l, 100)
	if err := r1.Reconcile(ctx, "over", l, 100, 1600); err != nil {
		t.Fatal(err)
	}
	d, _ = r2.Admit(ctx, "over", l, 0)
	if d.Allowed || d.Tokens.Remaining != 0 || !near(d.Tokens.Reset, 96*time.Second) || !near(d.RetryAfter, 36*time.Second) {
		t.Fatalf("after over-use the budget is in debt (even a 0-token request waits): %+v", d)
	}
	d, _ = r2.Admit(ctx, "over", l, 1)
	if d.Allowed || d.Limit != LimitTokens || !near(d.RetryAfter, 36*time.Second+60*time.Millisecond) {
		t.Fatalf("debt should delay the next request by ≈36s: %+v", d)
	}
}

func TestRedisOverridesAndKeys(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	r := NewRedis(rdb, prefix)
	p := Policy{Default: Limits{RPM: 2}, Overrides: map[string]Limits{"vip": {RPM: 4}}}
	allowed := map[string]int{}
	for range 6 {
		for _, k := range []string{"alice", "vip"} {
			d, err := r.Admit(context.Background(), k, p.For(k), 0)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				allowed[k]++
			}
		}
	}
	if allowed["alice"] != 2 || allowed["vip"] != 4 {
		t.Fatalf("allowed %v, want alice 2, vip 4", allowed)
	}
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestFallbackOutage(t *testing.T) {
	for _, policy := range []FailPolicy{FailOpen, FailClosed} {
		t.Run(policy.String(), func(t *testing.T) {
			srv := redistest.Start(t)
			rdb := srv.Client()
			var logs lockedBuffer
			fb := WithFallback(NewRedis(rdb, "rl:"), NewMemory(), policy, slog.New(slog.NewTextHandler(&logs, nil)))
			fb.Cooldown = 20 * time.Millisecond
			l := Limits{RPM: 3}
			// Bound every call: a hang fails the test instead of stalling it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			if d, err := fb.Admit(ctx, "k", l, 0); err != nil || !d.Allowed {
				t.Fatalf("with redis up: %+v, %v", d, err)
			}
			srv.Stop()
			allowed, failures := 0, 0
			for range 10 {
				d, err := fb.Admit(ctx, "k", l, 0)
				switch {
				case err != nil:
					failures++
					if !errors.Is(err, ErrUnavailable) || llm.KindOf(err) != llm.KindUnavailable {
						t.Fatalf("outage error = %v (kind %v), want ErrUnavailable, KindUnavailable", err, llm.KindOf(err))
					}
				case d.Allowed:
					allowed++
				}
			}
			if ctx.Err() != nil {
				t.Fatal("a call hung until the test deadline")
			}
			switch policy {
			case FailOpen:
				// Counted locally: the local limiter admits its own 3.
				if failures != 0 || allowed != 3 {
					t.Fatalf("fail-open during outage: %d allowed, %d errors; want 3 allowed, 0 errors", allowed, failures)
				}
			case FailClosed:
				if failures != 10 {
					t.Fatalf("fail-closed during outage: %d errors of 10", failures)
				}
			}
			if !fb.Degraded() {
				t.Fatal("Degraded() = false during the outage")
			}
			if n := strings.Count(logs.String(), "rate limiter backend unavailable"); n != 1 {
				t.Fatalf("%d outage warnings, want 1 (rate-limited):\n%s", n, logs.String())
			}

			srv.Restart()
			waitRecovered(t, ctx, fb, l)
			// Decisions are Redis's again: the state is in the new server.
			if n, err := rdb.Exists(ctx, "rl:k").Result(); err != nil || n != 1 {
				t.Fatalf("after recovery the key is not in redis: %d, %v", n, err)
			}
			if !strings.Contains(logs.String(), "rate limiter backend is back") {
				t.Fatalf("no recovery notice:\n%s", logs.String())
			}
		})
	}
}

// waitRecovered admits until the Fallback uses its primary again.
func waitRecovered(t *testing.T, ctx context.Context, fb *Fallback, l Limits) {
	t.Helper()
	for {
		_, err := fb.Admit(ctx, "k", l, 0)
		if err == nil && !fb.Degraded() {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the limiter did not recover after redis came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisErrorsCarryNoSecret(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	o := redistest.Options(t, "redis://:s3cret-pw@"+srv.Addr()+"/0")
	rdb := redis.NewClient(o)
	defer rdb.Close()
	var logs lockedBuffer
	fb := WithFallback(NewRedis(rdb, "rl:"), nil, FailClosed, slog.New(slog.NewTextHandler(&logs, nil)))
	_, err := fb.Admit(context.Background(), "k", Limits{RPM: 1}, 0)
	if err == nil {
		t.Fatal("no error with redis down")
	}
	for _, s := range []string{err.Error(), llm.PublicMessage(err), logs.String()} {
		if strings.Contains(s, "s3cret-pw") {
			t.Fatalf("secret leaked: %q", s)
		}
	}
	if got := llm.PublicMessage(err); got != "rate limiter unavailable" {
		t.Fatalf("public message %q", got)
	}
}

func TestFallbackCanceledCallerIsNotAnOutage(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fb := WithFallback(NewRedis(rdb, prefix), nil, FailClosed, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fb.Admit(ctx, "k", Limits{RPM: 1}, 0); err == nil {
		t.Fatal("canceled context: no error")
	}
	if fb.Degraded() {
		t.Fatal("a canceled caller marked redis down")
	}
}
