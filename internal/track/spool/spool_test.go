package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t *testing.T, opt Options) *Spool {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quiet()
	}
	s, err := Open(opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func call(i int) track.Call {
	return track.Call{ID: fmt.Sprintf("req-%03d", i), Endpoint: "/chat", Model: "m", Prompt: strings.Repeat("p", 50), Response: "r", Success: true}
}

func record(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Record(context.Background(), call(i)); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
}

func next(t *testing.T, s *Spool) Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

// drainIDs takes every ready record out and acks it.
func drainIDs(t *testing.T, s *Spool) []string {
	t.Helper()
	var ids []string
	for s.Stats().Backlog > 0 {
		e := next(t, s)
		ids = append(ids, e.Call.ID)
		if err := s.Ack(e.Seq); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func TestReopenKeepsUnackedOnly(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	record(t, s, 0, 10)
	for range 3 {
		e := next(t, s)
		if e.Recovered || e.Attempts != 1 {
			t.Fatalf("fresh entry = %+v", e)
		}
		s.Ack(e.Seq)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	if got := s.Stats().Backlog; got != 7 {
		t.Fatalf("backlog after reopen = %d, want 7", got)
	}
	e := next(t, s)
	if !e.Recovered || e.Call.ID != "req-003" || e.Call.Prompt != call(3).Prompt {
		t.Fatalf("first after reopen = %+v", e)
	}
	s.Release(e.Seq, time.Time{})
	ids := drainIDs(t, s)
	want := []string{"req-003", "req-004", "req-005", "req-006", "req-007", "req-008", "req-009"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
}

func TestOutOfOrderAcksSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	record(t, s, 0, 10)
	var got []Entry
	for range 10 {
		got = append(got, next(t, s))
	}
	for _, i := range []int{1, 4, 6} {
		s.Ack(got[i].Seq)
	}
	s.Close()
	for round := range 2 { // the second reopen reads the compacted ack log
		s = open(t, Options{Dir: dir})
		var ids []string
		for range s.Stats().Backlog {
			e := next(t, s)
			ids = append(ids, e.Call.ID)
		}
		want := "[req-000 req-002 req-003 req-005 req-007 req-008 req-009]"
		if fmt.Sprint(ids) != want {
			t.Fatalf("round %d: ids = %v, want %s", round, ids, want)
		}
		s.Close()
	}
}

func TestTornAndCorruptLinesAreSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	record(t, s, 0, 5)
	s.Close()
	segs, _ := listSegments(dir)
	last := segs[len(segs)-1]
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	// Flip one byte inside record 2, and leave a torn half line at the end.
	lines[2] = strings.Replace(lines[2], "req-002", "req-00X", 1)
	torn := lines[4][:len(lines[4])/2]
	if err := os.WriteFile(last, []byte(strings.Join(lines, "")+torn), 0o640); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	if st := s.Stats(); st.Backlog != 4 || st.Corrupt != 2 {
		t.Fatalf("stats = %+v, want backlog 4 corrupt 2", st)
	}
	record(t, s, 5, 6)
	ids := drainIDs(t, s)
	if fmt.Sprint(ids) != "[req-000 req-001 req-003 req-004 req-005]" {
		t.Fatalf("ids = %v", ids)
	}
}

func TestFinishedSegmentsAreDeleted(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, SegmentBytes: 1024})
	record(t, s, 0, 60)
	if n := s.Stats().Segments; n < 5 {
		t.Fatalf("segments = %d, want several", n)
	}
	drainIDs(t, s)
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Segments; n != 1 {
		t.Fatalf("segments after drain = %d, want 1 (the active one)", n)
	}
	segs, _ := listSegments(dir)
	if len(segs) != 1 {
		t.Fatalf("segment files = %v", segs)
	}
	s.Close()
	s = open(t, Options{Dir: dir})
	if b := s.Stats().Backlog; b != 0 {
		t.Fatalf("backlog after reopen = %d", b)
	}
}

func TestFullPolicies(t *testing.T) {
	line := int64(len(encodeLine(1, time.Now().UnixNano(), mustJSON(t, call(0))))) + 48
	max := 5 * line
	t.Run("drop_oldest", func(t *testing.T) {
		s := open(t, Options{Dir: t.TempDir(), MaxBytes: max})
		record(t, s, 0, 12) // never fails
		st := s.Stats()
		if st.Dropped == 0 || st.Backlog+int(st.Dropped) != 12 || st.Bytes > max {
			t.Fatalf("stats = %+v", st)
		}
		ids := drainIDs(t, s)
		if ids[len(ids)-1] != "req-011" || ids[0] == "req-000" {
			t.Fatalf("kept %v, want the newest", ids)
		}
	})
	t.Run("reject", func(t *testing.T) {
		s := open(t, Options{Dir: t.TempDir(), MaxBytes: max, Policy: Reject})
		var rejected int
		for i := range 12 {
			err := s.Record(context.Background(), call(i))
			if errors.Is(err, track.ErrDropped) {
				rejected++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		st := s.Stats()
		if rejected == 0 || st.Rejected != uint64(rejected) || st.Backlog+rejected != 12 {
			t.Fatalf("rejected %d, stats %+v", rejected, st)
		}
		if ids := drainIDs(t, s); ids[0] != "req-000" {
			t.Fatalf("kept %v, want the oldest", ids)
		}
	})
	t.Run("parse", func(t *testing.T) {
		for in, want := range map[string]Policy{"": DropOldest, "drop_oldest": DropOldest, "REJECT": Reject} {
			if got, err := ParsePolicy(in); err != nil || got != want {
				t.Errorf("ParsePolicy(%q) = %v, %v", in, got, err)
			}
		}
		if _, err := ParsePolicy("block"); err == nil {
			t.Error("ParsePolicy(block) succeeded")
		}
	})
}

func mustJSON(t *testing.T, c track.Call) []byte {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReleaseDelays(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	record(t, s, 0, 2)
	a := next(t, s)
	s.Release(a.Seq, time.Now().Add(time.Hour))
	b := next(t, s)
	if b.Call.ID != "req-001" {
		t.Fatalf("got %s, want req-001 while req-000 waits", b.Call.ID)
	}
	s.Release(b.Seq, time.Time{})
	b2 := next(t, s)
	if b2.Seq != b.Seq || b2.Attempts != 2 {
		t.Fatalf("re-delivery = %+v", b2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with only a delayed record: %v", err)
	}
	if st := s.Stats(); st.Backlog != 2 || st.InFlight != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	open(t, Options{Dir: dir})
	if _, err := Open(Options{Dir: dir, Logger: quiet()}); err == nil {
		t.Fatal("second Open of the same dir succeeded")
	}
}

func TestClosedSpool(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	s.Close()
	if err := s.Record(context.Background(), call(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func TestConcurrentProducersConsumers(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), SegmentBytes: 8 << 10})
	const producers, per = 4, 250
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range per {
				if err := s.Record(context.Background(), call(p*per+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[string]int{}
	var cg sync.WaitGroup
	for range 3 {
		cg.Go(func() {
			for {
				e, err := s.Next(ctx)
				if err != nil {
					return
				}
				if e.Seq%7 == 0 && e.Attempts == 1 { // some go round again
					s.Release(e.Seq, time.Time{})
					continue
				}
				mu.Lock()
				seen[e.Call.ID]++
				mu.Unlock()
				s.Ack(e.Seq)
			}
		})
	}
	wg.Wait()
	for s.Stats().Backlog > 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	cg.Wait()
	if len(seen) != producers*per {
		t.Fatalf("delivered %d distinct, want %d", len(seen), producers*per)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, _ := filepath.Glob(filepath.Join(s.dir, "seg-*"))
	sort.Strings(entries)
	if len(entries) != 1 {
		t.Fatalf("segments left: %v", entries)
	}
}

func TestStatsOldestAge(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := open(t, Options{Dir: t.TempDir(), Now: clock})
	record(t, s, 0, 2)
	mu.Lock()
	now = now.Add(90 * time.Second)
	mu.Unlock()
	if age := s.Stats().OldestAge; age != 90*time.Second {
		t.Fatalf("oldest age = %v", age)
	}
}
