package cost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
)

// maxInsertRows is the most rows (request ids, segment keys) one INSERT
// statement carries. They go in statements of 16, 8, 4, 2 and 1 rows
// (five prepared statements each): database/sql's and the driver's
// per-call work (binding, driverArgs, and the goroutine
// modernc.org/sqlite starts per call to watch the context) was half of
// the writer's CPU with one row per statement.
const maxInsertRows = 16

// insertValues is an INSERT of n rows of cols into table that skips a
// key already present: INSERT OR IGNORE on SQLite (a statement of several
// rows that may abort halfway keeps a statement journal, which spilled to
// a temporary file and was a fifth of the writer's CPU; the writer never
// binds NULL and these tables have no constraint but their key), ON
// CONFLICT DO NOTHING on PostgreSQL.
func insertValues(d store.Dialect, table, cols string, n int) string {
	verb, tail := "INSERT OR IGNORE", ""
	if d == store.Postgres {
		verb, tail = "INSERT", "\nON CONFLICT DO NOTHING"
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", strings.Count(cols, ",")+1), ", ") + ")"
	return verb + " INTO " + table + " (" + cols + ")\nVALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", n), ", ") + tail
}

// The segment statements (segment.go).
const (
	insertSegment = `INSERT INTO usage_segments (ts_min, ts_max, rows, data) VALUES (?, ?, ?, ?) RETURNING id`
	updateSegment = `UPDATE usage_segments SET ts_min = ?, ts_max = ?, rows = ?, data = ? WHERE id = ?`
	deleteSegment = `DELETE FROM usage_segments WHERE id = ?`
	segmentOfID   = `SELECT segment FROM usage_request_ids WHERE request_id = ?`
	idColumns     = "request_id, segment"
	keyColumns    = "dim, value, ts_max, segment"
)

// upsertTeamDaily is the same rollup per day × team × model, for the
// rows that carry a team.
const upsertTeamDaily = `INSERT INTO usage_team_daily (day, team, provider, model, requests, errors,
	input_tokens, output_tokens, thinking_tokens, cached_input_tokens, cost_usd, cost_unknown,
	cache_write_tokens, cache_write_1h_tokens)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (day, team, provider, model) DO UPDATE SET
	requests = usage_team_daily.requests + excluded.requests,
	errors = usage_team_daily.errors + excluded.errors,
	input_tokens = usage_team_daily.input_tokens + excluded.input_tokens,
	output_tokens = usage_team_daily.output_tokens + excluded.output_tokens,
	thinking_tokens = usage_team_daily.thinking_tokens + excluded.thinking_tokens,
	cached_input_tokens = usage_team_daily.cached_input_tokens + excluded.cached_input_tokens,
	cost_usd = usage_team_daily.cost_usd + excluded.cost_usd,
	cost_unknown = usage_team_daily.cost_unknown + excluded.cost_unknown,
	cache_write_tokens = usage_team_daily.cache_write_tokens + excluded.cache_write_tokens,
	cache_write_1h_tokens = usage_team_daily.cache_write_1h_tokens + excluded.cache_write_1h_tokens`

// yieldAfter is the longest the writer runs before it steps aside for
// yieldPause.
const (
	yieldAfter = 150 * time.Microsecond
	yieldPause = 100 * time.Microsecond
)

// yielder lets requests run in the middle of a SQLite batch. SQLite
// (modernc.org/sqlite) runs in the writer's goroutine and does not block
// while it inserts, so a batch is pure CPU work: with one processor
// (GOMAXPROCS=1, one core for the gateway) every request that arrives
// meanwhile waits for it. A 200-row batch held the processor for ~3.5 ms
// and was the service's whole added p99 latency in the load benchmark (an
// execution trace from `go run ./bench -profile` showed it). A short
// sleep whenever the writer has run for yieldAfter caps that;
// runtime.Gosched would not do, since it puts the writer back in the run
// queue ahead of the network poller. The transaction stays one: the
// write lock is held a little longer, the CPU cost per row does not
// change. PostgreSQL waits on the network for every row anyway.
// BenchmarkLedgerWrite writes most of its rows in Close's drain, so its
// cpu-ns/op is the writer's cost without the pauses.
type yielder struct {
	on    bool
	last  time.Time
	now   func() time.Time
	sleep func(time.Duration)
}

// newYielder yields on SQLite while the ledger serves; the final drain
// of Close runs after the server stopped taking requests and does not.
func (l *Ledger) newYielder() *yielder {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	return &yielder{on: l.db.Dialect != store.Postgres && !closed, last: time.Now(), now: time.Now, sleep: time.Sleep}
}

func (y *yielder) maybe() {
	if y.on && y.now().Sub(y.last) >= yieldAfter {
		y.sleep(yieldPause)
		y.last = y.now()
	}
}

// ledgerStmts are the writer's statements, prepared once: database/sql
// keeps them per connection, so a batch does not compile its SQL again.
// ids[k] and keys[k] carry 1<<k rows.
type ledgerStmts struct {
	segment, update, remove, owner *sql.Stmt
	ids, keys                      []*sql.Stmt
	// The rollup upserts of 1, 2, 4 … maxUpsertRows groups.
	daily, hourly, dailyBy, hourlyBy []*sql.Stmt
	team                             *sql.Stmt
}

// statements prepares the writer's statements on first use (and again
// after a failure: the database may be down at start). Only the writer
// goroutine calls it.
func (l *Ledger) statements(ctx context.Context) (*ledgerStmts, error) {
	if l.stmts != nil {
		return l.stmts, nil
	}
	st := &ledgerStmts{}
	prep := func(dst **sql.Stmt, q string) error {
		s, err := l.db.PrepareContext(ctx, l.db.Rebind(q))
		*dst = s
		return err
	}
	err := errors.Join(prep(&st.segment, insertSegment), prep(&st.update, updateSegment),
		prep(&st.remove, deleteSegment), prep(&st.owner, segmentOfID), prep(&st.team, upsertTeamDaily))
	for n := 1; n <= maxInsertRows && err == nil; n *= 2 {
		st.ids, st.keys = append(st.ids, nil), append(st.keys, nil)
		err = errors.Join(prep(&st.ids[len(st.ids)-1], insertValues(l.db.Dialect, "usage_request_ids", idColumns, n)),
			prep(&st.keys[len(st.keys)-1], insertValues(l.db.Dialect, "usage_segment_keys", keyColumns, n)))
	}
	for _, p := range []struct {
		t     rollupTable
		stmts *[]*sql.Stmt
	}{{dailyTable, &st.daily}, {hourlyTable, &st.hourly}, {dailyByTable, &st.dailyBy}, {hourlyByTable, &st.hourlyBy}} {
		for n := 1; n <= maxUpsertRows && err == nil; n *= 2 {
			*p.stmts = append(*p.stmts, nil)
			if err = prep(&(*p.stmts)[len(*p.stmts)-1], p.t.upsert(n)); err != nil {
				err = fmt.Errorf("%s: %w", p.t.name, err)
			}
		}
	}
	if err != nil {
		st.close()
		return nil, fmt.Errorf("cost: ledger: prepare: %w", err)
	}
	l.stmts = st
	return l.stmts, nil
}

func (l *Ledger) closeStatements() {
	if l.stmts != nil {
		l.stmts.close()
		l.stmts = nil
	}
}

func (st *ledgerStmts) close() {
	all := slices.Concat(st.ids, st.keys, st.daily, st.hourly, st.dailyBy, st.hourlyBy)
	for _, s := range append(all, st.segment, st.update, st.remove, st.owner, st.team) {
		if s != nil {
			s.Close()
		}
	}
}

// txStmts are a transaction's copies of prepared statements, made on
// first use and closed with close.
type txStmts struct {
	tx   *sql.Tx
	made map[*sql.Stmt]*sql.Stmt
}

func (t *txStmts) get(ctx context.Context, s *sql.Stmt) *sql.Stmt {
	if ts, ok := t.made[s]; ok {
		return ts
	}
	if t.made == nil {
		t.made = map[*sql.Stmt]*sql.Stmt{}
	}
	ts := t.tx.StmtContext(ctx, s)
	t.made[s] = ts
	return ts
}

func (t *txStmts) close() {
	for _, s := range t.made {
		s.Close()
	}
}

// firstOfEach is rows without a request id's later rows (the first row
// of an id is the one kept, as for an id already written), in the
// writer's own buffer: the batch is the queue's, which stays as it is
// until the write succeeds.
func (l *Ledger) firstOfEach(rows []row) []row {
	clear(l.seen)
	if l.seen == nil {
		l.seen = make(map[string]struct{}, len(rows))
	}
	out := l.first[:0]
	for i := range rows {
		if _, dup := l.seen[rows[i].requestID]; !dup {
			l.seen[rows[i].requestID] = struct{}{}
			out = append(out, rows[i])
		}
	}
	l.first = out
	return out
}

// segmentLen is how many of rows (sorted by start) the next segment
// takes: up to segmentRows, all in one minute (segmentSpanMS).
func segmentLen(rows []row) int {
	first := floorDiv(rows[0].start.UnixMilli(), segmentSpanMS)
	n := 1
	for n < min(len(rows), segmentRows) && floorDiv(rows[n].start.UnixMilli(), segmentSpanMS) == first {
		n++
	}
	return n
}

// writeBatch writes rows, each id's first, sorted by start, as segments
// (segmentLen) and folds the newly written ones (not the replays) into
// the rollups, all in one transaction.
func (l *Ledger) writeBatch(ctx context.Context, rows []row) (inserted int, err error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("cost: ledger: begin: %w", err)
	}
	defer tx.Rollback()
	st, err := l.statements(ctx)
	if err != nil {
		return 0, err
	}
	y := l.newYielder()
	f := newBatchFold()
	w := segmentWriter{st: st, in: txStmts{tx: tx}, y: y, args: make([]any, 0, 4*maxInsertRows)}
	defer w.in.close()
	rows = l.firstOfEach(rows)
	l.sorted = append(l.sorted[:0], rows...)
	slices.SortStableFunc(l.sorted, func(a, b row) int { return a.start.Compare(b.start) })
	for rest := l.sorted; len(rest) > 0; {
		n := segmentLen(rest)
		if err := w.write(ctx, rest[:n]); err != nil {
			return 0, err
		}
		rest = rest[n:]
	}
	for i := range rows { // in the order recorded: a rollup's team is its last row's
		if !w.replayed[rows[i].requestID] {
			f.add(&rows[i])
		}
	}
	if err := f.upsert(ctx, tx, st, y); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("cost: ledger: commit: %w", err)
	}
	return f.inserted, nil
}

// segmentWriter writes a batch's segments, reusing its buffers.
type segmentWriter struct {
	st   *ledgerStmts
	in   txStmts
	y    *yielder
	args []any
	data []byte
	keys []segmentKey
	// replayed are the request ids already written before the batch
	// (nil while there are none).
	replayed map[string]bool
}

// write stores rows (distinct ids) as one segment: the segment, its
// request ids and its filter keys. A request id already present (a
// replay) is left out of the segment and noted in w.replayed.
func (w *segmentWriter) write(ctx context.Context, rows []row) error {
	w.y.maybe()
	lo, hi := startRange(rows)
	w.data = appendSegment(w.data[:0], rows)
	var id int64
	if err := w.in.get(ctx, w.st.segment).QueryRowContext(ctx, lo, hi, len(rows), string(w.data)).Scan(&id); err != nil {
		return fmt.Errorf("cost: ledger: insert segment: %w", err)
	}
	n, err := w.insertIDs(ctx, rows, id)
	if err != nil {
		return err
	}
	if n < len(rows) {
		if rows, err = w.keepNew(ctx, rows, id); err != nil || len(rows) == 0 {
			return err
		}
		if hi, err = w.rewrite(ctx, id, rows); err != nil {
			return err
		}
	}
	w.keys = segmentKeys(w.keys, rows)
	if err := w.insertKeys(ctx, w.keys, hi, id); err != nil {
		return err
	}
	return nil
}

// startRange is the first and last start time of rows (unix ms).
func startRange(rows []row) (lo, hi int64) {
	lo, hi = rows[0].start.UnixMilli(), rows[0].start.UnixMilli()
	for i := range rows[1:] {
		ms := rows[i+1].start.UnixMilli()
		lo, hi = min(lo, ms), max(hi, ms)
	}
	return lo, hi
}

// insertIDs records rows' request ids as segment id's and says how many
// were new.
func (w *segmentWriter) insertIDs(ctx context.Context, rows []row, id int64) (int, error) {
	seg := any(id)
	var n int64
	for len(rows) > 0 {
		w.y.maybe()
		k := bits.Len(uint(min(len(rows), maxInsertRows))) - 1 // the largest statement that fits
		w.args = w.args[:0]
		for i := range rows[:1<<k] {
			w.args = append(w.args, rows[i].requestID, seg)
		}
		res, err := w.in.get(ctx, w.st.ids[k]).ExecContext(ctx, w.args...)
		if err != nil {
			return 0, fmt.Errorf("cost: ledger: insert ids: %w", err)
		}
		m, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("cost: ledger: insert ids: %w", err)
		}
		n += m
		rows = rows[1<<k:]
	}
	return int(n), nil
}

// keepNew is the rows whose request id segment id now owns (rows' ids
// are distinct): the others were written before (replays).
func (w *segmentWriter) keepNew(ctx context.Context, rows []row, id int64) ([]row, error) {
	var kept []row
	for i := range rows {
		var owner int64
		if err := w.in.get(ctx, w.st.owner).QueryRowContext(ctx, rows[i].requestID).Scan(&owner); err != nil {
			return nil, fmt.Errorf("cost: ledger: replay check: %w", err)
		}
		if owner == id {
			kept = append(kept, rows[i])
		} else {
			if w.replayed == nil {
				w.replayed = map[string]bool{}
			}
			w.replayed[rows[i].requestID] = true
		}
	}
	if len(kept) == 0 {
		if _, err := w.in.get(ctx, w.st.remove).ExecContext(ctx, id); err != nil {
			return nil, fmt.Errorf("cost: ledger: drop segment: %w", err)
		}
	}
	return kept, nil
}

// rewrite stores rows as segment id's content and returns its last start.
func (w *segmentWriter) rewrite(ctx context.Context, id int64, rows []row) (int64, error) {
	lo, hi := startRange(rows)
	w.data = appendSegment(w.data[:0], rows)
	if _, err := w.in.get(ctx, w.st.update).ExecContext(ctx, lo, hi, len(rows), string(w.data), id); err != nil {
		return 0, fmt.Errorf("cost: ledger: rewrite segment: %w", err)
	}
	return hi, nil
}

// insertKeys records the filter keys of segment id (last start hi).
func (w *segmentWriter) insertKeys(ctx context.Context, keys []segmentKey, hi, id int64) error {
	seg, last := any(id), any(hi)
	for len(keys) > 0 {
		k := bits.Len(uint(min(len(keys), maxInsertRows))) - 1
		w.args = w.args[:0]
		for _, key := range keys[:1<<k] {
			w.args = append(w.args, key.dim, key.value, last, seg)
		}
		if _, err := w.in.get(ctx, w.st.keys[k]).ExecContext(ctx, w.args...); err != nil {
			return fmt.Errorf("cost: ledger: insert keys: %w", err)
		}
		keys = keys[1<<k:]
	}
	return nil
}

// timeKeys are the day and hour of a unix-millisecond time as rollup
// keys and arguments, boxed once per distinct day and hour (the rows of a
// batch share a few).
type timeKeys struct {
	ok              bool
	dayNum, hour    int64
	day             string
	dayArg, hourArg any
}

// setDayHour sets the keys of a day (days since 1970-01-01 UTC) and an
// hour (hourOf).
func (t *timeKeys) setDayHour(day, hour int64) {
	if !t.ok || day != t.dayNum {
		t.dayNum, t.day = day, time.UnixMilli(day*dayMS).UTC().Format(time.DateOnly)
		t.dayArg = t.day
	}
	if !t.ok || hour != t.hour {
		t.hour, t.hourArg = hour, hour
	}
	t.ok = true
}

const dayMS = 86_400_000

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// upsert adds the batch's groups to the rollup tables.
func (f *batchFold) upsert(ctx context.Context, tx *sql.Tx, st *ledgerStmts, y *yielder) error {
	b := f.rollups()
	for _, rs := range []struct {
		name   string
		stmts  []*sql.Stmt // stmts[k] upserts 1<<k groups
		groups *rollups
		args   func(rollupKey) []any
	}{{"daily", st.daily, b.daily, b.daily.args}, {"hourly", st.hourly, b.hourly, b.hourly.args},
		{"daily by dimension", st.dailyBy, b.dailyBy, b.dailyBy.args},
		{"hourly by dimension", st.hourlyBy, b.hourlyBy, b.hourlyBy.args},
		{"team", []*sql.Stmt{st.team}, b.team, b.team.teamArgs}} {
		if err := upsertGroups(ctx, tx, rs.stmts, rs.groups.order, rs.args, y); err != nil {
			return fmt.Errorf("cost: ledger: rollup %s: %w", rs.name, err)
		}
	}
	return nil
}

// upsertGroups upserts the groups of keys, as many per statement as
// stmts allow (stmts[k] takes 1<<k groups), in the transaction tx.
func upsertGroups(ctx context.Context, tx *sql.Tx, stmts []*sql.Stmt, keys []rollupKey, args func(rollupKey) []any, y *yielder) error {
	inTx := make([]*sql.Stmt, len(stmts)) // made on first use
	defer func() {
		for _, s := range inTx {
			if s != nil {
				s.Close()
			}
		}
	}()
	var vals []any
	for len(keys) > 0 {
		y.maybe()
		k := min(bits.Len(uint(len(keys)))-1, len(stmts)-1)
		if inTx[k] == nil {
			inTx[k] = tx.StmtContext(ctx, stmts[k])
		}
		vals = vals[:0]
		for _, key := range keys[:1<<k] {
			vals = append(vals, args(key)...)
		}
		if _, err := inTx[k].ExecContext(ctx, vals...); err != nil {
			return err
		}
		keys = keys[1<<k:]
	}
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// pruneSegments is how many segments one retention transaction reads, so
// that retention never holds a long lock.
const pruneSegments = 64

// pruneSelect reads the oldest segments holding a row older than a time,
// by usage_segments_ts_min.
const pruneSelect = `SELECT id, ts_max, data FROM usage_segments WHERE ts_min < ? ORDER BY ts_min LIMIT ?`

// Prune deletes interaction rows that started before cutoff, a
// transaction per pruneSegments segments: a segment wholly older is
// deleted with its ids and keys, one that straddles cutoff is rewritten
// with the rows it keeps. Daily rollups are kept.
func (l *Ledger) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		n, segs, err := l.pruneStep(ctx, cutoff.UnixMilli())
		total += n
		if err != nil {
			return total, fmt.Errorf("cost: ledger prune: %w", err)
		}
		if segs < pruneSegments {
			return total, nil
		}
	}
}

// pruneStep prunes the oldest segments that hold a row older than cutoff;
// it returns the rows deleted and the segments read.
func (l *Ledger) pruneStep(ctx context.Context, cutoff int64) (int64, int, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	lock := ""
	if l.db.Dialect == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED" // instances sharing the database prune different segments
	}
	rows, err := tx.QueryContext(ctx, l.db.Rebind(pruneSelect+lock), cutoff, pruneSegments)
	if err != nil {
		return 0, 0, err
	}
	var segs []prunedSegment
	for rows.Next() {
		var s prunedSegment
		var data []byte
		if err = rows.Scan(&s.id, &s.tsMax, &data); err == nil {
			s.rows, err = decodeSegment(data)
		}
		if err != nil {
			rows.Close()
			return 0, 0, err
		}
		segs = append(segs, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, 0, err
	}
	var n int64
	for _, s := range segs {
		m, err := l.pruneSegment(ctx, tx, s, cutoff)
		if err != nil {
			return 0, 0, err
		}
		n += m
	}
	return n, len(segs), tx.Commit()
}

// prunedSegment is a segment retention reads.
type prunedSegment struct {
	id, tsMax int64
	rows      []RequestRow
}

// pruneSegment removes s's rows older than cutoff.
func (l *Ledger) pruneSegment(ctx context.Context, tx *sql.Tx, s prunedSegment, cutoff int64) (int64, error) {
	all := make([]row, len(s.rows))
	var keep []row
	for i, r := range s.rows {
		all[i] = rowOf(r)
		if r.ts >= cutoff {
			keep = append(keep, all[i])
		}
	}
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, l.db.Rebind(q), args...)
		return err
	}
	for _, r := range s.rows {
		if r.ts >= cutoff {
			continue
		}
		if err := exec(`DELETE FROM usage_request_ids WHERE request_id = ? AND segment = ?`, r.ID, s.id); err != nil {
			return 0, err
		}
	}
	kept := segmentKeys(nil, keep)
	for _, k := range segmentKeys(nil, all) {
		if slices.Contains(kept, k) {
			continue
		}
		if err := exec(`DELETE FROM usage_segment_keys WHERE dim = ? AND value = ? AND ts_max = ? AND segment = ?`,
			k.dim, k.value, s.tsMax, s.id); err != nil {
			return 0, err
		}
	}
	pruned := int64(len(all) - len(keep))
	if len(keep) == 0 {
		return pruned, exec(deleteSegment, s.id)
	}
	lo, hi := startRange(keep)
	return pruned, exec(updateSegment, lo, hi, len(keep), string(appendSegment(nil, keep)), s.id)
}

func (l *Ledger) pruneNow() {
	if l.cfg.Retention <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := l.Prune(ctx, l.cfg.Now().Add(-l.cfg.Retention))
	if err != nil {
		l.cfg.Logger.Warn("ledger retention failed", "err", err)
		return
	}
	if n > 0 {
		l.cfg.Logger.Info("ledger retention", "deleted", n)
	}
}

// Dimension is a column usage can be grouped by.
type Dimension string

// The grouping dimensions. DimModel also groups by provider.
const (
	DimDay   Dimension = "day"
	DimUser  Dimension = "user"
	DimKey   Dimension = "key"
	DimModel Dimension = "model"
	// DimTeam groups by the caller's team (the key's team when the call
	// was made); it reads the team rollup, which has no user or key.
	DimTeam Dimension = "team"
)

var dimColumns = map[Dimension][]string{
	DimDay: {"day"}, DimUser: {"user_id"}, DimKey: {"key_id"}, DimModel: {"provider", "model"}, DimTeam: {"team"},
}

// ParseDimensions reads a group_by value such as "model", "day" or
// "day,model".
func ParseDimensions(s string) ([]Dimension, error) {
	var out []Dimension
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d := Dimension(part)
		if _, ok := dimColumns[d]; !ok {
			return nil, fmt.Errorf("cost: unknown group_by %q (want day, model, user, key or team)", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// UsageQuery selects ledger usage from the daily rollups.
type UsageQuery struct {
	User  string // "" = every user
	KeyID string // "" = every key
	// Team selects one team's usage ("" = no team filter). A team
	// filter or a DimTeam grouping reads the team rollup, which cannot
	// also be filtered or grouped by user or key.
	Team string
	// From and To are UTC days, both included; only the date part counts.
	From, To time.Time
	GroupBy  []Dimension // none: one total row
}

// UsageRow is usage summed over a group. Grouping fields not asked for
// are empty.
type UsageRow struct {
	Day               string  `json:"day,omitempty"`
	User              string  `json:"user,omitempty"`
	KeyID             string  `json:"key_id,omitempty"`
	Provider          string  `json:"provider,omitempty"`
	Model             string  `json:"model,omitempty"`
	Team              string  `json:"team,omitempty"`
	Requests          int64   `json:"requests"`
	Errors            int64   `json:"errors"`
	InputTokens       int64   `json:"input_tokens"`
	OutputTokens      int64   `json:"output_tokens"`
	ThinkingTokens    int64   `json:"thinking_tokens"`
	CachedInputTokens int64   `json:"cached_input_tokens"`
	CostUSD           float64 `json:"cost_usd"`
	// CostUnknown counts calls to models without a price; CostUSD leaves
	// them out.
	CostUnknown int64 `json:"cost_unknown"`

	// CacheWriteTokens and CacheWrite1hTokens are prompt tokens written
	// to the provider's cache (5-minute and 1-hour entries).
	CacheWriteTokens   int64 `json:"cache_write_tokens"`
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
}

// Usage sums the ledger's daily rollups. Rows are ordered by the grouping
// columns. Rows still queued (at most one flush interval) are not counted.
func (l *Ledger) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	if dim, grouped, byDay, ok := usageDim(q); ok {
		return l.usageByDim(ctx, q, dim, grouped, byDay)
	}
	return l.usageFull(ctx, q)
}

// usageFull is Usage over usage_daily, for any filter and grouping.
func (l *Ledger) usageFull(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	var cols []string
	table := "usage_daily"
	if q.Team != "" || slices.Contains(q.GroupBy, DimTeam) {
		table = "usage_team_daily"
		if q.User != "" || q.KeyID != "" || slices.Contains(q.GroupBy, DimUser) || slices.Contains(q.GroupBy, DimKey) {
			return nil, errors.New("cost: usage: team usage cannot be filtered or grouped by user or key")
		}
	}
	for _, d := range q.GroupBy {
		c, ok := dimColumns[d]
		if !ok {
			return nil, fmt.Errorf("cost: usage: unknown dimension %q", d)
		}
		cols = append(cols, c...)
	}
	where, args := []string{"1=1"}, []any{}
	if q.Team != "" {
		where, args = append(where, "team = ?"), append(args, q.Team)
	}
	if q.User != "" {
		where, args = append(where, "user_id = ?"), append(args, q.User)
	}
	if q.KeyID != "" {
		where, args = append(where, "key_id = ?"), append(args, q.KeyID)
	}
	if !q.From.IsZero() {
		where, args = append(where, "day >= ?"), append(args, q.From.UTC().Format(time.DateOnly))
	}
	if !q.To.IsZero() {
		where, args = append(where, "day <= ?"), append(args, q.To.UTC().Format(time.DateOnly))
	}
	// SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
	sel := `CAST(COALESCE(SUM(requests),0) AS BIGINT), CAST(COALESCE(SUM(errors),0) AS BIGINT),
		CAST(COALESCE(SUM(input_tokens),0) AS BIGINT), CAST(COALESCE(SUM(output_tokens),0) AS BIGINT),
		CAST(COALESCE(SUM(thinking_tokens),0) AS BIGINT), CAST(COALESCE(SUM(cached_input_tokens),0) AS BIGINT),
		COALESCE(SUM(cost_usd),0), CAST(COALESCE(SUM(cost_unknown),0) AS BIGINT),
		CAST(COALESCE(SUM(cache_write_tokens),0) AS BIGINT), CAST(COALESCE(SUM(cache_write_1h_tokens),0) AS BIGINT)`
	query := "SELECT " + sel
	if len(cols) > 0 {
		query = "SELECT " + strings.Join(cols, ", ") + ", " + sel
	}
	query += " FROM " + table + " WHERE " + strings.Join(where, " AND ")
	if len(cols) > 0 {
		query += " GROUP BY " + strings.Join(cols, ", ") + " ORDER BY " + strings.Join(cols, ", ")
	}
	rows, err := l.db.QueryContext(ctx, l.db.Rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("cost: usage: %w", err)
	}
	defer rows.Close()
	var out []UsageRow
	for rows.Next() {
		var u UsageRow
		dest := make([]any, 0, len(cols)+8)
		for _, c := range cols {
			dest = append(dest, u.column(c))
		}
		dest = append(dest, &u.Requests, &u.Errors, &u.InputTokens, &u.OutputTokens, &u.ThinkingTokens,
			&u.CachedInputTokens, &u.CostUSD, &u.CostUnknown, &u.CacheWriteTokens, &u.CacheWrite1hTokens)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cost: usage: scan: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cost: usage: %w", err)
	}
	return out, nil
}

func (u *UsageRow) column(name string) *string {
	switch name {
	case "day":
		return &u.Day
	case "user_id":
		return &u.User
	case "key_id":
		return &u.KeyID
	case "provider":
		return &u.Provider
	case "team":
		return &u.Team
	}
	return &u.Model
}

// Totals is Usage without grouping: one row.
func (l *Ledger) Totals(ctx context.Context, q UsageQuery) (UsageRow, error) {
	q.GroupBy = nil
	rows, err := l.Usage(ctx, q)
	if err != nil || len(rows) == 0 {
		return UsageRow{}, err
	}
	return rows[0], nil
}

// Count returns how many interaction rows the ledger holds (tests, health).
func (l *Ledger) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := l.db.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(rows), 0) AS BIGINT) FROM usage_segments`).Scan(&n); err != nil {
		return 0, fmt.Errorf("cost: ledger count: %w", err)
	}
	return n, nil
}
