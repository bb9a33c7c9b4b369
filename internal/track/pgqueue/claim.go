package pgqueue

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// Next blocks until a record is ready and hands it out; it stays in the
// table, leased to this instance, until Ack or Release. Rows are claimed
// from the table ClaimBatch at a time (a group whole) and handed out from
// memory; the members of a group come out one after another. Recovered is
// set when another instance (or an earlier process) had the row before
// and may have delivered it in part; Attempts counts claims by any
// instance. It returns ctx.Err() when ctx ends and spool.ErrClosed after
// Close.
func (q *Queue) Next(ctx context.Context) (spool.Entry, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return spool.Entry{}, spool.ErrClosed
		}
		if e, ok := q.popLocked(); ok {
			q.mu.Unlock()
			return e, nil
		}
		if !q.claiming && !time.Now().Before(q.idleUntil) {
			q.claiming = true
			q.claims.Add(1)
			q.mu.Unlock()
			q.claimOnce(ctx)
			continue
		}
		wake := q.wake
		var fire <-chan time.Time
		var timer *time.Timer
		if !q.claiming {
			timer = time.NewTimer(time.Until(q.idleUntil))
			fire = timer.C
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return spool.Entry{}, ctx.Err()
		}
	}
}

// popLocked hands out the next claimed row, skipping (and deleting) one
// whose record cannot be decoded.
func (q *Queue) popLocked() (spool.Entry, bool) {
	for len(q.ready) > 0 {
		h := q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		if q.held[h.e.Seq] != h || h.state != hReady {
			continue
		}
		e := h.e
		if err := json.Unmarshal(h.body, &e.Call); err != nil {
			q.stats.Corrupt++
			q.log.Error("pgqueue: skipping unreadable record", "channel", q.opt.Channel, "seq", e.Seq, "err", err)
			h.state = hAcked
			q.forgetGroupLocked(h)
			q.acks = append(q.acks, int64(e.Seq))
			signal(q.kick)
			continue
		}
		h.state = hInFlight
		q.inflight++
		return e, true
	}
	return spool.Entry{}, false
}

// claimOnce runs one claim and wakes the other waiters. Called with
// q.claiming set.
func (q *Queue) claimOnce(ctx context.Context) {
	got, err := q.claim(ctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	defer q.claims.Done()
	q.claiming = false
	switch {
	case err != nil && ctx.Err() == nil && !q.claimFailing:
		q.claimFailing = true
		q.log.Warn("pgqueue: claim failed; retrying every poll interval", "channel", q.opt.Channel, "err", err)
	case err == nil && q.claimFailing:
		q.claimFailing = false
		q.log.Info("pgqueue: claims succeed again", "channel", q.opt.Channel)
	}
	if len(got) == 0 {
		q.idleUntil = time.Now().Add(q.opt.PollInterval)
	}
	now := time.Now()
	for _, h := range got {
		h.claimed = now
		if old := q.held[h.e.Seq]; old != nil {
			continue // ours already: our own lease ran out and we took it again
		}
		if q.closed {
			q.releases = append(q.releases, release{seq: int64(h.e.Seq), undo: 1})
			continue
		}
		q.held[h.e.Seq] = h
		q.ready = append(q.ready, h)
		if h.e.Group != "" {
			q.groupLocked(h.e.Group).members++
		}
	}
	q.wakeLocked()
}

// claim leases ready rows (and whole groups) and returns them, the
// members of a group together, in the order of their lowest seq.
func (q *Queue) claim(ctx context.Context) ([]*held, error) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.WriteTimeout)
	defer cancel()
	q.mu.Lock()
	floor, gen := q.floor, q.floorGen
	if time.Since(q.lastFull) >= fullScanEvery {
		floor, q.lastFull = 0, time.Now()
	}
	q.mu.Unlock()
	var out []*held
	first := map[string]uint64{}
	err := q.hinted(ctx, func(tx *sql.Tx) error {
		out, first = nil, map[string]uint64{}
		rows, err := tx.QueryContext(ctx, claimSQL, q.opt.Channel, q.opt.ClaimBatch, q.opt.Owner, floor)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			h := &held{}
			var seq int64
			if err := rows.Scan(&seq, &h.body, &h.e.Appended, &h.e.Attempts, &h.e.Group, &h.e.GroupSize, &h.e.Recovered); err != nil {
				return err
			}
			h.e.Seq = uint64(seq)
			if g := h.e.Group; g != "" {
				if f, ok := first[g]; !ok || h.e.Seq < f {
					first[g] = h.e.Seq
				}
			}
			out = append(out, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("pgqueue: claim: %w", err)
	}
	if len(out) > 0 {
		low := out[0].e.Seq
		for _, h := range out {
			low = min(low, h.e.Seq)
		}
		q.mu.Lock()
		if q.floorGen == gen {
			q.floor = int64(low)
		}
		q.mu.Unlock()
	}
	key := func(h *held) uint64 {
		if h.e.Group != "" {
			return first[h.e.Group]
		}
		return h.e.Seq
	}
	slices.SortFunc(out, func(a, b *held) int {
		return cmp.Or(cmp.Compare(key(a), key(b)), cmp.Compare(a.e.Seq, b.e.Seq))
	})
	return out, nil
}

// hints keep the plans of the claim and the trim in index order whatever
// the table's statistics say: a queue table is analyzed while nearly
// empty, and then a bitmap scan and sort of every available row (O(the
// backlog) per claim) looks cheapest to the planner.
const hints = `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off`

// hinted runs f in a transaction with the planner hints.
func (q *Queue) hinted(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, hints); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// fullScanEvery is how often a claim starts at the head of the channel
// instead of at the floor: rows committed out of seq order, released by
// other instances or freed from dead ones below the floor are found then.
const fullScanEvery = time.Second

// resetFloorLocked makes the next claim start at the head: rows below the
// floor have become available (a release, a sweep). A claim under way
// does not raise the floor again.
func (q *Queue) resetFloorLocked() {
	q.floor = 0
	q.floorGen++
}

func (q *Queue) groupLocked(name string) *groupAcks {
	g := q.groups[name]
	if g == nil {
		g = &groupAcks{}
		q.groups[name] = g
	}
	return g
}

// forgetGroupLocked counts h out of its group; the group's held-back acks
// go to the writer once no held member is left.
func (q *Queue) forgetGroupLocked(h *held) {
	g := q.groups[h.e.Group]
	if h.e.Group == "" || g == nil {
		return
	}
	g.members--
	if g.members <= 0 {
		q.acks = append(q.acks, g.acks...)
		delete(q.groups, h.e.Group)
		signal(q.kick)
	}
}

// Ack marks a handed-out record delivered; the row is deleted in the next
// batch (a group's rows together, once every member this instance holds
// is acked or released). Acking an unknown or already acked seq is a
// no-op.
func (q *Queue) Ack(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return spool.ErrClosed
	}
	h := q.held[seq]
	if h == nil || h.state != hInFlight {
		return nil
	}
	h.state = hAcked
	q.inflight--
	q.stats.Acked++
	q.gen++
	if g := q.groups[h.e.Group]; h.e.Group != "" && g != nil {
		g.acks = append(g.acks, int64(seq))
		q.forgetGroupLocked(h)
	} else {
		q.acks = append(q.acks, int64(seq))
	}
	signal(q.kick)
	return nil
}

// Release gives a handed-out record back: any instance may claim it again
// from retryAt (zero: now) on. The lease is cleared in the next batch.
func (q *Queue) Release(seq uint64, retryAt time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.held[seq]
	if q.closed || h == nil || h.state != hInFlight {
		return
	}
	delete(q.held, seq)
	q.inflight--
	q.gen++
	var d time.Duration
	if !retryAt.IsZero() {
		d = max(time.Until(retryAt), 0)
	}
	q.releases = append(q.releases, release{seq: int64(seq), delay: d})
	q.forgetGroupLocked(h)
	signal(q.kick)
}

// Group records, committed before it returns, that seqs (in flight here)
// form one delivery group called name: whoever claims any of them later
// claims them all and sees Group == name, GroupSize == len(seqs). It fails,
// changing nothing, when a seq is not leased to this instance.
func (q *Queue) Group(ctx context.Context, name string, seqs []uint64) error {
	if name == "" || len(seqs) == 0 {
		return fmt.Errorf("pgqueue: group needs a name and members")
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return spool.ErrClosed
	}
	q.mu.Unlock()
	ids := make([]int64, len(seqs))
	for i, s := range seqs {
		ids[i] = int64(s)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ctx, cancel := context.WithTimeout(ctx, q.opt.WriteTimeout)
	defer cancel()
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("pgqueue: group: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, groupSQL, q.opt.Channel, name, len(ids), ids, q.opt.Owner)
	if err != nil {
		return fmt.Errorf("pgqueue: group: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
		return fmt.Errorf("pgqueue: group %q: %d of %d records are leased here", name, n, len(ids))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("pgqueue: group: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range ids {
		h := q.held[uint64(s)]
		if h == nil || h.state == hAcked || h.e.Group == name {
			continue
		}
		q.forgetGroupLocked(h) // regrouped: out of its old group
		h.e.Group, h.e.GroupSize = name, len(ids)
		q.groupLocked(name).members++
	}
	return nil
}
