package cost

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/track"
)

// LedgerConfig configures a Ledger. Zero values take the defaults.
type LedgerConfig struct {
	// DB is the database (store.Open). Required.
	DB *store.DB
	// Prices computes the cost of calls that arrive without one
	// (Call.PriceVersion empty). Default: Default().
	Prices *Table
	// FlushInterval is how often queued rows are written: how far the
	// listings and rollups lag. Without a JournalDir it is also the crash
	// window: after a crash (not a clean Close) at most the rows accepted
	// in the last FlushInterval are missing. Default: 1s with a
	// JournalDir, else 200ms.
	FlushInterval time.Duration
	// JournalDir, when set, keeps every queued row in files there until
	// it is committed (see journal): a process crash loses none, and rows
	// a Close could not write (database down) are written at the next
	// start. A directory another process holds, or one that cannot be
	// made, leaves the ledger without a journal (Stats().JournalOff).
	JournalDir string
	// BatchSize is the most rows written in one transaction; a full batch
	// is written at once without waiting for the interval. Default: 500.
	BatchSize int
	// QueueSize bounds the rows held in memory while the database is slow
	// or down; beyond it Record drops the row, counts it and returns
	// track.ErrDropped. Default: 100000.
	QueueSize int
	// MaxRetryDelay caps the back-off between write attempts while the
	// database fails. Default: 10s.
	MaxRetryDelay time.Duration
	// Retention deletes interaction rows older than this (daily rollups
	// are kept). 0 keeps everything.
	Retention time.Duration
	// WriteTimeout bounds one batch transaction. Default: 30s.
	WriteTimeout time.Duration
	// PruneInterval is how often retention runs. Default: 1h.
	PruneInterval time.Duration
	Logger        *slog.Logger
	// Now is the clock (tests). Default: time.Now.
	Now func() time.Time
}

func (c *LedgerConfig) defaults() {
	c.Prices = cmp.Or(c.Prices, Default())
	if c.FlushInterval == 0 && c.JournalDir != "" {
		c.FlushInterval = time.Second // the journal holds the rows meanwhile
	}
	c.FlushInterval = cmp.Or(c.FlushInterval, 200*time.Millisecond)
	c.BatchSize = cmp.Or(c.BatchSize, 500)
	c.QueueSize = cmp.Or(c.QueueSize, 100_000)
	c.MaxRetryDelay = cmp.Or(c.MaxRetryDelay, 10*time.Second)
	c.PruneInterval = cmp.Or(c.PruneInterval, time.Hour)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, 30*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
}

// LedgerStats are the ledger's counters, for /health and metrics.
type LedgerStats struct {
	Queued      int   `json:"queued"`       // accepted, not yet written
	Written     int64 `json:"written"`      // rows inserted
	Duplicates  int64 `json:"duplicates"`   // rows skipped: request id already present
	Dropped     int64 `json:"dropped"`      // rows refused because the queue was full
	WriteErrors int64 `json:"write_errors"` // failed batch attempts (rows stay queued)
	// JournalErrors counts rows the journal could not keep (disk full…):
	// they are queued in memory only.
	JournalErrors int64 `json:"journal_errors"`
	Replayed      int   `json:"replayed"` // rows read back from the journal at start
	// JournalOff is why a ledger configured with a journal runs without
	// one (its directory could not be made or is in use).
	JournalOff string `json:"journal_off,omitempty"`
	LastError  string `json:"last_error,omitempty"`
}

// Ledger is the usage ledger: one narrow row per interaction plus daily
// rollups per day × user × key × model. It implements track.Sink: Record
// only queues; a background writer inserts batches in one transaction,
// idempotent on the request id, and keeps rows queued and retries while
// the database is down.
type Ledger struct {
	db  *store.DB
	cfg LedgerConfig

	mu     sync.Mutex
	queue  []row
	stats  LedgerStats
	closed bool

	journal *journal // nil without cfg.JournalDir; guarded by mu

	kick    chan struct{}
	flushes chan chan error
	stop    chan struct{}
	done    chan struct{}
	abandon chan struct{} // tests: stop without writing (a crash)

	stmts *ledgerStmts // the writer's prepared statements (writer goroutine only)
	// The writer's buffers (writer goroutine only): a batch's rows, first
	// of each id (firstOfEach) as recorded and sorted by start, and the
	// ids seen.
	first, sorted []row
	seen          map[string]struct{}
}

var _ track.Sink = (*Ledger)(nil)

// row is what the ledger keeps of a track.Call: no prompt, no answer.
type row struct {
	requestID, user, keyID, team, endpoint, provider, model string
	start                                                   time.Time
	input, output, thinking, cached                         int
	cacheWrite, cacheWrite1h                                int
	costUSD                                                 float64
	costKnown                                               bool
	priceVersion, status                                    string
	latencyMS, ttftMS                                       int64
	cacheHit, fallback                                      bool
	attempts                                                int
	errorMessage                                            string // public text (track.Call.ErrorMessage)
	jseq                                                    uint64 // the journal file holding the row
}

// NewLedger applies the ledger's migrations and starts its writer. Stop it
// with Close.
func NewLedger(ctx context.Context, cfg LedgerConfig) (*Ledger, error) {
	if cfg.DB == nil {
		return nil, errors.New("cost: ledger needs a database")
	}
	cfg.defaults()
	if err := cfg.DB.Migrate(ctx, "ledger", ledgerMigrations); err != nil {
		return nil, fmt.Errorf("cost: ledger: %w", err)
	}
	l := &Ledger{
		db: cfg.DB, cfg: cfg,
		kick: make(chan struct{}, 1), flushes: make(chan chan error),
		stop: make(chan struct{}), done: make(chan struct{}), abandon: make(chan struct{}),
	}
	if cfg.JournalDir != "" {
		l.startJournal()
	}
	go l.run()
	return l, nil
}

// startJournal opens cfg.JournalDir and queues the rows its files hold.
// A directory that cannot be made (a read-only DATA_DIR) or is in use by
// another process leaves the ledger without a journal, as it was before
// there was one, and says so in the log and in Stats.
func (l *Ledger) startJournal() {
	j, rows, bad, err := openJournal(l.cfg.JournalDir)
	if err != nil {
		l.stats.JournalOff = err.Error()
		l.cfg.Logger.Warn("ledger: no journal; a crash loses the rows of the last flush interval",
			"err", err, "flush_interval", l.cfg.FlushInterval.String())
		return
	}
	l.journal, l.queue, l.stats.Replayed = j, rows, len(rows)
	if len(rows) > 0 || bad > 0 {
		l.cfg.Logger.Info("ledger: rows from the journal queued again (those already written are skipped)",
			"rows", len(rows), "unreadable_lines", bad, "dir", l.cfg.JournalDir)
	}
}

// Record implements track.Sink. It queues the call and returns at once;
// it never touches the database. A call without a price version is
// priced here with cfg.Prices.
func (l *Ledger) Record(_ context.Context, c track.Call) error {
	r := l.toRow(c)
	l.mu.Lock()
	if l.closed || len(l.queue) >= l.cfg.QueueSize {
		l.stats.Dropped++
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return fmt.Errorf("cost: ledger closed: %w", track.ErrDropped)
		}
		return fmt.Errorf("cost: ledger queue full: %w", track.ErrDropped)
	}
	var jerr error
	if l.journal != nil {
		r.jseq, jerr = l.journal.append(&r)
	}
	l.queue = append(l.queue, r)
	full := len(l.queue) >= l.cfg.BatchSize
	l.mu.Unlock()
	if jerr != nil {
		l.cfg.Logger.Warn("ledger journal: write failed; the row is queued in memory only", "err", jerr)
	}
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// MaxField bounds each text column of a ledger row that a caller or an
// upstream chooses (user, model, provider...): a row is small whatever
// they send.
const MaxField = 256

// bound cuts s to MaxField bytes, on a rune boundary.
func bound(s string) string {
	if len(s) <= MaxField {
		return s
	}
	n := MaxField
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (l *Ledger) toRow(c track.Call) row {
	r := row{
		requestID: bound(c.ID), user: bound(c.User), keyID: bound(c.KeyID), team: bound(c.Team), endpoint: bound(c.Endpoint),
		provider: bound(c.Provider), model: bound(c.Model), start: c.Start,
		input: c.Usage.InputTokens, output: c.Usage.OutputTokens,
		thinking: c.Usage.ThinkingTokens, cached: c.Usage.CachedInputTokens,
		cacheWrite: c.Usage.CacheWriteTokens, cacheWrite1h: c.Usage.CacheWrite1hTokens,
		costUSD: c.CostUSD, costKnown: c.CostKnown, priceVersion: c.PriceVersion,
		latencyMS: c.Duration.Milliseconds(), cacheHit: c.Cached, status: "ok",
		ttftMS: c.TTFT.Milliseconds(), fallback: c.Fallback, attempts: c.Attempts, errorMessage: bound(c.ErrorMessage),
	}
	if r.requestID == "" {
		var b [12]byte
		rand.Read(b[:])
		r.requestID = "gen-" + hex.EncodeToString(b[:])
	}
	if r.start.IsZero() {
		r.start = l.cfg.Now()
	}
	if r.priceVersion == "" {
		r.costUSD, r.costKnown = l.cfg.Prices.Cost(c.Provider, c.Model, c.Usage)
		r.priceVersion = l.cfg.Prices.Version()
	}
	if !r.costKnown {
		r.costUSD = 0
	}
	if !c.Success {
		r.status = bound(cmp.Or(c.ErrorKind, "error"))
	}
	return r
}

// Flush writes everything queued now and reports the first failure.
func (l *Ledger) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case l.flushes <- reply:
	case <-l.done:
		return errors.New("cost: ledger closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting rows and writes every queued one, retrying while
// the database fails, until ctx ends. After a nil return no accepted
// interaction is missing. It does not close the database.
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if !already {
		close(l.stop)
	}
	<-l.done
	err := l.drain(ctx)
	l.closeStatements()
	n := l.Stats().Queued
	if l.journal != nil {
		l.mu.Lock()
		jerr := l.journal.close(n == 0)
		l.mu.Unlock()
		if n > 0 {
			return fmt.Errorf("cost: ledger close: %d rows not written, kept in the journal for the next start: %w", n, cmp.Or(err, ctx.Err()))
		}
		if jerr != nil {
			return fmt.Errorf("cost: ledger close: journal: %w", jerr)
		}
	}
	if n > 0 {
		return fmt.Errorf("cost: ledger close: %d rows not written: %w", n, cmp.Or(err, ctx.Err()))
	}
	return nil
}

// Stats returns the counters.
func (l *Ledger) Stats() LedgerStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Queued = len(l.queue)
	if l.journal != nil {
		s.JournalErrors = l.journal.errors
	}
	return s
}

func (l *Ledger) run() {
	defer close(l.done)
	tick := time.NewTicker(l.cfg.FlushInterval)
	defer tick.Stop()
	prune := time.NewTicker(l.cfg.PruneInterval)
	defer prune.Stop()
	var retryAt time.Time
	delay := l.cfg.FlushInterval
	for {
		select {
		case <-l.stop:
			return
		case <-l.abandon:
			return
		case reply := <-l.flushes:
			reply <- l.writeQueued(context.Background())
			continue
		case <-prune.C:
			l.pruneNow()
			continue
		case <-tick.C:
		case <-l.kick:
		}
		if time.Now().Before(retryAt) {
			continue
		}
		if err := l.writeQueued(context.Background()); err != nil {
			delay = min(delay*2, l.cfg.MaxRetryDelay)
			retryAt = time.Now().Add(delay)
			continue
		}
		delay = l.cfg.FlushInterval
	}
}

// dropWritten takes the n rows just written off the head of the queue
// (l.mu held). The array is kept for the rows to come instead of being
// regrown from nothing (appending into a new array was ~1 KB of garbage
// per row): the rows that arrived while the batch was written, at most a
// batch of them, move to its front. Under steady load there always are
// some; keeping the array only when the queue emptied reallocated it
// every batch at 1,000 req/s and more. A larger rest (a backlog after an
// outage) is sliced off instead, as moving it for every batch would copy
// the backlog over and over; an array grown past 4 batches by one goes
// once it empties.
func (l *Ledger) dropWritten(n int) {
	rest := len(l.queue) - n
	switch {
	case cap(l.queue) <= 4*l.cfg.BatchSize && rest <= l.cfg.BatchSize:
		copy(l.queue, l.queue[n:])
		clear(l.queue[rest:])
		l.queue = l.queue[:rest]
	case rest == 0:
		l.queue = nil
	default:
		clear(l.queue[:n]) // the written rows' strings need not wait for the array
		l.queue = l.queue[n:]
	}
}

// drain writes until the queue is empty, backing off on failures, until
// ctx ends.
func (l *Ledger) drain(ctx context.Context) error {
	delay := l.cfg.FlushInterval
	for {
		err := l.writeQueued(ctx)
		if err == nil || l.Stats().Queued == 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(delay*2, l.cfg.MaxRetryDelay)
	}
}

// writeQueued writes the queue in batches until it is empty or a batch
// fails; a failed batch stays at the head of the queue.
func (l *Ledger) writeQueued(ctx context.Context) error {
	for {
		l.mu.Lock()
		n := min(len(l.queue), l.cfg.BatchSize)
		batch := l.queue[:n:n]
		if l.journal != nil && n > 0 {
			l.journal.rotate() // rows from now on are not in the batch's files
		}
		l.mu.Unlock()
		if n == 0 {
			return nil
		}
		bctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		inserted, err := l.writeBatch(bctx, batch)
		cancel()
		l.mu.Lock()
		if err != nil {
			l.stats.WriteErrors++
			l.stats.LastError = err.Error()
			queued := len(l.queue)
			l.mu.Unlock()
			l.cfg.Logger.Warn("ledger write failed; rows stay queued", "rows", queued, "err", err)
			return err
		}
		l.dropWritten(n)
		l.stats.Written += int64(inserted)
		l.stats.Duplicates += int64(n - inserted)
		l.stats.LastError = ""
		written := l.journalDone()
		l.mu.Unlock()
		if err := remove(written); err != nil {
			l.cfg.Logger.Warn("ledger journal: remove", "err", err)
		}
	}
}

// journalDone returns the journal files whose rows are all written (l.mu
// held): those older than the oldest queued row's.
func (l *Ledger) journalDone() []string {
	if l.journal == nil {
		return nil
	}
	oldest := l.journal.seq
	if len(l.queue) > 0 {
		oldest = l.queue[0].jseq
	}
	return l.journal.done(oldest)
}
