package cache

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
	"github.com/redis/go-redis/v9"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func answer(text string) *llm.Response {
	return &llm.Response{
		Text: text, FinishReason: llm.FinishStop, Model: "m", Provider: "p",
		ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `{"x":1}`}},
		Usage:     llm.Usage{InputTokens: 10, OutputTokens: 5, ThinkingTokens: 2, CachedInputTokens: 3, TotalTokens: 15},
	}
}

// contract checks what every backend must do.
func contract(t *testing.T, c Cache) {
	t.Helper()
	ctx := context.Background()
	if r, ok, err := c.Get(ctx, "missing"); r != nil || ok || err != nil {
		t.Fatalf("Get(missing) = %v, %v, %v; want a miss", r, ok, err)
	}
	want := answer("hello")
	if err := c.Set(ctx, "k", want, time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, ok, err := c.Get(ctx, "k")
	if err != nil || !ok {
		t.Fatalf("Get(k) = %v, %v; want a hit", ok, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// The cache holds its own copy.
	got.ToolCalls[0].Name = "changed"
	got.Text = "changed"
	again, _, _ := c.Get(ctx, "k")
	if diff := cmp.Diff(want, again); diff != "" {
		t.Fatalf("a caller's change reached the cache (-want +got):\n%s", diff)
	}
	tests := []struct {
		name string
		r    *llm.Response
		ttl  time.Duration
		want error
	}{
		{"nil", nil, time.Minute, ErrEmpty},
		{"empty", &llm.Response{FinishReason: llm.FinishStop, Usage: llm.Usage{OutputTokens: 100}}, time.Minute, ErrEmpty},
		{"zero ttl", answer("x"), 0, errTTL},
	}
	for _, tt := range tests {
		if err := c.Set(ctx, "refused-"+tt.name, tt.r, tt.ttl); !errors.Is(err, tt.want) {
			t.Errorf("Set(%s) = %v, want %v", tt.name, err, tt.want)
		}
		if _, ok, _ := c.Get(ctx, "refused-"+tt.name); ok {
			t.Errorf("Set(%s) stored something", tt.name)
		}
	}
	// Tool calls alone are an answer.
	if err := c.Set(ctx, "tools", &llm.Response{ToolCalls: []llm.ToolCall{{Name: "f"}}}, time.Minute); err != nil {
		t.Errorf("Set(tool calls only) = %v", err)
	}
}

func TestMemoryContract(t *testing.T) { contract(t, NewMemory(100, time.Hour)) }

func TestRedisContract(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	contract(t, NewRedis(rdb, prefix))
}

func TestTolerantContract(t *testing.T) { contract(t, NewTolerant(NewMemory(100, time.Hour), nil)) }

func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(2, time.Hour)
	m.Set(ctx, "a", answer("a"), time.Minute)
	m.Set(ctx, "b", answer("b"), time.Minute)
	m.Get(ctx, "a") // a is now more recent than b
	m.Set(ctx, "c", answer("c"), time.Minute)
	for key, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if _, ok, _ := m.Get(ctx, key); ok != want {
			t.Errorf("Get(%s) hit = %v, want %v", key, ok, want)
		}
	}
	if m.Len() != 2 {
		t.Errorf("Len = %d, want 2", m.Len())
	}
}

func TestMemoryTTL(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m := newMemoryClock(10, time.Hour, clk.Now)
	m.Set(ctx, "short", answer("s"), time.Minute)
	m.Set(ctx, "long", answer("l"), 30*time.Minute)
	m.Set(ctx, "capped", answer("c"), 48*time.Hour) // capped at the hour
	steps := []struct {
		advance time.Duration
		want    map[string]bool
	}{
		{59 * time.Second, map[string]bool{"short": true, "long": true, "capped": true}},
		{time.Second, map[string]bool{"short": false, "long": true, "capped": true}},
		{29 * time.Minute, map[string]bool{"long": false, "capped": true}},
		{30 * time.Minute, map[string]bool{"capped": false}},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		for key, want := range s.want {
			if _, ok, _ := m.Get(ctx, key); ok != want {
				t.Errorf("step %d: Get(%s) hit = %v, want %v", i, key, ok, want)
			}
		}
	}
}

func TestMemoryBackgroundExpiry(t *testing.T) {
	// The LRU's own expiry (real time) purges entries: poll, no timing assert.
	ctx := context.Background()
	m := NewMemory(10, 50*time.Millisecond)
	m.Set(ctx, "k", answer("k"), time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for m.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("expired entry never purged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("hit after expiry")
	}
}

func TestRedisSharedByTwoInstances(t *testing.T) {
	rdb1, prefix := redistest.Client(t)
	one := NewRedis(rdb1, prefix)
	two := NewRedis(redistest.NewClient(t), prefix)
	ctx := context.Background()
	req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	key := Key("p", req)
	if err := one.Set(ctx, key, answer("from one"), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := two.Get(ctx, key)
	if err != nil || !ok || got.Text != "from one" {
		t.Fatalf("second instance: %v, %v, %v; want the first one's answer", got, ok, err)
	}
	ttl, err := rdb1.PTTL(ctx, prefix+key).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL = %v, %v; want within a minute", ttl, err)
	}
}

func TestRedisCorruptEntryIsAMiss(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	c := NewTolerant(NewRedis(rdb, prefix), nil)
	ctx := context.Background()
	rdb.Set(ctx, prefix+"bad", "{not json", time.Minute)
	if _, ok, err := c.Get(ctx, "bad"); ok || err != nil {
		t.Fatalf("corrupt entry: hit=%v err=%v, want a miss", ok, err)
	}
	if c.Degraded() {
		t.Fatal("a corrupt entry marked the backend down")
	}
	if n, _ := rdb.Exists(ctx, prefix+"bad").Result(); n != 0 {
		t.Fatal("corrupt entry not deleted")
	}
}

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

func TestTolerantRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	// A password in the URL (the server's default user accepts any) must
	// never reach a log line.
	o := redistest.Options(t, "redis://:s3cret-pw@"+srv.Addr()+"/0")
	rdb := redis.NewClient(o)
	defer rdb.Close()
	var logs lockedBuffer
	c := NewTolerant(NewRedis(rdb, "c:"), slog.New(slog.NewTextHandler(&logs, nil)))
	c.Cooldown = 20 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := c.Set(ctx, "k", answer("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, "k"); !ok {
		t.Fatal("miss with redis up")
	}
	srv.Stop()
	for i := range 20 {
		if r, ok, err := c.Get(ctx, "k"); ok || err != nil || r != nil {
			t.Fatalf("get %d during outage: %v, %v, %v; want a plain miss", i, r, ok, err)
		}
		if err := c.Set(ctx, "k2", answer("b"), time.Minute); err != nil {
			t.Fatalf("set %d during outage: %v", i, err)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("a call hung until the test deadline")
	}
	if !c.Degraded() {
		t.Fatal("Degraded() = false during the outage")
	}
	if n := strings.Count(logs.String(), "response cache unavailable"); n != 1 {
		t.Fatalf("%d warnings, want 1 (rate-limited):\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "s3cret-pw") {
		t.Fatal("secret in the log")
	}

	srv.Restart() // empty: no persistence
	for {
		c.Set(ctx, "k", answer("after"), time.Minute)
		if r, ok, _ := c.Get(ctx, "k"); ok && r.Text == "after" {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("cache did not recover after redis came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c.Degraded() || !strings.Contains(logs.String(), "response cache backend is back") {
		t.Fatalf("not recovered: degraded=%v\n%s", c.Degraded(), logs.String())
	}
}

// broken is a backend that always fails.
type broken struct{}

func (broken) Get(context.Context, string) (*llm.Response, bool, error) {
	return nil, false, errors.New("boom")
}

func (broken) Set(context.Context, string, *llm.Response, time.Duration) error {
	return errors.New("boom")
}

func TestTolerantBrokenBackend(t *testing.T) {
	var logs lockedBuffer
	c := NewTolerant(broken{}, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	for range 5 {
		if _, ok, err := c.Get(ctx, "k"); ok || err != nil {
			t.Fatalf("Get = %v, %v; want a miss", ok, err)
		}
		if err := c.Set(ctx, "k", answer("a"), time.Minute); err != nil {
			t.Fatalf("Set = %v", err)
		}
	}
	if err := c.Set(ctx, "k", &llm.Response{}, time.Minute); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Set(empty) = %v, want ErrEmpty", err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

func TestTolerantCanceledCallerIsNotAnOutage(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	c := NewTolerant(NewRedis(rdb, prefix), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Get(ctx, "k")
	if c.Degraded() {
		t.Fatal("a canceled caller marked the cache down")
	}
}
