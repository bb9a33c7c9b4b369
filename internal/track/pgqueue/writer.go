package pgqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// writer commits the buffer, acks and releases in batches, at most
// BatchInterval after the first of them, backing off while the database
// fails (everything stays queued in memory).
func (q *Queue) writer() {
	defer q.wg.Done()
	delay := q.opt.BatchInterval
	failing := false
	for {
		urgent := false
		select {
		case <-q.stop:
			return
		case <-q.kick:
		case <-q.now:
			urgent = true
		}
		if !urgent {
			t := time.NewTimer(q.opt.BatchInterval)
			select {
			case <-q.stop:
				t.Stop()
				return
			case <-t.C:
			case <-q.now:
				t.Stop()
			}
		}
		err := q.flush(context.Background())
		if err == nil {
			if failing {
				q.log.Info("pgqueue: writes succeed again", "channel", q.opt.Channel)
			}
			failing, delay = false, q.opt.BatchInterval
			continue
		}
		if !failing {
			q.log.Warn("pgqueue: write failed; records stay buffered", "channel", q.opt.Channel, "err", err)
		}
		failing = true
		select {
		case <-q.stop:
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
		signal(q.kick)
	}
}

// flush writes everything queued now: records, then acks, then releases.
// What fails goes back to the front of its queue.
func (q *Queue) flush(ctx context.Context) error {
	q.mu.Lock()
	batch, acks, rels, gen := q.buf, q.acks, q.releases, q.gen
	q.buf, q.acks, q.releases = nil, nil, nil
	q.writing, q.writingN, q.bufBytes = q.bufBytes, len(batch), 0
	q.mu.Unlock()

	written, insErr := q.insert(ctx, batch)
	var deleted int64
	var ackErr, relErr error
	if len(acks) > 0 {
		deleted, ackErr = q.exec(ctx, ackSQL, q.opt.Channel, acks)
	}
	if len(rels) > 0 {
		_, relErr = q.exec(ctx, releaseSQL, q.releaseArgs(rels)...)
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	q.writing, q.writingN = 0, 0
	if rest := batch[written:]; len(rest) > 0 {
		q.buf = append(rest, q.buf...)
		for _, p := range rest {
			q.bufBytes += int64(len(p.body))
		}
	}
	for _, p := range batch[:written] {
		q.db0.rows++
		q.db0.bytes += int64(len(p.body))
		if q.db0.oldest.IsZero() {
			q.db0.oldest = p.at
		}
	}
	if ackErr != nil {
		q.acks = append(acks, q.acks...)
	} else {
		q.db0.rows -= int(deleted)
		for _, s := range acks {
			if h := q.held[uint64(s)]; h != nil && h.state == hAcked {
				q.db0.bytes -= int64(len(h.body))
				delete(q.held, uint64(s))
			}
		}
	}
	if relErr != nil {
		q.releases = append(rels, q.releases...)
	}
	if len(rels) > 0 && relErr == nil {
		q.resetFloorLocked()
	}
	if written > 0 || (len(rels) > 0 && relErr == nil) {
		q.idleUntil = time.Time{}
		q.wakeLocked()
	}
	err := errors.Join(insErr, ackErr, relErr)
	q.lastErr = err
	if err == nil {
		q.doneGen = gen
		close(q.doneCh)
		q.doneCh = make(chan struct{})
	}
	return err
}

// insert writes batch in statements of BatchSize rows and returns how
// many rows (a prefix of batch) are committed.
func (q *Queue) insert(ctx context.Context, batch []pending) (int, error) {
	for i := 0; i < len(batch); i += q.opt.BatchSize {
		part := batch[i:min(i+q.opt.BatchSize, len(batch))]
		ats := make([]time.Time, len(part))
		bodies := make([][]byte, len(part))
		for j, p := range part {
			ats[j], bodies[j] = p.at, p.body
		}
		if _, err := q.exec(ctx, insertSQL, q.opt.Channel, ats, bodies); err != nil {
			return i, fmt.Errorf("pgqueue: insert: %w", err)
		}
	}
	return len(batch), nil
}

func (q *Queue) releaseArgs(rels []release) []any {
	seqs := make([]int64, len(rels))
	delays := make([]int64, len(rels))
	undo := make([]int32, len(rels))
	for i, r := range rels {
		seqs[i], delays[i], undo[i] = r.seq, r.delay.Microseconds(), int32(r.undo)
	}
	return []any{q.opt.Channel, seqs, delays, undo, q.opt.Owner}
}

// exec runs one statement within WriteTimeout and returns the rows it
// affected.
func (q *Queue) exec(ctx context.Context, query string, args ...any) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.WriteTimeout)
	defer cancel()
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// maintain keeps this queue's lease alive and frees the rows of dead
// instances every Lease/3, and reads the backlog figures (and trims the
// table under DropOldest) every StatsInterval, or less often when that
// reading is slow (a large backlog): never more than 1/20 of the time.
func (q *Queue) maintain(ctx context.Context) {
	defer q.wg.Done()
	every := q.opt.Lease / 3
	tick := time.NewTicker(min(every, q.opt.StatsInterval))
	defer tick.Stop()
	lastAlive, lastStats := time.Now(), time.Now()
	statsEvery := q.opt.StatsInterval
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if now := time.Now(); now.Sub(lastAlive) >= every {
			lastAlive = now
			if err := q.keepAlive(ctx); err != nil && ctx.Err() == nil {
				q.log.Warn("pgqueue: lease renewal failed", "channel", q.opt.Channel, "err", err)
			}
		}
		if now := time.Now(); now.Sub(lastStats) >= statsEvery {
			lastStats = now
			if err := q.refresh(ctx); err == nil {
				q.trim(ctx)
			}
			statsEvery = max(q.opt.StatsInterval, 20*time.Since(now))
		}
	}
}

// keepAlive gives back rows claimed but not handed out for Lease/3 (so a
// slow instance does not sit on rows others could ship), renews this
// queue's lease and frees the rows of instances whose lease ran out.
func (q *Queue) keepAlive(ctx context.Context) error {
	q.giveBackStale()
	ctx, cancel := context.WithTimeout(ctx, q.opt.WriteTimeout)
	defer cancel()
	lost, err := q.alive(ctx)
	if err != nil {
		return err
	}
	if lost {
		q.log.Warn("pgqueue: this instance was taken for dead; its rows were freed", "channel", q.opt.Channel)
		if err := q.forgetLost(ctx); err != nil {
			return err
		}
	}
	freed, err := q.exec(ctx, sweepSQL)
	if err != nil {
		return fmt.Errorf("pgqueue: sweep: %w", err)
	}
	if freed > 0 {
		q.log.Warn("pgqueue: freed the rows of a dead instance", "channel", q.opt.Channel, "rows", freed)
		q.mu.Lock()
		q.resetFloorLocked()
		q.idleUntil = time.Time{}
		q.wakeLocked()
		q.mu.Unlock()
	}
	return nil
}

// alive renews the lease; lost is true when the owner row had been
// deleted by another instance's sweep.
func (q *Queue) alive(ctx context.Context) (lost bool, err error) {
	var inserted bool
	if err := q.db.QueryRowContext(ctx, aliveSQL, q.opt.Channel, q.opt.Owner, q.opt.Lease.Microseconds()).Scan(&inserted); err != nil {
		return false, fmt.Errorf("pgqueue: renew lease: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	lost = inserted && q.aliveOnce
	q.aliveOnce = true
	return lost, nil
}

func (q *Queue) giveBackStale() {
	q.mu.Lock()
	defer q.mu.Unlock()
	stale := time.Now().Add(-q.opt.Lease / 3)
	back := false
	for s, h := range q.held {
		if h.state == hReady && h.e.Group == "" && h.claimed.Before(stale) {
			delete(q.held, s)
			q.releases = append(q.releases, release{seq: int64(s), undo: 1})
			back = true
		}
	}
	if back {
		q.dropUnheldLocked()
		q.gen++
		signal(q.kick)
	}
}

// forgetLost drops the rows not handed out yet that this queue no longer
// holds. In-flight ones stay: their shipper goes on, and Ack deletes the
// row whoever holds it.
func (q *Queue) forgetLost(ctx context.Context) error {
	q.mu.Lock()
	seqs := make([]int64, 0, len(q.held))
	for s := range q.held {
		seqs = append(seqs, int64(s))
	}
	q.mu.Unlock()
	rows, err := q.db.QueryContext(ctx, stillHeldSQL, q.opt.Channel, seqs, q.opt.Owner)
	if err != nil {
		return fmt.Errorf("pgqueue: check held rows: %w", err)
	}
	defer rows.Close()
	got := make(map[uint64]bool, len(seqs))
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return err
		}
		got[uint64(s)] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range seqs {
		if h := q.held[uint64(s)]; h != nil && h.state == hReady && !got[uint64(s)] {
			delete(q.held, uint64(s))
			q.forgetGroupLocked(h)
		}
	}
	q.dropUnheldLocked()
	return nil
}

// dropUnheldLocked removes from the hand-out list the rows no longer held.
func (q *Queue) dropUnheldLocked() {
	keep := q.ready[:0]
	for _, h := range q.ready {
		if q.held[h.e.Seq] == h {
			keep = append(keep, h)
		}
	}
	clear(q.ready[len(keep):])
	q.ready = keep
}

// refresh reads the channel's backlog from the table.
func (q *Queue) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, q.opt.WriteTimeout)
	defer cancel()
	var d dbStats
	var oldest *time.Time
	if err := q.db.QueryRowContext(ctx, statsSQL, q.opt.Channel).Scan(&d.rows, &d.bytes, &oldest); err != nil {
		return fmt.Errorf("pgqueue: stats: %w", err)
	}
	if oldest != nil {
		d.oldest = *oldest
	}
	q.mu.Lock()
	q.db0 = d
	q.mu.Unlock()
	return nil
}

// trim deletes the oldest unclaimed rows while the channel holds more
// than MaxBytes (policy DropOldest; Reject refuses in Record instead).
func (q *Queue) trim(ctx context.Context) {
	q.mu.Lock()
	d := q.db0
	q.mu.Unlock()
	if q.opt.Policy != spool.DropOldest || d.bytes <= q.opt.MaxBytes || d.rows == 0 {
		return
	}
	avg := max(d.bytes/int64(d.rows), 1)
	n := (d.bytes - q.opt.MaxBytes + avg - 1) / avg
	var dropped int64
	err := q.hinted(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, dropSQL, q.opt.Channel, n)
		if err == nil {
			dropped, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		q.log.Warn("pgqueue: trimming the full queue failed", "channel", q.opt.Channel, "err", err)
		return
	}
	q.mu.Lock()
	q.stats.Dropped += uint64(dropped)
	q.db0.rows -= int(dropped)
	q.db0.bytes -= dropped * avg
	q.dropLogLocked("mlflow queue full: dropped oldest records")
	q.mu.Unlock()
}
