package cost

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/llm-connector/llm-connector/internal/dirlock"
)

// journal is the ledger's write-ahead file. Record appends every row it
// queues (one write(2) into the page cache, no fsync) before the writer
// commits the row, so a process crash — kill -9, the OOM killer, a panic
// — loses no row: the next start reads the files back into the queue,
// and the request-id check of the database drops the rows that were
// already committed. A machine crash can lose what the kernel had not
// written out yet, as it can for SQLite's last commits.
//
// The files are numbered. The writer starts a new one whenever it takes a
// batch, and removes a file once no queued row is in it: on disk there
// is never more than the queue (QueueSize rows), whatever the database
// does. Every method runs with the ledger's mutex held, so the files hold
// the rows in queue order, except remove, which only unlinks files no
// one writes any more.
type journal struct {
	dir string
	lk  *os.File // flock on dir/LOCK
	f   *os.File // the file rows are appended to (nil until the first)
	seq uint64   // f's number, or the next file's while f is nil
	off int64    // bytes of f written whole
	// closed are the numbers of earlier files, oldest first.
	closed []uint64
	buf    []byte
	// errors counts failed appends: the row stays queued in memory, as
	// it would be without a journal.
	errors int64
}

const journalExt = ".rows"

// journalMaxLine bounds a line read back: a row is at most ~3 KB (its
// text fields are cut to MaxField bytes, escapes can sextuple them).
const journalMaxLine = 64 << 10

// openJournal locks dir (creating it) and reads the rows its files hold,
// oldest first, each marked with its file's number. A line that does not
// decode — the torn end of a file after a machine crash — is skipped and
// counted in bad.
func openJournal(dir string) (j *journal, rows []row, bad int, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, 0, fmt.Errorf("cost: ledger journal: %w", err)
	}
	j = &journal{dir: dir}
	if err := j.lock(); err != nil {
		return nil, nil, 0, err
	}
	seqs, err := j.list()
	if err != nil {
		j.unlock()
		return nil, nil, 0, err
	}
	for _, seq := range seqs {
		n, err := j.read(seq, func(r row) { rows = append(rows, r) })
		if err != nil {
			j.unlock()
			return nil, nil, 0, err
		}
		bad += n
	}
	j.closed = seqs
	if len(seqs) > 0 {
		j.seq = seqs[len(seqs)-1] + 1
	}
	return j, rows, bad, nil
}

func (j *journal) lock() error {
	f, err := dirlock.Lock(j.dir)
	if err != nil {
		return fmt.Errorf("cost: ledger journal: %w", err)
	}
	j.lk = f
	return nil
}

func (j *journal) unlock() {
	if j.lk != nil {
		j.lk.Close() // closing the descriptor releases the lock
		j.lk = nil
	}
}

// list returns the numbers of the files in dir, in order.
func (j *journal) list() ([]uint64, error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("cost: ledger journal: %w", err)
	}
	var seqs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), journalExt)
		if !ok {
			continue
		}
		if seq, err := strconv.ParseUint(name, 10, 64); err == nil {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

func (j *journal) path(seq uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%016d%s", seq, journalExt))
}

// read calls add for each row of file seq and returns how many lines did
// not decode.
func (j *journal) read(seq uint64, add func(row)) (bad int, err error) {
	f, err := os.Open(j.path(seq))
	if err != nil {
		return 0, fmt.Errorf("cost: ledger journal: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for {
		line, err := readLine(br)
		if err == errLongLine {
			bad++
			continue
		}
		if len(line) > 0 {
			if r, ok := decodeJournalRow(line); ok {
				r.jseq = seq
				add(r)
			} else {
				bad++
			}
		}
		if err == io.EOF {
			return bad, nil
		}
		if err != nil {
			return bad, fmt.Errorf("cost: ledger journal: %s: %w", f.Name(), err)
		}
	}
}

// errLongLine is a line longer than journalMaxLine: no row is.
var errLongLine = errors.New("line too long")

// readLine reads one line without its newline; a line longer than
// journalMaxLine is passed over and reported as errLongLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(line)+len(part) > journalMaxLine {
			for err == bufio.ErrBufferFull { // the rest of the long line
				_, err = br.ReadSlice('\n')
			}
			if err == nil {
				err = errLongLine
			}
			return nil, err
		}
		line = append(line, part...)
		if err != bufio.ErrBufferFull {
			return bytes.TrimSuffix(line, []byte("\n")), err
		}
	}
}

// decodeJournalRow reads one line appendSegmentRow wrote.
func decodeJournalRow(line []byte) (row, bool) {
	d := segmentDecoder{b: line}
	r := d.row()
	if d.ws(); d.err != nil || d.i != len(line) || r.ID == "" {
		return row{}, false
	}
	return rowOf(r), true
}

// append writes r as one line and returns the number of the file it is
// in. A failed write is counted and the file cut back to its last whole
// line, so that later lines still read back; the error is returned when
// the count reaches a power of two (to log, not for every row).
func (j *journal) append(r *row) (uint64, error) {
	if j.f == nil {
		f, err := os.OpenFile(j.path(j.seq), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
		if err != nil {
			return j.seq, j.fail(err)
		}
		j.f, j.off = f, 0
	}
	j.buf = append(appendSegmentRow(j.buf[:0], r), '\n')
	n, err := j.f.Write(j.buf)
	if err != nil {
		if n > 0 {
			_ = j.f.Truncate(j.off)
			_, _ = j.f.Seek(j.off, io.SeekStart)
		}
		return j.seq, j.fail(err)
	}
	j.off += int64(n)
	return j.seq, nil
}

func (j *journal) fail(err error) error {
	j.errors++
	if j.errors&(j.errors-1) != 0 {
		return nil
	}
	return fmt.Errorf("%w (%d rows so far kept in memory only)", err, j.errors)
}

// rotate closes the current file: rows from now on go to the next one.
func (j *journal) rotate() {
	if j.f == nil {
		return
	}
	_ = j.f.Close()
	j.f = nil
	j.closed = append(j.closed, j.seq)
	j.seq++
}

// done takes the closed files older than oldest (the file of the oldest
// queued row, or the current one when the queue is empty) off the list
// and returns their paths, for remove.
func (j *journal) done(oldest uint64) []string {
	var paths []string
	for len(j.closed) > 0 && j.closed[0] < oldest {
		paths = append(paths, j.path(j.closed[0]))
		j.closed = j.closed[1:]
	}
	return paths
}

// remove unlinks files done returned. It needs no lock.
func remove(paths []string) error {
	var errs []error
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// close closes the current file and releases the directory. With empty
// (nothing queued) it removes every file first.
func (j *journal) close(empty bool) error {
	var err error
	if empty {
		j.rotate()
		err = remove(j.done(j.seq))
	} else if j.f != nil {
		err = j.f.Close()
		j.f = nil
	}
	j.unlock()
	return err
}
