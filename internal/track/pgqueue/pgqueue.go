// Package pgqueue is a durable queue of track.Call records in PostgreSQL,
// shared by every instance that uses the same database: the request path
// appends, any instance takes records out with Next and removes them with
// Ack once they have been delivered. It implements the Queue contract of
// internal/track/mlflow, as the file spool (internal/track/spool) does
// for one machine.
//
// All channels ("windows", "traces", "runs") share one table,
// llmc_track_queue, keyed by a bigserial seq; the channel column keeps
// them apart. Next claims a small batch of available rows with
// FOR UPDATE SKIP LOCKED and marks them held by this instance. Leases are
// per instance: each queue renews one row in llmc_track_queue_owners
// every Lease/3, whatever it holds. When an instance dies its lease runs
// out, the next sweep of any other instance frees its rows, and whoever
// claims them gets Entry.Recovered set. The members of a delivery group
// (Group) are claimed together, by one instance, in one statement, and
// their acks are deleted together, in one statement.
//
// Hand-out. Entry.Recovered is true when another instance, or an earlier
// process, had the row before (it may have been delivered in part);
// Entry.Attempts counts the claims of every instance. Rows claimed but not
// handed out within Lease/3 are given back (not counted as an attempt),
// so a slow instance does not sit on rows others could ship. An instance
// that cannot renew its lease for Lease (database unreachable, process
// stalled) is taken for dead: its rows go to others, and what it had in
// flight may be delivered twice, which shippers tolerate as they tolerate
// a crash.
//
// Cost. A record costs the database one row inserted (in a multi-row
// INSERT), updated once by a claim of ClaimBatch rows and deleted (in a
// multi-row DELETE); leases cost one tiny update per queue every Lease/3.
// Each queue uses up to three connections of the pool at once (writer,
// claimer, lease and stats loop), each only for one short statement.
//
// Durability. Record encodes the call and appends it to an in-memory
// buffer; it never touches the network. A writer inserts the buffer in
// batches (one multi-row INSERT per BatchSize records) at most
// BatchInterval (default 20 ms) after the first record, or at once when
// BatchSize records wait. That is the crash window: records for which
// Record returned nil but whose batch was not yet committed (normally the
// last BatchInterval of records; while the database is slow or down,
// everything buffered, up to MaxBuffer bytes) are lost if the process
// dies. Sync waits until everything appended, acked or released before
// the call is committed, for callers that need it (shutdown, tests).
// Acks and releases are batched the same way; an ack lost in a crash makes
// the record be delivered again, which shippers tolerate (they look the
// interaction up first when Recovered is set). Group commits before it
// returns.
//
// Bounds. MaxBuffer bounds the bytes waiting in memory for the database;
// MaxBytes bounds the bytes of undelivered records of the channel in the
// table, checked every StatsInterval (so it is approximate). Policy
// DropOldest (the default) drops the oldest buffered records, or deletes
// the oldest unclaimed rows, counts them and logs loudly; Reject refuses
// new records with track.ErrDropped.
package pgqueue

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// Options configure Open. Zero values take the defaults noted.
type Options struct {
	// Channel names the queue inside the shared table ("windows",
	// "traces", "runs"). Required.
	Channel string
	// Owner names this instance in the table (logs, debugging); a random
	// suffix is always added, so every Open, also a restart, is a new
	// owner. Default: "<hostname>-<pid>".
	Owner string
	// Lease is how long this instance keeps its rows without renewing
	// its lease (one row per queue, renewed every Lease/3). The rows of a
	// dead instance become claimable between Lease and 4/3 Lease after
	// its last renewal. Default: 30 s.
	Lease time.Duration
	// BatchInterval is the group-commit delay for appends, acks and
	// releases (the crash window). Default: 20 ms.
	BatchInterval time.Duration
	// BatchSize is the most rows in one INSERT or DELETE; a full batch is
	// written at once. Default: 500.
	BatchSize int
	// ClaimBatch is how many ready rows one claim leases (a group is
	// always claimed whole, whatever its size). Larger batches cost the
	// database less per record (BenchmarkAppendClaimAck). Default: 256.
	ClaimBatch int
	// PollInterval is how often an idle Next looks for rows appended by
	// other instances or whose lease ran out. Default: 250 ms.
	PollInterval time.Duration
	// MaxBuffer bounds the bytes of records waiting in memory for the
	// database. Default: 64 MiB.
	MaxBuffer int64
	// MaxBytes bounds the bytes of undelivered records of the channel in
	// the table. Default: spool.DefaultMaxBytes (256 MiB).
	MaxBytes int64
	// Policy applies to both bounds. Default: spool.DropOldest.
	Policy spool.Policy
	// StatsInterval is how often the backlog figures of Stats are read
	// from the table (and MaxBytes enforced). Default: 1 s.
	StatsInterval time.Duration
	// WriteTimeout bounds one statement. Default: 30 s.
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

// Defaults.
const (
	DefaultLease         = 30 * time.Second
	DefaultBatchInterval = 20 * time.Millisecond
	DefaultBatchSize     = 500
	DefaultClaimBatch    = 256
	DefaultPollInterval  = 250 * time.Millisecond
	DefaultMaxBuffer     = 64 << 20
	DefaultStatsInterval = time.Second
)

func (o *Options) defaults() error {
	if o.Channel == "" {
		return errors.New("pgqueue: no channel")
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d", cmp.Or(host, "host"), os.Getpid())
	}
	var b [6]byte
	rand.Read(b[:])
	o.Owner += "-" + hex.EncodeToString(b[:])
	o.Lease = cmp.Or(o.Lease, DefaultLease)
	o.BatchInterval = cmp.Or(o.BatchInterval, DefaultBatchInterval)
	o.BatchSize = cmp.Or(o.BatchSize, DefaultBatchSize)
	o.ClaimBatch = cmp.Or(o.ClaimBatch, DefaultClaimBatch)
	o.PollInterval = cmp.Or(o.PollInterval, DefaultPollInterval)
	o.MaxBuffer = cmp.Or(o.MaxBuffer, DefaultMaxBuffer)
	o.MaxBytes = cmp.Or(o.MaxBytes, spool.DefaultMaxBytes)
	o.Policy = cmp.Or(o.Policy, spool.DropOldest)
	o.StatsInterval = cmp.Or(o.StatsInterval, DefaultStatsInterval)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, 30*time.Second)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	if o.Policy != spool.DropOldest && o.Policy != spool.Reject {
		return fmt.Errorf("pgqueue: unknown full policy %q", o.Policy)
	}
	if o.Lease < 3*o.BatchInterval {
		return fmt.Errorf("pgqueue: lease %v too short for batch interval %v", o.Lease, o.BatchInterval)
	}
	return nil
}

// pending is a record accepted by Record, not yet committed.
type pending struct {
	at   time.Time
	body []byte
}

// release is a Release (or a give-back at Close) not yet committed.
type release struct {
	seq   int64
	delay time.Duration
	undo  int // 1: claimed but never handed out, so not an attempt
}

// Row states of held rows.
const (
	hReady    uint8 = iota // claimed, not handed out yet
	hInFlight              // handed out by Next
	hAcked                 // acked, delete not committed yet
)

// held is a row this instance has leased.
type held struct {
	e       spool.Entry
	body    []byte
	state   uint8
	claimed time.Time
}

// groupAcks holds back the acks of a group until every member this
// instance holds is acked or released, so a group's acks commit together.
type groupAcks struct {
	members int // held members neither acked nor released
	acks    []int64
}

// Queue is safe for concurrent use.
type Queue struct {
	db  *store.DB
	opt Options
	log *slog.Logger

	mu           sync.Mutex
	closed       bool
	buf          []pending
	bufBytes     int64
	writing      int64 // bytes of the batch being inserted
	writingN     int   // its records
	acks         []int64
	releases     []release
	groups       map[string]*groupAcks
	held         map[uint64]*held
	ready        []*held
	inflight     int
	claiming     bool
	claimFailing bool // the last claim failed (logged once per streak)
	// floor is where claims start: no row below it was available at the
	// last claim. Skipping the rows below (deleted or in flight, whose
	// index entries a scan from the head would walk past every time) keeps
	// a claim's cost independent of what was claimed before.
	floor     int64
	floorGen  uint64 // bumped by resetFloorLocked
	lastFull  time.Time
	claims    sync.WaitGroup // claims under way; Close waits for them
	idleUntil time.Time
	wake      chan struct{} // closed and replaced when Next should look again
	gen       uint64        // bumped by every Record, Ack and Release
	doneGen   uint64        // gen covered by the last complete write
	doneCh    chan struct{} // closed and replaced after every complete write
	lastErr   error
	db0       dbStats
	stats     spool.Stats
	lastDrop  time.Time
	aliveOnce bool // the lease has been renewed once

	kick   chan struct{}
	now    chan struct{} // write without waiting for BatchInterval
	stop   chan struct{}
	cancel context.CancelFunc // ends the maintainer's statements at Close
	wg     sync.WaitGroup
}

// dbStats is the last reading of the table, adjusted by what this
// instance has written since.
type dbStats struct {
	rows   int
	bytes  int64
	oldest time.Time
}

// Open creates the table if needed (through store migrations) and starts
// the writer and the lease/stats loop. db must be PostgreSQL. Several
// queues, in one process or many, may share db and the table.
func Open(ctx context.Context, db *store.DB, opt Options) (*Queue, error) {
	if db == nil || db.Dialect != store.Postgres {
		return nil, errors.New("pgqueue: needs a PostgreSQL database (DATABASE_URL)")
	}
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, "track_queue", migrations); err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	q := &Queue{
		db: db, opt: opt, log: opt.Logger,
		groups: map[string]*groupAcks{}, held: map[uint64]*held{},
		wake: make(chan struct{}), doneCh: make(chan struct{}),
		kick: make(chan struct{}, 1), now: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	if _, err := q.alive(ctx); err != nil {
		return nil, err
	}
	if err := q.refresh(ctx); err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	q.wg.Add(2)
	go q.writer()
	go q.maintain(mctx)
	return q, nil
}

// Owner is the name this queue holds rows under (Options.Owner and a
// random suffix).
func (q *Queue) Owner() string { return q.opt.Owner }

// Record appends c to the buffer; it never touches the network.
func (q *Queue) Record(_ context.Context, c track.Call) error {
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("pgqueue: encode record: %w", err)
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return spool.ErrClosed
	}
	if !q.makeRoomLocked(int64(len(body))) {
		q.mu.Unlock()
		return track.ErrDropped
	}
	q.buf = append(q.buf, pending{at: time.Now(), body: body})
	q.bufBytes += int64(len(body))
	q.stats.Appended++
	q.gen++
	full := len(q.buf) >= q.opt.BatchSize
	q.mu.Unlock()
	signal(q.kick)
	if full {
		signal(q.now)
	}
	return nil
}

// makeRoomLocked applies the policy to the bounds; false refuses the
// record. With DropOldest an over-full table is trimmed by the stats loop.
func (q *Queue) makeRoomLocked(need int64) bool {
	inMem := q.bufBytes + q.writing + need
	overTable := max(q.db0.bytes, 0)+inMem > q.opt.MaxBytes
	if inMem <= q.opt.MaxBuffer && (!overTable || q.opt.Policy == spool.DropOldest) {
		return true
	}
	if q.opt.Policy == spool.DropOldest && need <= q.opt.MaxBuffer {
		var n uint64
		for len(q.buf) > 0 && q.bufBytes+q.writing+need > q.opt.MaxBuffer {
			q.bufBytes -= int64(len(q.buf[0].body))
			q.buf[0] = pending{}
			q.buf = q.buf[1:]
			n++
		}
		q.stats.Dropped += n
		q.dropLogLocked("mlflow queue buffer full: dropped oldest records")
		if q.bufBytes+q.writing+need <= q.opt.MaxBuffer {
			return true
		}
	}
	q.stats.Rejected++
	q.dropLogLocked("mlflow queue full: record rejected")
	return false
}

// dropLogLocked logs drops loudly, at most once a second.
func (q *Queue) dropLogLocked(msg string) {
	if now := time.Now(); now.Sub(q.lastDrop) >= time.Second {
		q.lastDrop = now
		q.log.Error(msg, "channel", q.opt.Channel, "policy", string(q.opt.Policy),
			"dropped_total", q.stats.Dropped, "rejected_total", q.stats.Rejected,
			"max_buffer", q.opt.MaxBuffer, "max_bytes", q.opt.MaxBytes)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (q *Queue) wakeLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// Sync waits until every record appended and every ack and release made
// before the call is committed. While the database fails it waits until
// ctx ends and returns the last write error with ctx's.
func (q *Queue) Sync(ctx context.Context) error {
	q.mu.Lock()
	target := q.gen
	for q.doneGen < target {
		if q.closed {
			q.mu.Unlock()
			return spool.ErrClosed
		}
		ch := q.doneCh
		q.mu.Unlock()
		signal(q.now)
		select {
		case <-ctx.Done():
			q.mu.Lock()
			err := q.lastErr
			q.mu.Unlock()
			return errors.Join(ctx.Err(), err)
		case <-ch:
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
	return nil
}

// Stats returns a snapshot. Backlog, Bytes and OldestAge come from the
// last reading of the table (at most StatsInterval old) plus this
// instance's buffer; the counters are this queue's since Open.
func (q *Queue) Stats() spool.Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	st.Backlog = max(q.db0.rows, 0) + len(q.buf) + q.writingN
	st.Bytes = max(q.db0.bytes, 0) + q.bufBytes + q.writing
	st.InFlight = q.inflight
	oldest := q.db0.oldest
	if len(q.buf) > 0 && (oldest.IsZero() || q.buf[0].at.Before(oldest)) {
		oldest = q.buf[0].at
	}
	if !oldest.IsZero() && st.Backlog > 0 {
		st.OldestAge = max(0, time.Since(oldest))
	}
	return st
}

// Close stops taking records, writes what is buffered, commits pending
// acks and releases, and gives back every row it holds (in-flight rows are
// handed out again, as recovered, by whoever claims them). It waits for
// the database at most WriteTimeout and reports what could not be written.
// It does not close db.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.wakeLocked()
	q.mu.Unlock()
	close(q.stop)
	q.cancel()
	q.wg.Wait()
	q.claims.Wait()
	q.mu.Lock()
	for seq, h := range q.held {
		switch h.state {
		case hReady:
			q.releases = append(q.releases, release{seq: int64(seq), undo: 1})
		case hInFlight:
			q.releases = append(q.releases, release{seq: int64(seq)})
		}
	}
	for name, g := range q.groups {
		q.acks = append(q.acks, g.acks...)
		delete(q.groups, name)
	}
	q.held = map[uint64]*held{}
	q.ready = nil
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), q.opt.WriteTimeout)
	defer cancel()
	err := q.flush(ctx)
	if _, gerr := q.exec(ctx, goneSQL, q.opt.Channel, q.opt.Owner); gerr != nil {
		err = errors.Join(err, fmt.Errorf("pgqueue: give back held rows: %w", gerr))
	}
	q.mu.Lock()
	n := len(q.buf)
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("pgqueue: close: %d records not written: %w", n, err)
	}
	return nil
}
