package cost

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
)

func withJournal(dir string) func(*LedgerConfig) {
	return func(c *LedgerConfig) { c.JournalDir = dir }
}

// crash stops l as a killed process would: the writer stops, nothing more
// is written or removed, and its files are closed as the kernel would
// close them (releasing the directory's lock).
func crash(l *Ledger) {
	close(l.abandon)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.queue = nil
	if l.journal != nil {
		if l.journal.f != nil {
			l.journal.f.Close()
		}
		l.journal.unlock()
		l.journal = nil
	}
}

// journalFiles lists the row files in dir.
func journalFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+journalExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testJournalCrash(t *testing.T, b storetest.Backend) {
	dir := t.TempDir()
	ctx := context.Background()
	l := newLedger(t, b.Open(t), withJournal(dir))
	for i := range 5 {
		record(t, l, call(fmt.Sprintf("before%d", i), "u", "gpt-4o", day1, llm.Usage{OutputTokens: 1}))
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if f := journalFiles(t, dir); len(f) != 0 {
		t.Errorf("files after a flush that wrote every row: %v, want none", f)
	}
	failed := call("after-err", "v", "gpt-4o", day1, llm.Usage{InputTokens: 3})
	failed.Success, failed.ErrorKind, failed.ErrorMessage = false, "timeout", "upstream \"timed\" out \u00e9"
	record(t, l, call("after0", "u", "gpt-4o", day1, llm.Usage{OutputTokens: 1}),
		call("after1", "u", "gpt-4o", day1, llm.Usage{OutputTokens: 1}), failed)
	crash(l)
	for _, f := range journalFiles(t, dir) { // what the ledger keeps, never the texts
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "PROMPT-TEXT") || strings.Contains(string(b), "ANSWER-TEXT") {
			t.Errorf("%s holds prompt or answer text: %s", f, b)
		}
	}

	l2 := newLedger(t, b.Open(t), withJournal(dir))
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, s := count(t, l2), l2.Stats(); got != 8 || s.Replayed != 3 || s.Written != 3 {
		t.Errorf("after crash: %d rows, stats %+v; want 8 rows, 3 replayed and written", got, s)
	}
	tot, err := l2.Totals(ctx, UsageQuery{})
	if err != nil || tot.Requests != 8 || tot.Errors != 1 || tot.OutputTokens != 7 || tot.InputTokens != 3 {
		t.Errorf("rollups after crash = %+v, %v; want 8 requests, 1 error, 7 output and 3 input tokens", tot, err)
	}
	got, err := l2.Request(ctx, "after-err", "")
	if err != nil || got.ErrorMessage != failed.ErrorMessage || got.Status != "timeout" || got.User != "v" {
		t.Errorf("replayed error row = %+v, %v", got, err)
	}
	if f := journalFiles(t, dir); len(f) != 0 {
		t.Errorf("files after the replay was written: %v, want none", f)
	}
}

// testJournalReplayWritten: a crash between the commit and the removal of
// its files replays rows already written; the request-id check drops
// them, in the rows and in the rollups.
func testJournalReplayWritten(t *testing.T, b storetest.Backend) {
	dir := t.TempDir()
	ctx := context.Background()
	l := newLedger(t, b.Open(t), withJournal(dir))
	for i := range 4 {
		record(t, l, call(fmt.Sprintf("r%d", i), "u", "gpt-4o", day1, llm.Usage{OutputTokens: 2}))
	}
	files := journalFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("files before the flush = %v, want one", files)
	}
	kept, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[0], kept, 0o640); err != nil { // as if the removal never happened
		t.Fatal(err)
	}
	l2 := newLedger(t, b.Open(t), withJournal(dir))
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, s := count(t, l2), l2.Stats(); got != 4 || s.Replayed != 4 || s.Duplicates != 4 || s.Written != 0 {
		t.Errorf("after the replay: %d rows, stats %+v; want 4 rows, 4 replayed, all duplicates", got, s)
	}
	if tot, _ := l2.Totals(ctx, UsageQuery{}); tot.Requests != 4 || tot.OutputTokens != 8 {
		t.Errorf("rollups after the replay = %+v; want 4 requests, 8 output tokens", tot)
	}
}

func testJournalCloseDuringOutage(t *testing.T, b storetest.Backend) {
	dir := t.TempDir()
	ctx := context.Background()
	db := b.Open(t)
	l := newLedger(t, db, withJournal(dir))
	record(t, l, call("pre", "u", "gpt-4o", day1, llm.Usage{}))
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE usage_request_ids RENAME TO usage_request_ids_gone`); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		record(t, l, call(fmt.Sprintf("during%d", i), "u", "gpt-4o", day1, llm.Usage{OutputTokens: 1}))
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := l.Close(cctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "kept in the journal") {
		t.Fatalf("Close during the outage = %v, want the rows kept in the journal", err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE usage_request_ids_gone RENAME TO usage_request_ids`); err != nil {
		t.Fatal(err)
	}
	l2 := newLedger(t, b.Open(t), withJournal(dir))
	if err := l2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, l2); got != 7 {
		t.Errorf("rows after the next start = %d, want 7", got)
	}
	if f := journalFiles(t, dir); len(f) != 0 {
		t.Errorf("files after a clean Close: %v, want none", f)
	}
}

// TestJournalReadsBack: rows of several files come back in order; a torn
// last line, a line that is not a row and an overlong line are skipped.
func TestJournalReadsBack(t *testing.T) {
	dir := t.TempDir()
	rows := []row{
		{requestID: "a", user: "u\n\"x\"", start: day1, status: "ok", input: 1, costUSD: 0.25, costKnown: true},
		{requestID: "b", user: "é", start: day1.Add(time.Millisecond), status: "timeout", errorMessage: "gone", fallback: true, attempts: 2},
		{requestID: "c", start: day1.Add(2 * time.Millisecond), status: "ok", ttftMS: 12, latencyMS: 40, cacheHit: true},
	}
	line := func(r row) string { return string(appendSegmentRow(nil, &r)) + "\n" }
	write := func(seq uint64, s string) {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%016d%s", seq, journalExt)), []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write(3, line(rows[0])+"not a row\n"+line(rows[1]))
	torn := line(rows[2])
	write(7, line(rows[2])+strings.Repeat("x", journalMaxLine+10)+"\n"+torn[:len(torn)/2])
	write(9, "")
	j, got, bad, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close(false)
	if bad != 3 || len(got) != 3 || j.seq != 10 {
		t.Fatalf("read back %d rows, %d bad, next file %d; want 3, 3, 10", len(got), bad, j.seq)
	}
	for i, want := range rows {
		want.start = want.start.Truncate(time.Millisecond)
		want.jseq = []uint64{3, 3, 7}[i]
		g := got[i]
		if !g.start.Equal(want.start) {
			t.Errorf("row %d start %v, want %v", i, g.start, want.start)
		}
		g.start = want.start
		if g != want {
			t.Errorf("row %d = %+v, want %+v", i, g, want)
		}
	}
	if _, _, _, err := openJournal(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second process on the directory: %v, want in use", err)
	}
}

// TestJournalWriteFailure: a row the journal cannot keep is still queued
// and written; the failure is counted.
func TestJournalWriteFailure(t *testing.T) {
	b := storetest.Backends(t)[0]
	dir := t.TempDir()
	l := newLedger(t, b.Open(t), withJournal(dir))
	record(t, l, call("one", "u", "m", day1, llm.Usage{}))
	l.mu.Lock()
	name := l.journal.f.Name()
	l.journal.f.Close()
	ro, err := os.Open(name) // read-only: the next write fails
	if err != nil {
		t.Fatal(err)
	}
	l.journal.f = ro
	l.mu.Unlock()
	record(t, l, call("two", "u", "m", day1, llm.Usage{}))
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, s := count(t, l), l.Stats(); got != 2 || s.JournalErrors != 1 {
		t.Errorf("%d rows, stats %+v; want 2 rows and 1 journal error", got, s)
	}
}

// TestJournalKeepsFilesOfQueuedRows: a file goes only once no queued row
// is in it (a batch can end in the middle of a file).
func TestJournalKeepsFilesOfQueuedRows(t *testing.T) {
	j := &journal{dir: "d", seq: 5, closed: []uint64{2, 3, 4}}
	l := &Ledger{journal: j, queue: []row{{jseq: 3}, {jseq: 4}, {jseq: 5}}}
	if got := l.journalDone(); len(got) != 1 || got[0] != j.path(2) {
		t.Errorf("with rows of file 3 queued: %v, want file 2 only", got)
	}
	l.queue = l.queue[2:]
	if got := l.journalDone(); len(got) != 2 || got[1] != j.path(4) {
		t.Errorf("with rows of the current file queued: %v, want files 3 and 4", got)
	}
	if got := l.journalDone(); len(got) != 0 || len(j.closed) != 0 {
		t.Errorf("again: %v, closed %v; want nothing", got, j.closed)
	}
}

const ledgerHelperEnv = "LEDGER_JOURNAL_HELPER"

// TestLedgerHelperProcess is the service of TestJournalSurvivesKill: it
// records rows its writer will not write for an hour, says so, and waits
// to be killed.
func TestLedgerHelperProcess(t *testing.T) {
	if os.Getenv(ledgerHelperEnv) == "" {
		t.Skip("helper process for TestJournalSurvivesKill")
	}
	db, err := store.Open(context.Background(), store.Config{DataDir: os.Getenv("LEDGER_HELPER_DB")})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	l, err := NewLedger(context.Background(), LedgerConfig{DB: db, FlushInterval: time.Hour,
		JournalDir: os.Getenv(ledgerHelperEnv), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	for i := range 300 {
		if err := l.Record(context.Background(), call(fmt.Sprintf("k%03d", i), "u", "gpt-4o", day1, llm.Usage{OutputTokens: 1})); err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
	}
	fmt.Println("RECORDED 300")
	select {}
}

// TestJournalSurvivesKill: a service killed with SIGKILL before its writer
// ran loses no row; the next start writes them.
func TestJournalSurvivesKill(t *testing.T) {
	dir, dbDir := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), ledgerHelperEnv+"="+dir, "LEDGER_HELPER_DB="+dbDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "RECORDED 300") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	db, err := store.Open(context.Background(), store.Config{DataDir: dbDir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := newLedger(t, db, withJournal(dir))
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, s := count(t, l), l.Stats(); got != 300 || s.Replayed != 300 {
		t.Errorf("after the kill: %d rows, stats %+v; want 300 replayed and written", got, s)
	}
	if tot, _ := l.Totals(context.Background(), UsageQuery{}); tot.Requests != 300 || tot.OutputTokens != 300 {
		t.Errorf("rollups after the kill = %+v", tot)
	}
}

// BenchmarkLedgerRecord is Record's cost on the request path, without and
// with the journal (the writer's batches are outside the timer).
func BenchmarkLedgerRecord(b *testing.B) {
	for _, journaled := range []bool{false, true} {
		b.Run(fmt.Sprintf("journal=%v", journaled), func(b *testing.B) {
			db, err := store.Open(context.Background(), store.Config{DataDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			cfg := LedgerConfig{DB: db, FlushInterval: time.Hour, BatchSize: 50_000, QueueSize: 50_000,
				Logger: slog.New(slog.DiscardHandler)}
			if journaled {
				cfg.JournalDir = b.TempDir()
			}
			l, err := NewLedger(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(context.Background())
			c := call("", "user-1", "gpt-4o-mini", day1, llm.Usage{InputTokens: 120, OutputTokens: 340})
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				c.ID = fmt.Sprintf("req-%016x", i)
				if err := l.Record(context.Background(), c); err != nil {
					b.Fatal(err)
				}
				if i++; i%20_000 == 0 {
					b.StopTimer()
					if err := l.Flush(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}

// TestJournalUnavailable: a journal directory that cannot be made, or one
// another ledger holds, leaves the ledger working without a journal and
// saying why.
func TestJournalUnavailable(t *testing.T) {
	b := storetest.Backends(t)[0]
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	held := t.TempDir()
	newLedger(t, b.Open(t), withJournal(held))
	for name, dir := range map[string]string{"not a directory": filepath.Join(file, "journal"), "in use": held} {
		t.Run(name, func(t *testing.T) {
			l := newLedger(t, b.Open(t), withJournal(dir))
			record(t, l, call("r-"+name, "u", "m", day1, llm.Usage{}))
			if err := l.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if s := l.Stats(); s.JournalOff == "" || s.Written != 1 {
				t.Errorf("stats %+v; want the row written and why there is no journal", s)
			}
		})
	}
}
