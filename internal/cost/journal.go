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
	"syscall"
)

// journal is the ledger's write-ahead file. Record copies every row it
// queues into a shared mapping of the current file (no system call, no
// fsync) before the writer commits the row: the mapping's pages are the
// kernel's page cache, so a process crash — kill -9, the OOM killer, a
// panic — loses no row. The next start reads the files back into the
// queue, and the request-id check of the database drops the rows that
// were already committed. A machine crash can lose what the kernel had
// not written out yet, as it can for SQLite's last commits. (One write(2)
// per row instead cost 0.05–0.2× of the floor's CPU per request at
// saturation, ext4 updating the file's size and time on every one.)
//
// A file is allocated whole (fallocate) before it is mapped, so that a
// full disk fails there — the rows then stay in memory only, counted —
// and never as a fault on a page of the mapping. The unused end reads as
// zero bytes, which no row line holds.
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
	m   []byte   // f mapped
	seq uint64   // f's number, or the next file's while f is nil
	off int      // bytes of m holding rows
	// closed are the numbers of earlier files, oldest first.
	closed []uint64
	buf    []byte
	// errors counts failed appends: the row stays queued in memory, as
	// it would be without a journal.
	errors int64
}

const journalExt = ".rows"

// journalFileBytes is the size of a journal file: ~20,000 rows, more
// than a batch holds, so files turn over with batches.
const journalFileBytes = 8 << 20

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
	f, err := os.OpenFile(filepath.Join(j.dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("cost: ledger journal: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("cost: ledger journal %s is in use by another process: %w", j.dir, err)
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
// journalMaxLine is passed over and reported as errLongLine. A zero byte
// ends the file: it is the unused end of a file a crash left uncut.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		if i := bytes.IndexByte(part, 0); i >= 0 {
			return append(line, part[:i]...), io.EOF
		}
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

// append copies r as one line into the current file and returns the
// number of the file it is in. A file that cannot be made is counted and
// the row is kept in memory only; the error is returned when the count
// reaches a power of two (to log, not for every row).
func (j *journal) append(r *row) (uint64, error) {
	j.buf = append(appendSegmentRow(j.buf[:0], r), '\n')
	if j.m != nil && j.off+len(j.buf) > len(j.m) {
		j.rotate()
	}
	if j.m == nil {
		if err := j.create(max(journalFileBytes, len(j.buf))); err != nil {
			return j.seq, j.fail(err)
		}
	}
	j.off += copy(j.m[j.off:], j.buf)
	return j.seq, nil
}

// create makes file j.seq of size bytes, allocated and mapped.
func (j *journal) create(size int) error {
	f, err := os.OpenFile(j.path(j.seq), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil {
		return fail(fmt.Errorf("allocate %s: %w", f.Name(), err))
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fail(fmt.Errorf("map %s: %w", f.Name(), err))
	}
	j.f, j.m, j.off = f, m, 0
	return nil
}

func (j *journal) fail(err error) error {
	j.errors++
	if j.errors&(j.errors-1) != 0 {
		return nil
	}
	return fmt.Errorf("%w (%d rows so far kept in memory only)", err, j.errors)
}

// rotate closes the current file, cut to the rows it holds: rows from now
// on go to the next one.
func (j *journal) rotate() {
	if j.f == nil {
		return
	}
	j.release()
	j.closed = append(j.closed, j.seq)
	j.seq++
}

// release unmaps and closes the current file, cut to its rows.
func (j *journal) release() error {
	err := syscall.Munmap(j.m)
	if terr := j.f.Truncate(int64(j.off)); err == nil {
		err = terr
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f, j.m, j.off = nil, nil, 0
	return err
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
		err = j.release()
	}
	j.unlock()
	return err
}
