package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
)

const ackName = "acks.log"

// recover loads the ack log and every segment, then starts a fresh
// active segment and a compact ack log.
func (s *Spool) recover() error {
	acked, wm, groups, bad, err := readAcks(filepath.Join(s.dir, ackName))
	if err != nil {
		return err
	}
	s.stats.Corrupt += bad
	names, err := listSegments(s.dir)
	if err != nil {
		return fmt.Errorf("spool: list segments: %w", err)
	}
	var maxSeq uint64
	for _, name := range names {
		hi, err := s.loadSegment(name, acked, wm)
		if err != nil {
			return err
		}
		maxSeq = max(maxSeq, hi)
	}
	s.nextSeq = max(maxSeq+1, wm, 1)
	s.restoreGroupsLocked(groups)
	seg, err := s.createSegment(s.nextSeq)
	if err != nil {
		return err
	}
	s.segs = append(s.segs, seg)
	s.active = seg
	if err := s.rewriteAcks(s.compactAcksLocked()); err != nil {
		return err
	}
	if s.live > 0 {
		s.log.Info("spool: recovered undelivered records", "dir", s.dir, "records", s.live, "bytes", s.bytes)
	}
	return nil
}

func (s *Spool) loadSegment(name string, acked map[uint64]bool, wm uint64) (uint64, error) {
	first, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "seg-"), ".log"), 10, 64)
	if err != nil {
		return 0, nil // not ours
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("spool: open segment: %w", err)
	}
	seg := s.newSegment(first, name, f)
	var hi uint64
	err = scanLines(io.NewSectionReader(f, 0, 1<<62), func(off int64, line []byte, complete bool) {
		seg.size = off + int64(len(line)) + 1
		seq, at, _, ok := parseLine(line)
		if !ok || !complete {
			s.stats.Corrupt++
			s.log.Warn("spool: skipping torn or corrupt line", "segment", filepath.Base(name), "offset", off)
			return
		}
		hi = max(hi, seq)
		if seq < wm || (len(s.all) > 0 && seq <= s.all[len(s.all)-1].seq) {
			return // done, or seen already: all stays ascending
		}
		if acked[seq] { // keep it known so a compacted ack log still lists it
			s.all = append(s.all, entry{seq: seq, state: stDone})
			return
		}
		if len(line)+1 > maxLine { // no Record writes such a line
			s.stats.Corrupt++
			return
		}
		seg.live++
		s.addLocked(entry{seq: seq, seg: seg.id, off: off, n: uint32(len(line) + 1), at: at, recovered: true})
	})
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("spool: read segment: %w", err)
	}
	if seg.live == 0 {
		delete(s.segByID, seg.id)
		f.Close()
		if err := os.Remove(name); err != nil {
			return 0, fmt.Errorf("spool: remove segment: %w", err)
		}
		return hi, nil
	}
	s.segs = append(s.segs, seg)
	return hi, nil
}

func readAcks(path string) (acked map[uint64]bool, wm uint64, groups []groupLine, bad uint64, err error) {
	acked = make(map[uint64]bool)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return acked, 0, nil, 0, nil
	}
	if err != nil {
		return nil, 0, nil, 0, fmt.Errorf("spool: open acks: %w", err)
	}
	defer f.Close()
	err = scanLines(f, func(_ int64, line []byte, complete bool) {
		if len(line) > 9 && line[9] == 'G' {
			name, seqs, ok := parseGroup(line)
			if !ok || !complete {
				bad++
				return
			}
			groups = append(groups, groupLine{name, seqs})
			return
		}
		kind, seq, ok := parseAck(line)
		if !ok || !complete {
			bad++
			return
		}
		if kind == 'W' {
			wm = max(wm, seq)
		} else {
			acked[seq] = true
		}
	})
	if err != nil {
		return nil, 0, nil, 0, fmt.Errorf("spool: read acks: %w", err)
	}
	return acked, wm, groups, bad, nil
}

func appendAck(dst []byte, kind byte, seq uint64) []byte {
	start := len(dst)
	dst = append(dst, "00000000 "...)
	dst = append(dst, kind, ' ')
	dst = strconv.AppendUint(dst, seq, 10)
	hexTo(dst[start:start+8], crcOf(dst[start+9:]))
	return append(dst, '\n')
}

func parseAck(line []byte) (byte, uint64, bool) {
	if len(line) < 12 || line[8] != ' ' || line[10] != ' ' {
		return 0, 0, false
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil || uint32(sum) != crcOf(line[9:]) {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(string(line[11:]), 10, 64)
	if err != nil || (line[9] != 'A' && line[9] != 'W') {
		return 0, 0, false
	}
	return line[9], seq, true
}

// compactAcksLocked returns the content of a compact ack log: the
// watermark below which everything is done and the done records above it.
func (s *Spool) compactAcksLocked() []byte {
	wm := s.nextSeq
	if e := s.oldestLocked(); e != nil {
		wm = e.seq
	}
	buf := appendAck(nil, 'W', wm)
	for i := s.head; i < len(s.all); i++ {
		if e := &s.all[i]; e.state == stDone && e.seq > wm {
			buf = appendAck(buf, 'A', e.seq)
		}
	}
	buf = s.appendGroupsLocked(buf)
	s.ackBuf = s.ackBuf[:0]
	return buf
}

// rewriteAcks replaces the ack log with content, atomically.
func (s *Spool) rewriteAcks(content []byte) error {
	tmp := filepath.Join(s.dir, ackName+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: write acks: %w", err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return fmt.Errorf("spool: write acks: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("spool: sync acks: %w", err)
	}
	f.Close()
	if err := os.Rename(tmp, filepath.Join(s.dir, ackName)); err != nil {
		return fmt.Errorf("spool: rename acks: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	af, err := os.OpenFile(filepath.Join(s.dir, ackName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("spool: open acks: %w", err)
	}
	if s.ackFile != nil {
		s.ackFile.Close()
	}
	s.ackFile = af
	s.ackLines = 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	return nil
}

// flusher group-commits: SyncInterval after the first unsynced write,
// at once when Sync waits.
func (s *Spool) flusher() {
	for {
		urgent := false
		select {
		case <-s.done:
			return
		case <-s.kick:
		case <-s.urgent:
			urgent = true // a kick may be pending too: it only brings a later, idle flush
		}
		if !urgent && !s.waitGroupCommit() {
			return
		}
		if err := s.flush(false); err != nil {
			s.log.Error("spool: flush", "err", err)
		}
	}
}

// waitGroupCommit waits SyncInterval, or less when Sync asks; false when
// the spool closes meanwhile.
func (s *Spool) waitGroupCommit() bool {
	t := time.NewTimer(s.opt.SyncInterval)
	defer t.Stop()
	select {
	case <-s.done:
		return false
	case <-t.C:
	case <-s.urgent:
	}
	return true
}

const compactAfter = 100_000 // ack lines

// flush fsyncs dirty segments, writes and fsyncs pending acks, removes
// finished segments and compacts the ack log when it has grown.
func (s *Spool) flush(final bool) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	if s.closed && !final {
		s.mu.Unlock()
		return nil
	}
	gen := s.gen
	var segs []*segment
	segs = append(segs, s.toSync...)
	if s.active.dirty {
		segs = append(segs, s.active)
		s.active.dirty = false
	}
	s.toSync = nil
	acks := s.ackBuf
	s.ackBuf = nil
	remove := s.toRemove
	s.toRemove = nil
	dirDirty := s.dirDirty || len(remove) > 0
	s.dirDirty = false
	s.dirty = false
	s.ackLines += len(acks) / 12
	compact := final || s.ackLines > compactAfter
	s.mu.Unlock()

	var errs []error
	for _, seg := range segs {
		if err := seg.f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, fmt.Errorf("spool: sync segment: %w", err))
		}
	}
	if len(acks) > 0 {
		if _, err := s.ackFile.Write(acks); err != nil {
			errs = append(errs, fmt.Errorf("spool: write acks: %w", err))
		} else if err := s.ackFile.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("spool: sync acks: %w", err))
		}
	}
	for _, seg := range remove {
		s.removeSegment(seg)
	}
	if dirDirty {
		if err := syncDir(s.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if compact {
		s.mu.Lock()
		content := s.compactAcksLocked()
		s.mu.Unlock()
		if err := s.rewriteAcks(content); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	s.mu.Lock()
	if gen > s.syncedGen {
		s.syncedGen = gen
	}
	s.flusherErr = err
	close(s.syncedCh)
	s.syncedCh = make(chan struct{})
	s.mu.Unlock()
	return err
}

func (s *Spool) removeSegment(seg *segment) {
	s.mu.Lock()
	for i, x := range s.segs {
		if x == seg {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			break
		}
	}
	delete(s.segByID, seg.id)
	s.mu.Unlock()
	seg.f.Close()
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("spool: remove segment", "err", err)
	}
}

// seqHeap is a min-heap of ready entries' seqs; timeHeap one of delayed
// entries' retry times. Both hold values, not pointers.
type seqHeap struct{ minHeap[uint64] }

func (q *seqHeap) push(seq uint64) { q.minHeap.push(seq, seqLess) }
func (q *seqHeap) pop() uint64     { return q.minHeap.pop(seqLess) }

func seqLess(a, b uint64) bool { return a < b }

// retry is a delayed entry's place in timeHeap.
type retry struct {
	at  int64 // unix ns
	seq uint64
}

type timeHeap struct{ minHeap[retry] }

func (q *timeHeap) push(r retry) { q.minHeap.push(r, retryLess) }
func (q *timeHeap) pop() retry   { return q.minHeap.pop(retryLess) }

func (q *timeHeap) peek() (retry, bool) {
	if len(q.a) == 0 {
		return retry{}, false
	}
	return q.a[0], true
}

func retryLess(a, b retry) bool { return a.at < b.at || (a.at == b.at && a.seq < b.seq) }

// minHeap is a binary heap of values, ordered by the less it is given
// (container/heap would box every value in an interface).
type minHeap[T any] struct{ a []T }

func (h *minHeap[T]) Len() int { return len(h.a) }

func (h *minHeap[T]) push(v T, less func(a, b T) bool) {
	h.a = append(h.a, v)
	for i := len(h.a) - 1; i > 0; {
		p := (i - 1) / 2
		if !less(h.a[i], h.a[p]) {
			break
		}
		h.a[i], h.a[p] = h.a[p], h.a[i]
		i = p
	}
}

func (h *minHeap[T]) pop(less func(a, b T) bool) T {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < last && less(h.a[l], h.a[m]) {
			m = l
		}
		if r < last && less(h.a[r], h.a[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.a[i], h.a[m] = h.a[m], h.a[i]
		i = m
	}
	if cap(h.a) > 1024 && len(h.a) < cap(h.a)/4 {
		h.a = append([]T(nil), h.a...) // a drained backlog lets go
	}
	return top
}

var _ track.Sink = (*Spool)(nil)
