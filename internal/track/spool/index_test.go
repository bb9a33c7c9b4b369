package spool

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// The index of undelivered records holds no pointer: a backlog of them is
// memory the collector does not scan (BenchmarkGCWithBacklog).
func TestIndexHoldsNoPointers(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[entry](), reflect.TypeFor[retry]()} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			switch f.Type.Kind() {
			case reflect.Bool, reflect.Uint8, reflect.Int32, reflect.Uint32, reflect.Int64, reflect.Uint64:
			default:
				t.Errorf("%s.%s is a %s: the index must stay pointer-free", typ.Name(), f.Name, f.Type)
			}
		}
	}
}

// minHeap against a sorted slice, over random pushes and pops.
func TestMinHeapOrders(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h timeHeap
	var want []retry
	for step := range 20_000 {
		if len(want) == 0 || r.IntN(3) > 0 {
			v := retry{at: r.Int64N(500), seq: uint64(step)}
			h.push(v)
			i := sort.Search(len(want), func(i int) bool { return retryLess(v, want[i]) })
			want = slices.Insert(want, i, v)
			continue
		}
		top, ok := h.peek()
		if got := h.pop(); !ok || got != want[0] || top != got {
			t.Fatalf("step %d: pop %+v (peek %+v), want %+v", step, got, top, want[0])
		}
		want = want[1:]
	}
	if h.Len() != len(want) {
		t.Fatalf("len %d, want %d", h.Len(), len(want))
	}
}

// Released records come out lowest seq first, delayed ones once due, and
// records acked while waiting never come out.
func TestReleasedRecordsComeBackInOrder(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	s := open(t, Options{Dir: t.TempDir(), Now: now})
	record(t, s, 0, 200)
	var seqs []uint64
	for range 200 {
		seqs = append(seqs, next(t, s).Seq)
	}
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(seqs), func(i, j int) { seqs[i], seqs[j] = seqs[j], seqs[i] })
	later := now().Add(time.Hour)
	var ready, delayed []uint64
	for i, seq := range seqs {
		switch i % 3 {
		case 0:
			s.Release(seq, time.Time{})
			ready = append(ready, seq)
		case 1:
			s.Release(seq, later)
			delayed = append(delayed, seq)
		default:
			if err := s.Ack(seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, phase := range []struct {
		name string
		want []uint64
	}{{"released", ready}, {"delayed, once due", delayed}} {
		sort.Slice(phase.want, func(i, j int) bool { return phase.want[i] < phase.want[j] })
		for _, want := range phase.want {
			if e := next(t, s); e.Seq != want || e.Attempts != 2 {
				t.Fatalf("%s: handed out seq %d (attempt %d), want %d", phase.name, e.Seq, e.Attempts, want)
			}
			if err := s.Ack(want); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if e, err := s.Next(ctx); err == nil {
			t.Fatalf("%s: seq %d came out beyond the expected", phase.name, e.Seq)
		}
		cancel()
		clock.Store(later.UnixNano())
	}
	if st := s.Stats(); st.Backlog != 0 || st.InFlight != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// Sync flushes at once: it does not wait out a long group-commit delay.
func TestSyncDoesNotWaitForTheGroupCommit(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), SyncInterval: time.Hour})
	record(t, s, 0, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("Sync with an hour's group-commit delay: %v", err)
	}
	e := next(t, s)
	if err := s.Ack(e.Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("Sync of an ack: %v", err)
	}
}

// TestIndexAgainstModel runs random records, hand-outs, acks, releases
// and reopens against a map of what is undelivered: Next hands out the
// lowest ready record, Stats agree, and a reopen keeps exactly the
// undelivered ones. Small segments make rotation and deletion, and
// enough records the index's compaction, happen on the way.
func TestIndexAgainstModel(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir, SegmentBytes: 8 << 10}
	s := open(t, opt)
	r := rand.New(rand.NewPCG(5, 6))
	undelivered := map[uint64]bool{} // seq → in flight
	byID := map[uint64]string{}      // seq → the call's ID
	id, seq := 0, uint64(1)          // seqs start at 1 and go up by one, across reopens
	lowestReady := func() (uint64, bool) {
		var lo uint64
		found := false
		for seq, inFlight := range undelivered {
			if !inFlight && (!found || seq < lo) {
				lo, found = seq, true
			}
		}
		return lo, found
	}
	for step := range 6000 {
		switch k := r.IntN(100); {
		case k < 45:
			record(t, s, id, id+1)
			undelivered[seq], byID[seq] = false, call(id).ID
			id, seq = id+1, seq+1
		case k < 75:
			want, ok := lowestReady()
			if !ok {
				continue
			}
			e := next(t, s)
			if e.Seq != want || e.Call.ID != byID[want] {
				t.Fatalf("step %d: handed out %d (%s), want %d (%s)", step, e.Seq, e.Call.ID, want, byID[want])
			}
			undelivered[e.Seq] = true
		case k < 99:
			for seq, inFlight := range undelivered {
				if !inFlight {
					continue
				}
				if r.IntN(3) == 0 {
					s.Release(seq, time.Time{})
					undelivered[seq] = false
				} else {
					if err := s.Ack(seq); err != nil {
						t.Fatal(err)
					}
					delete(undelivered, seq)
				}
				break
			}
		default: // reopen: in-flight records come back ready
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, opt)
			for seq := range undelivered {
				undelivered[seq] = false
			}
		}
		inFlight := 0
		for _, f := range undelivered {
			if f {
				inFlight++
			}
		}
		if st := s.Stats(); st.Backlog != len(undelivered) || st.InFlight != inFlight {
			t.Fatalf("step %d: stats %+v, model has %d undelivered, %d in flight", step, st, len(undelivered), inFlight)
		}
	}
	for seq, inFlight := range undelivered {
		if inFlight {
			s.Release(seq, time.Time{})
		}
	}
	for s.Stats().Backlog > 0 {
		e := next(t, s)
		if _, ok := undelivered[e.Seq]; !ok || byID[e.Seq] != e.Call.ID {
			t.Fatalf("seq %d (%s) came out: delivered already, or recorded as %s", e.Seq, e.Call.ID, byID[e.Seq])
		}
		delete(undelivered, e.Seq)
		if err := s.Ack(e.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if len(undelivered) != 0 {
		t.Fatalf("%d records the model holds never came out", len(undelivered))
	}
}
