// Package spool is a durable, bounded, local queue of track.Call records:
// the request path appends, a shipper takes records out with Next and
// removes them with Ack only once they have been delivered.
//
// On disk a spool is a directory of append-only segment files
// (seg-<first seq>.log) and one ack log (acks.log). Every record is one
// line, "<crc32c hex> <seq> <appended unix ns> <Call JSON>\n", whose
// checksum covers everything after the first space, so a torn or zeroed
// line left by a crash is detected and skipped on reopen. The ack log holds
// "<crc32c hex> A <seq>" lines for delivered (or dropped) records and a
// "<crc32c hex> W <seq>" watermark below which every record is done, and
// "<crc32c hex> G <name> <seqs>" lines naming delivery groups (Group, see
// group.go); it is rewritten compactly at open and when it grows. A segment file is deleted
// once every record in it is done and it is no longer written to.
//
// Durability. Record writes the line to the segment file with one write(2)
// before it returns (no fsync), and a background flusher fsyncs dirty
// segments and the ack log in groups, at most SyncInterval (default 100 ms)
// after the first unsynced write. So a record for which Record returned
// nil survives a crash of the process (SIGKILL, panic, OOM kill) at once:
// it is in the kernel's page cache. It survives a crash of the machine
// (power loss, kernel panic) once the next group fsync has completed,
// normally within SyncInterval plus one fsync; that is the loss window.
// Sync waits for that point for callers that need it (shutdown, tests).
// Acks follow the same rule: an ack lost in a machine crash makes the
// record be delivered again, which the shipper must tolerate (the MLflow
// shipper looks the interaction up before creating anything).
//
// Bounds. MaxBytes bounds the bytes of undelivered records. When a new
// record does not fit, policy DropOldest (the default) drops the oldest
// undelivered records, counts them and logs loudly; policy Reject refuses
// the new record with track.ErrDropped. Disk use can exceed MaxBytes by
// the delivered records still sharing a segment with undelivered ones (at
// most SegmentBytes per such segment).
package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/llm-connector/llm-connector/internal/dirlock"
	"github.com/llm-connector/llm-connector/internal/track"
)

// Policy says what Record does when the spool is full.
type Policy string

// The full-spool policies.
const (
	// DropOldest keeps serving: the oldest undelivered records are dropped,
	// counted and logged at error level.
	DropOldest Policy = "drop_oldest"
	// Reject refuses the new record: Record returns track.ErrDropped.
	Reject Policy = "reject"
)

// ParsePolicy maps a configuration string to a Policy; "" is DropOldest.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(strings.ToLower(strings.TrimSpace(s))) {
	case "", DropOldest:
		return DropOldest, nil
	case Reject:
		return Reject, nil
	}
	return "", fmt.Errorf("spool: unknown full policy %q (want drop_oldest or reject)", s)
}

// Options configure Open. Zero values take the defaults noted.
type Options struct {
	Dir          string        // required
	MaxBytes     int64         // bytes of undelivered records; default 256 MiB
	Policy       Policy        // default DropOldest
	SegmentBytes int64         // a new segment starts past this size; default 4 MiB
	SyncInterval time.Duration // group-commit delay; default 100 ms
	Logger       *slog.Logger  // default slog.Default()
	Now          func() time.Time
}

// Defaults.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultSegmentBytes = 4 << 20
	// DefaultSyncInterval bounds what a machine crash can lose (a
	// process crash loses nothing). An fsync costs 150-400 µs of CPU on
	// this VM whatever it writes, so the group commits are a fixed cost
	// per second and per spool taking records: at 20 ms (50 a second)
	// they were 5 % of the service's CPU at 1000 req/s and 10 % at 200
	// streams/s with two spools; at 5 ms twice that. 100 ms is the same
	// order as the cost ledger's own 200 ms flush and PostgreSQL's
	// asynchronous-commit delay.
	DefaultSyncInterval = 100 * time.Millisecond
)

// ErrClosed is returned by every method once Close has been called.
var ErrClosed = errors.New("spool: closed")

// Entry is one record handed out by Next.
type Entry struct {
	Seq      uint64
	Call     track.Call
	Appended time.Time
	// Recovered is true when the record was already in the spool when it
	// was opened: an earlier process may have delivered it in part.
	Recovered bool
	// Attempts counts how often Next has handed this record out in this
	// process, this time included.
	Attempts int
	// Group names the delivery group the record was put in (Group), and
	// GroupSize is how many records that group has; "" and 0 if none.
	Group     string
	GroupSize int
}

// Stats is a snapshot of the spool.
type Stats struct {
	Backlog   int           // undelivered records, in flight included
	Bytes     int64         // their bytes on disk
	OldestAge time.Duration // age of the oldest undelivered record; 0 if none
	InFlight  int           // handed out by Next, not yet acked or released
	Appended  uint64        // records accepted by Record since Open
	Acked     uint64        // records acked since Open
	Dropped   uint64        // records dropped by DropOldest since Open
	Rejected  uint64        // records refused by Reject (or too large) since Open
	Corrupt   uint64        // torn or corrupt lines skipped since Open
	Segments  int           // segment files on disk
}

const (
	stReady uint8 = iota
	stInFlight
	stDelayed
	stDone
)

// entry is one record's place in the index. It holds no pointer (its
// segment and group are ids), and the index keeps entries by value, so a
// backlog of undelivered records is memory the collector does not scan.
type entry struct {
	seq       uint64
	off       int64
	at        int64  // appended, unix ns
	retryAt   int64  // unix ns, for stDelayed
	grp       uint64 // delivery group id, 0 if none
	n         uint32 // line length
	attempts  int32
	seg       uint32 // segment id
	state     uint8
	recovered bool
}

// maxLine bounds one record's line (entry.n).
const maxLine = 1 << 30

type segment struct {
	id    uint32
	first uint64
	path  string
	f     *os.File // read handle; also the write handle of the active segment
	size  int64
	live  int // entries not done
	dirty bool
}

// Spool is safe for concurrent use.
type Spool struct {
	opt Options
	log *slog.Logger
	dir string
	lk  *os.File // flock on dir/LOCK

	mu       sync.Mutex
	closed   bool
	nextSeq  uint64
	all      []entry // by seq, ascending; entries before head are done
	head     int
	ready    seqHeap    // seqs of ready entries (and of some no longer ready)
	delayed  timeHeap   // retry times of delayed entries (and stale ones)
	segs     []*segment // by first seq; last is active
	segByID  map[uint32]*segment
	segIDs   uint32 // ids handed out
	active   *segment
	bytes    int64
	live     int
	inflight int
	wake     chan struct{} // closed and replaced when work may be available
	wakeUsed bool          // someone waits on wake
	stats    Stats
	groups   map[string]*group // live delivery groups by name
	groupIDs map[uint64]*group // the same groups by id
	// groupOrder numbers groups as they are made.
	groupOrder uint64

	ackBuf        []byte // ack lines not yet written
	ackFile       *os.File
	ackLines      int
	dirDirty      bool
	dirty         bool
	flushMu       sync.Mutex
	gen           uint64        // bumped by every write and ack
	syncedGen     uint64        // gen covered by the last completed flush
	syncedCh      chan struct{} // closed and replaced after every group fsync
	toSync        []*segment    // rotated segments still to fsync
	toRemove      []*segment
	kick          chan struct{}
	urgent        chan struct{} // Sync waits: flush now
	done          chan struct{}
	flusherErr    error
	lastDropLog   time.Time
	dropsSinceLog uint64
}

// Open recovers the spool in opt.Dir (creating it if needed) and starts
// its flusher. Only one process may have a directory open at a time.
func Open(opt Options) (*Spool, error) {
	if opt.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.Policy == "" {
		opt.Policy = DropOldest
	}
	if opt.Policy != DropOldest && opt.Policy != Reject {
		return nil, fmt.Errorf("spool: unknown full policy %q", opt.Policy)
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = DefaultSyncInterval
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Spool{
		opt:      opt,
		log:      opt.Logger,
		dir:      opt.Dir,
		wake:     make(chan struct{}),
		syncedCh: make(chan struct{}),
		kick:     make(chan struct{}, 1),
		urgent:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		segByID:  make(map[uint32]*segment),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: create dir: %w", err)
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.flusher()
	return s, nil
}

func (s *Spool) lock() error {
	f, err := dirlock.Lock(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.lk = f
	return nil
}

// Record appends c. It never touches the network and waits for no fsync;
// see the package comment for what is durable when.
func (s *Spool) Record(_ context.Context, c track.Call) error {
	bp := lineBufs.Get().(*[]byte)
	defer putLineBuf(bp)
	buf, ok := appendCall(startLine(*bp), &c)
	if !ok { // what the fast encoder refuses, json.Marshal refuses too
		body, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("spool: encode record: %w", err)
		}
		buf = append(startLine(buf), body...)
	}
	buf = append(buf, '\n')
	*bp = buf
	now := s.opt.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	need := int64(len(buf)-headRoom-1) + 48
	if len(buf) > maxLine { // entry.n's bound; far above any MaxBytes in use
		s.stats.Rejected++
		s.dropLogLocked("mlflow spool: record too large: rejected", 1)
		return track.ErrDropped
	}
	if s.bytes+need > s.opt.MaxBytes {
		if !s.makeRoomLocked(need) {
			return track.ErrDropped
		}
	}
	if s.active.size >= s.opt.SegmentBytes {
		if err := s.rotateLocked(); err != nil {
			return err
		}
	}
	seq := s.nextSeq
	line := finishLine(buf, seq, now)
	seg := s.active
	if _, err := seg.f.WriteAt(line, seg.size); err != nil {
		// A short write may leave a torn line: start a fresh segment so
		// the next record does not share its line.
		seg.size += int64(len(line))
		_ = s.rotateLocked()
		return fmt.Errorf("spool: write: %w", err)
	}
	s.nextSeq++
	s.addLocked(entry{seq: seq, seg: seg.id, off: seg.size, n: uint32(len(line)), at: now})
	seg.size += int64(len(line))
	seg.live++
	seg.dirty = true
	s.stats.Appended++
	s.markDirtyLocked()
	return nil
}

// lineBufs recycles Record's line buffers; big ones are let go.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func putLineBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		lineBufs.Put(bp)
	}
}

// makeRoomLocked applies the full policy; false means the record is refused.
func (s *Spool) makeRoomLocked(need int64) bool {
	if s.opt.Policy == Reject || need > s.opt.MaxBytes {
		s.stats.Rejected++
		s.dropLogLocked("mlflow spool full: record rejected", 1)
		return false
	}
	var n uint64
	for s.bytes+need > s.opt.MaxBytes {
		e := s.oldestLocked()
		if e == nil {
			break
		}
		s.doneLocked(e)
		n++
	}
	s.stats.Dropped += n
	s.dropLogLocked("mlflow spool full: dropped oldest records", n)
	return s.bytes+need <= s.opt.MaxBytes
}

// dropLogLocked logs drops loudly but at most once a second.
func (s *Spool) dropLogLocked(msg string, n uint64) {
	s.dropsSinceLog += n
	now := s.opt.Now()
	if now.Sub(s.lastDropLog) < time.Second {
		return
	}
	s.log.Error(msg, "policy", string(s.opt.Policy), "count", s.dropsSinceLog,
		"dropped_total", s.stats.Dropped, "rejected_total", s.stats.Rejected,
		"max_bytes", s.opt.MaxBytes, "dir", s.dir)
	s.lastDropLog = now
	s.dropsSinceLog = 0
}

func (s *Spool) addLocked(e entry) {
	s.all = append(s.all, e)
	s.bytes += int64(e.n)
	s.live++
	s.ready.push(e.seq)
	s.wakeLocked()
}

func (s *Spool) wakeLocked() {
	if !s.wakeUsed {
		return
	}
	s.wakeUsed = false
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *Spool) markDirtyLocked() {
	s.gen++
	if !s.dirty {
		s.dirty = true
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// lookupLocked returns the entry of seq if it is not done, else nil: a
// binary search of all (a map by seq cost more than the rest of Record).
// The pointer is into all: it is good until all next grows or is
// compacted, so only while s.mu stays held.
func (s *Spool) lookupLocked(seq uint64) *entry {
	lo, hi := s.head, len(s.all)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.all[m].seq < seq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(s.all) && s.all[lo].seq == seq && s.all[lo].state != stDone {
		return &s.all[lo]
	}
	return nil
}

// oldestLocked returns the oldest entry not done (a pointer into all, as
// lookupLocked's), or nil.
func (s *Spool) oldestLocked() *entry {
	for s.head < len(s.all) && s.all[s.head].state == stDone {
		s.head++
	}
	if s.head > 1024 && s.head > len(s.all)/2 {
		s.all = append([]entry(nil), s.all[s.head:]...) // a copy: a drained backlog lets go
		s.head = 0
	}
	if s.head < len(s.all) {
		return &s.all[s.head]
	}
	return nil
}

// doneLocked retires e (acked or dropped) and logs the ack.
func (s *Spool) doneLocked(e *entry) {
	if e.state == stInFlight {
		s.inflight--
	}
	e.state = stDone
	if e.grp != 0 {
		s.leaveGroupLocked(e)
	}
	s.bytes -= int64(e.n)
	s.live--
	if seg := s.segByID[e.seg]; seg != nil {
		seg.live--
		if seg.live == 0 && seg != s.active {
			s.toRemove = append(s.toRemove, seg)
		}
	}
	s.ackBuf = appendAck(s.ackBuf, 'A', e.seq)
	s.markDirtyLocked()
}

func (s *Spool) rotateLocked() error {
	old := s.active
	seg, err := s.createSegment(s.nextSeq)
	if err != nil {
		return err
	}
	s.segs = append(s.segs, seg)
	s.active = seg
	if old != nil {
		s.toSync = append(s.toSync, old)
		if old.live == 0 {
			s.toRemove = append(s.toRemove, old)
		}
	}
	s.dirDirty = true
	s.markDirtyLocked()
	return nil
}

func (s *Spool) createSegment(first uint64) (*segment, error) {
	path := filepath.Join(s.dir, fmt.Sprintf("seg-%020d.log", first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: create segment: %w", err)
	}
	return s.newSegment(first, path, f), nil
}

// newSegment makes a segment known under a fresh id.
func (s *Spool) newSegment(first uint64, path string, f *os.File) *segment {
	s.segIDs++
	seg := &segment{id: s.segIDs, first: first, path: path, f: f}
	s.segByID[seg.id] = seg
	return seg
}

// Next blocks until a record is ready and hands it out; it stays in the
// spool, in flight, until Ack or Release. It returns ctx.Err() when ctx
// ends and ErrClosed after Close.
func (s *Spool) Next(ctx context.Context) (Entry, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Entry{}, ErrClosed
		}
		now := s.opt.Now().UnixNano()
		e := s.popLocked(now)
		if e != nil {
			out, seg, off, n := s.handOutLocked(e)
			s.mu.Unlock()
			if seg == nil { // cannot be while e is undelivered; never a nil dereference
				s.skipUnreadable(out.Seq, errors.New("its segment is gone"))
				continue
			}
			call, err := readCall(seg.f, off, n)
			if err != nil {
				s.skipUnreadable(out.Seq, err)
				continue
			}
			out.Call = call
			return out, nil
		}
		wake := s.wake
		s.wakeUsed = true
		var timer *time.Timer
		var fire <-chan time.Time
		if d, ok := s.delayed.peek(); ok {
			timer = time.NewTimer(time.Duration(d.at - now))
			fire = timer.C
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return Entry{}, ctx.Err()
		}
	}
}

// handOutLocked puts e in flight and returns what Next hands out and
// where e's line is.
func (s *Spool) handOutLocked(e *entry) (out Entry, seg *segment, off, n int64) {
	e.state = stInFlight
	e.attempts++
	s.inflight++
	out = Entry{Seq: e.seq, Appended: time.Unix(0, e.at), Recovered: e.recovered, Attempts: int(e.attempts)}
	if g := s.groupIDs[e.grp]; e.grp != 0 && g != nil {
		out.Group, out.GroupSize = g.name, len(g.seqs)
	}
	return out, s.segByID[e.seg], e.off, int64(e.n)
}

// skipUnreadable retires a handed-out record whose line cannot be read.
func (s *Spool) skipUnreadable(seq uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.lookupLocked(seq); e != nil && e.state == stInFlight { // not dropped meanwhile: the line is bad
		s.stats.Corrupt++
		s.doneLocked(e)
		s.log.Error("spool: skipping unreadable record", "seq", seq, "err", err)
	}
}

func (s *Spool) popLocked(now int64) *entry {
	for {
		d, ok := s.delayed.peek()
		if !ok || d.at > now {
			break
		}
		s.delayed.pop()
		if e := s.lookupLocked(d.seq); e != nil && e.state == stDelayed && e.retryAt == d.at {
			e.state = stReady
			s.ready.push(e.seq)
		}
	}
	for s.ready.Len() > 0 {
		if e := s.lookupLocked(s.ready.pop()); e != nil && e.state == stReady {
			return e
		}
	}
	return nil
}

// Ack removes a delivered record. Acking an unknown or already-done
// record (dropped while in flight) is a no-op.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	e := s.lookupLocked(seq)
	if e == nil {
		return nil
	}
	s.doneLocked(e)
	s.stats.Acked++
	return nil
}

// Release puts an in-flight record back; Next hands it out again, lowest
// sequence first, but not before retryAt.
func (s *Spool) Release(seq uint64, retryAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookupLocked(seq)
	if e == nil || e.state != stInFlight {
		return
	}
	s.inflight--
	if r := retryAt.UnixNano(); !retryAt.IsZero() && r > s.opt.Now().UnixNano() {
		e.state = stDelayed
		e.retryAt = r
		s.delayed.push(retry{at: r, seq: seq})
	} else {
		e.state = stReady
		s.ready.push(seq)
	}
	s.wakeLocked()
}

// Sync waits until every record appended and every ack made before the
// call has been fsynced; it does not wait out the group-commit delay.
func (s *Spool) Sync(ctx context.Context) error {
	s.mu.Lock()
	target := s.gen
	for {
		if s.closed {
			err := s.flusherErr
			s.mu.Unlock()
			if err != nil {
				return err
			}
			return ErrClosed
		}
		if s.syncedGen >= target {
			s.mu.Unlock()
			return nil
		}
		ch := s.syncedCh
		select {
		case s.urgent <- struct{}{}:
		default:
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		s.mu.Lock()
	}
}

// Stats returns a snapshot.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Backlog = s.live
	st.Bytes = s.bytes
	st.InFlight = s.inflight
	st.Segments = len(s.segs)
	if e := s.oldestLocked(); e != nil {
		st.OldestAge = max(0, s.opt.Now().Sub(time.Unix(0, e.at)))
	}
	return st
}

// Close stops the flusher after a last fsync and closes the files.
// Undelivered records stay for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.wakeLocked()
	s.mu.Unlock()
	err := s.flush(true)
	close(s.done)
	s.flushMu.Lock() // wait out a flush the flusher may have started
	s.closeFiles()
	s.flushMu.Unlock()
	return err
}

func (s *Spool) closeFiles() {
	for _, seg := range s.segs {
		seg.f.Close()
	}
	if s.ackFile != nil {
		s.ackFile.Close()
	}
	if s.lk != nil {
		s.lk.Close()
	}
}
