package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

func TestOpenRejectsBadOptions(t *testing.T) {
	db, _ := testDB(t)
	sqlite, err := store.Open(context.Background(), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	for _, tc := range []struct {
		name string
		db   *store.DB
		opt  Options
		want string
	}{
		{"sqlite", sqlite, Options{Channel: "runs"}, "PostgreSQL"},
		{"no channel", db, Options{}, "no channel"},
		{"policy", db, Options{Channel: "runs", Policy: "block"}, "policy"},
		{"lease", db, Options{Channel: "runs", Lease: time.Millisecond}, "lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.db, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestRecordNextAck(t *testing.T) {
	db, _ := testDB(t)
	q := openQ(t, db, Options{})
	record(t, q, "c", 10)
	syncQ(t, q)
	if n := rows(t, db, "windows"); n != 10 {
		t.Fatalf("%d rows after Sync, want 10", n)
	}
	var seqs []uint64
	for i := range 10 {
		e := next(t, q)
		if want := call("c", i); e.Call.ID != want.ID || e.Call.Prompt != want.Prompt || !e.Call.Start.Equal(want.Start) {
			t.Fatalf("entry %d is %+v, want %+v", i, e.Call, want)
		}
		if e.Attempts != 1 || e.Recovered || e.Group != "" || e.Appended.IsZero() {
			t.Fatalf("entry %d: attempts %d recovered %v group %q appended %v", i, e.Attempts, e.Recovered, e.Group, e.Appended)
		}
		seqs = append(seqs, e.Seq)
	}
	eventually(t, "stats reading the table", func() bool {
		st := q.Stats()
		return st.Backlog == 10 && st.Bytes > 0 && st.OldestAge > 0
	})
	if st := q.Stats(); st.InFlight != 10 || st.Appended != 10 {
		t.Fatalf("stats %+v, want 10 in flight and appended", st)
	}
	for _, s := range seqs {
		if err := q.Ack(s); err != nil {
			t.Fatal(err)
		}
	}
	syncQ(t, q)
	if n := rows(t, db, "windows"); n != 0 {
		t.Fatalf("%d rows after acking everything", n)
	}
	if st := q.Stats(); st.Acked != 10 || st.InFlight != 0 {
		t.Fatalf("stats %+v, want 10 acked, none in flight", st)
	}
	eventually(t, "an empty backlog", func() bool { return q.Stats().Backlog == 0 })
}

// TestSyncCommits: with a group-commit delay of an hour only Sync makes
// the writer commit, and Sync returns only once the rows are there.
func TestSyncCommits(t *testing.T) {
	db, _ := testDB(t)
	q := openQ(t, db, Options{BatchInterval: time.Hour, Lease: 4 * time.Hour})
	record(t, q, "s", 25)
	syncQ(t, q)
	if n := rows(t, db, "windows"); n != 25 {
		t.Fatalf("%d rows after Sync, want 25", n)
	}
}

// TestExactlyOnceTwoQueues: two instances share the table and drain it
// concurrently while both append; every record is handed out exactly
// once, and another channel's rows are nobody's business.
func TestExactlyOnceTwoQueues(t *testing.T) {
	db, _ := testDB(t)
	other := openQ(t, db, Options{Channel: "traces"})
	record(t, other, "other", 5)
	syncQ(t, other)
	a := openQ(t, db, Options{ClaimBatch: 16})
	b := openQ(t, db, Options{ClaimBatch: 16})
	const n = 2000
	var mu sync.Mutex
	seen := map[string]int{}
	total := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, q := range []*Queue{a, b, a, b, a, b} {
		wg.Go(func() {
			for {
				e, err := q.Next(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[e.Call.ID]++
				total++
				if total == n {
					cancel()
				}
				mu.Unlock()
				q.Ack(e.Seq)
			}
		})
	}
	wg.Go(func() { record(t, a, "a", n/2) })
	wg.Go(func() { record(t, b, "b", n/2) })
	wg.Wait()
	syncQ(t, a)
	syncQ(t, b)
	if len(seen) != n {
		t.Errorf("%d distinct records handed out, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 || strings.HasPrefix(id, "other") {
			t.Errorf("%s handed out %d times", id, c)
		}
	}
	if left := rows(t, db, "windows"); left != 0 {
		t.Errorf("%d rows left after every record was acked", left)
	}
	if left := rows(t, db, "traces"); left != 5 {
		t.Errorf("other channel has %d rows, want 5", left)
	}
	t.Logf("acked by a %d, by b %d", a.Stats().Acked, b.Stats().Acked)
}

// TestGroupClaimedWhole: claiming one member of a group claims all of it,
// for the other instance too; the group's acks are deleted together.
func TestGroupClaimedWhole(t *testing.T) {
	db, _ := testDB(t)
	a := openQ(t, db, Options{ClaimBatch: 1})
	record(t, a, "g", 6)
	syncQ(t, a)
	var e [4]spool.Entry
	for i := range e {
		e[i] = next(t, a)
	}
	ctx := context.Background()
	if err := a.Group(ctx, "w1", []uint64{e[1].Seq, e[3].Seq}); err != nil {
		t.Fatalf("group: %v", err)
	}
	for i := range e {
		a.Release(e[i].Seq, time.Time{})
	}
	syncQ(t, a)
	if err := a.Group(ctx, "w2", []uint64{e[0].Seq}); err == nil {
		t.Fatal("grouping a released record succeeded")
	}
	b := openQ(t, db, Options{ClaimBatch: 1})
	got := []spool.Entry{next(t, b), next(t, b), next(t, b)}
	want := []struct {
		seq   uint64
		group string
		size  int
	}{{e[0].Seq, "", 0}, {e[1].Seq, "w1", 2}, {e[3].Seq, "w1", 2}}
	for i, w := range want {
		g := got[i]
		if g.Seq != w.seq || g.Group != w.group || g.GroupSize != w.size || !g.Recovered || g.Attempts != 2 {
			t.Errorf("entry %d: seq %d group %q/%d recovered %v attempts %d; want seq %d group %q/%d, recovered, 2 attempts",
				i, g.Seq, g.Group, g.GroupSize, g.Recovered, g.Attempts, w.seq, w.group, w.size)
		}
	}
	b.Ack(got[1].Seq)
	syncQ(t, b)
	if n := rows(t, db, "windows"); n != 6 {
		t.Fatalf("%d rows after acking one of two members, want 6 (the group's acks wait for each other)", n)
	}
	b.Ack(got[2].Seq)
	syncQ(t, b)
	if n := rows(t, db, "windows"); n != 4 {
		t.Fatalf("%d rows after acking the whole group, want 4", n)
	}
}

func TestReleaseRetryAt(t *testing.T) {
	db, _ := testDB(t)
	q := openQ(t, db, Options{PollInterval: 20 * time.Millisecond})
	record(t, q, "r", 3)
	a, b, c := next(t, q), next(t, q), next(t, q)
	q.Release(a.Seq, time.Now().Add(time.Hour))
	q.Release(b.Seq, time.Time{})
	q.Release(c.Seq, time.Now().Add(300*time.Millisecond))
	syncQ(t, q)
	var later bool
	if err := db.QueryRow(`SELECT retry_at > now() + interval '50 minutes' FROM llmc_track_queue WHERE seq = $1`,
		int64(a.Seq)).Scan(&later); err != nil || !later {
		t.Fatalf("retry_at of the record released for an hour: later=%v err=%v", later, err)
	}
	if e := next(t, q); e.Seq != b.Seq || e.Attempts != 2 || e.Recovered {
		t.Fatalf("got seq %d attempts %d recovered %v, want %d again, attempt 2, not recovered", e.Seq, e.Attempts, e.Recovered, b.Seq)
	}
	if e := next(t, q); e.Seq != c.Seq || e.Attempts != 2 { // once its retry time has come
		t.Fatalf("got seq %d attempts %d, want %d again", e.Seq, e.Attempts, c.Seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if e, err := q.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next handed out seq %d (err %v) while the only record waits an hour", e.Seq, err)
	}
}

// TestBufferBound stalls the database (a table lock) with one record in
// the writer's hands; the buffer holds ten records' bytes, that one
// included, so of 100 more records the policy drops 91 of the oldest or
// refuses the last 91.
func TestBufferBound(t *testing.T) {
	one, _ := json.Marshal(call("b", 0))
	for _, tc := range []struct {
		policy           spool.Policy
		dropped, refused uint64
		kept             []int // record numbers in the table at the end
	}{
		{spool.DropOldest, 91, 0, []int{0, 92, 93, 94, 95, 96, 97, 98, 99, 100}},
		{spool.Reject, 0, 91, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			db, _ := testDB(t)
			q := openQ(t, db, Options{Policy: tc.policy, MaxBuffer: 10 * int64(len(one))})
			ctx := context.Background()
			lock, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Rollback()
			if _, err := lock.Exec(`LOCK TABLE llmc_track_queue IN ACCESS EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
			if err := q.Record(ctx, call("b", 0)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the writer waiting for the lock", func() bool {
				var n int
				db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
					AND query LIKE 'INSERT INTO llmc_track_queue%'`).Scan(&n)
				return n == 1
			})
			var refused uint64
			for i := 1; i <= 100; i++ {
				if err := q.Record(ctx, call("b", i)); errors.Is(err, track.ErrDropped) {
					refused++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			st := q.Stats()
			if st.Backlog != len(tc.kept) || st.Bytes != int64(len(tc.kept)*len(one)) {
				t.Fatalf("stats %+v while stalled; want the %d records held in memory", st, len(tc.kept))
			}
			if st.Dropped != tc.dropped || st.Rejected != tc.refused || refused != tc.refused || st.Appended != 101-tc.refused {
				t.Fatalf("stats %+v, refused %d; want dropped %d, rejected %d", st, refused, tc.dropped, tc.refused)
			}
			lock.Rollback()
			syncQ(t, q)
			var ids []string
			for range tc.kept {
				ids = append(ids, next(t, q).Call.ID)
			}
			for i, n := range tc.kept {
				if want := call("b", n).ID; ids[i] != want {
					t.Fatalf("kept %v, want records %v", ids, tc.kept)
				}
			}
			if n := rows(t, db, "windows"); n != len(tc.kept) {
				t.Fatalf("%d rows, want %d", n, len(tc.kept))
			}
		})
	}
}

// TestTableBound: past MaxBytes, Reject refuses records and DropOldest
// trims the oldest unclaimed rows.
func TestTableBound(t *testing.T) {
	one, _ := json.Marshal(call("t", 0))
	limit := 20 * int64(len(one))
	for _, tc := range []struct {
		policy           spool.Policy
		dropped, refused uint64
		oldest           int
	}{
		{spool.DropOldest, 10, 0, 10},
		{spool.Reject, 0, 10, 0},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			db, _ := testDB(t)
			q := openQ(t, db, Options{Policy: tc.policy, MaxBytes: limit, StatsInterval: 20 * time.Millisecond})
			var refused uint64
			for i := range 30 {
				if err := q.Record(context.Background(), call("t", i)); errors.Is(err, track.ErrDropped) {
					refused++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			syncQ(t, q)
			eventually(t, "the table within its bound", func() bool {
				return q.Stats().Bytes <= limit && rows(t, db, "windows") == 20
			})
			if st := q.Stats(); st.Dropped != tc.dropped || st.Rejected != tc.refused || refused != tc.refused {
				t.Fatalf("stats %+v, refused %d; want dropped %d, rejected %d", st, refused, tc.dropped, tc.refused)
			}
			if e := next(t, q); e.Call.ID != call("t", tc.oldest).ID {
				t.Fatalf("oldest left is %s, want %s", e.Call.ID, call("t", tc.oldest).ID)
			}
		})
	}
}

// TestRestartKeepsEverything: a clean Close gives back what it held; the
// next instance gets every record not acked, those in flight at Close as
// recovered, those only claimed as new.
func TestRestartKeepsEverything(t *testing.T) {
	db, _ := testDB(t)
	a, err := Open(context.Background(), db, Options{Channel: "runs", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	record(t, a, "k", 20)
	var flying []spool.Entry
	for range 5 {
		flying = append(flying, next(t, a))
	}
	a.Ack(flying[0].Seq)
	a.Ack(flying[1].Seq)
	if err := a.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := a.Record(context.Background(), call("k", 99)); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("record after close: %v", err)
	}
	b := openQ(t, db, Options{Channel: "runs"})
	for i := 2; i < 20; i++ {
		e := next(t, b)
		inFlight := i < 5
		if e.Call.ID != call("k", i).ID || e.Recovered != inFlight || e.Attempts != map[bool]int{true: 2, false: 1}[inFlight] {
			t.Fatalf("got %s recovered %v attempts %d; want %s recovered %v", e.Call.ID, e.Recovered, e.Attempts, call("k", i).ID, inFlight)
		}
	}
}

// TestTakenForDead: another instance took this one for dead (its owner
// row deleted, its rows freed) and claimed the rows; this one notices at
// its next renewal and does not hand out the rows it had not handed out
// yet, while the one in flight stays its shipper's.
func TestTakenForDead(t *testing.T) {
	db, _ := testDB(t)
	a := openQ(t, db, Options{Lease: time.Hour})
	record(t, a, "d", 5)
	syncQ(t, a)
	first := next(t, a) // claims all five, hands out one
	ctx := context.Background()
	if _, err := db.Exec(`WITH dead AS (DELETE FROM llmc_track_queue_owners WHERE owner = $1 RETURNING owner)
		UPDATE llmc_track_queue SET held = false WHERE owner = $1`, a.Owner()); err != nil {
		t.Fatal(err)
	}
	b := openQ(t, db, Options{})
	for range 5 {
		if e := next(t, b); !e.Recovered {
			t.Errorf("seq %d taken from a dead instance not marked recovered", e.Seq)
		}
	}
	lost, err := a.alive(ctx)
	if err != nil || !lost {
		t.Fatalf("alive: lost=%v err=%v, want lost", lost, err)
	}
	if err := a.forgetLost(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	held, ready := len(a.held), len(a.ready)
	a.mu.Unlock()
	if held != 1 || ready != 0 {
		t.Fatalf("after the loss a holds %d rows (%d to hand out), want only the one in flight", held, ready)
	}
	if err := a.Ack(first.Seq); err != nil {
		t.Fatal(err)
	}
	syncQ(t, a)
	if n := rows(t, db, "windows"); n != 4 {
		t.Fatalf("%d rows after the in-flight ack, want 4", n)
	}
}

// TestReleasedBelowFloor: a row another instance releases below where
// this one's claims start is still found (by the periodic claim from the
// head of the channel).
func TestReleasedBelowFloor(t *testing.T) {
	db, _ := testDB(t)
	b := openQ(t, db, Options{ClaimBatch: 1})
	record(t, b, "f", 3)
	syncQ(t, b)
	low := next(t, b)
	a := openQ(t, db, Options{ClaimBatch: 1, PollInterval: 20 * time.Millisecond})
	e1, e2 := next(t, a), next(t, a)
	if e1.Seq <= low.Seq || e2.Seq <= low.Seq {
		t.Fatalf("a got seqs %d and %d, want both above %d", e1.Seq, e2.Seq, low.Seq)
	}
	b.Release(low.Seq, time.Time{})
	syncQ(t, b)
	if e := next(t, a); e.Seq != low.Seq || !e.Recovered {
		t.Fatalf("a got seq %d (recovered %v), want the released %d, recovered", e.Seq, e.Recovered, low.Seq)
	}
}
