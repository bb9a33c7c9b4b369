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

// eventColumns are usage_events' columns in the order insertChunk binds
// them.
const eventColumns = `request_id, ts, day, user_id, key_id, team, endpoint, provider, model,
	input_tokens, output_tokens, thinking_tokens, cached_input_tokens, cost_usd, cost_known, price_version,
	latency_ms, status, cache_hit, cache_write_tokens, cache_write_1h_tokens, ttft_ms, fallback, attempts, error_message`

// nEventColumns is how many arguments one row binds.
var nEventColumns = strings.Count(eventColumns, ",") + 1

// maxInsertRows is the most rows one INSERT statement carries. A batch is
// written in statements of 16, 8, 4, 2 and 1 rows (five prepared
// statements): database/sql's and the driver's per-call work (binding,
// driverArgs, and the goroutine modernc.org/sqlite starts per call to
// watch the context) was half of the writer's CPU with one row per
// statement. One statement is the longest stretch the yielder cannot
// split: about 16 × 11 µs of SQLite work on the benchmark machine (8 rows
// per statement measured the same CPU per row). 16 × 25 placeholders is
// far below SQLite's (32766) and PostgreSQL's (65535) limits.
const maxInsertRows = 16

// insertEvents is the INSERT of n rows. It skips replays. On PostgreSQL
// RETURNING names the rows inserted, so that only those are folded into
// the rollups; on SQLite the writer asks which only when a statement
// inserted fewer rows than it carried (newestEvents), since RETURNING
// and reading its rows were a fifth of the SQLite writer's CPU per row
// (BenchmarkLedgerBatch, 200 rows: 16–18 → 13–14 µs).
//
// On SQLite it is INSERT OR IGNORE: a statement of several rows that may
// abort halfway (a NOT NULL check's default conflict action) keeps a
// statement journal, which spills to a temporary file past 64 KiB; its
// pwrite calls were a fifth of the writer's CPU. The writer never binds
// NULL and usage_events has no constraint but its key, so OR IGNORE skips
// what ON CONFLICT skips and nothing else.
func insertEvents(d store.Dialect, n int) string {
	verb, returning := "INSERT", "\nRETURNING request_id"
	if d != store.Postgres {
		verb, returning = "INSERT OR IGNORE", ""
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", nEventColumns), ", ") + ")"
	return verb + " INTO usage_events (" + eventColumns + ")\nVALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", n), ", ") +
		"\nON CONFLICT (request_id) DO NOTHING" + returning
}

// newestEvents names the k rows inserted last, on SQLite: usage_events
// is a rowid table, a new row's rowid is one more than the largest, and
// the writer's transaction is the only writer (BEGIN IMMEDIATE), so the
// k rows a statement inserted are the k with the largest rowids. They
// come back in the statement's row order, as fold expects.
const newestEvents = `SELECT request_id FROM
	(SELECT rowid AS r, request_id FROM usage_events ORDER BY rowid DESC LIMIT ?) ORDER BY r`

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
// insert[k] carries 1<<k rows.
type ledgerStmts struct {
	insert []*sql.Stmt
	newest *sql.Stmt // SQLite only: newestEvents
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
	for n := 1; n <= maxInsertRows; n *= 2 {
		ins, err := l.db.PrepareContext(ctx, l.db.Rebind(insertEvents(l.db.Dialect, n)))
		if err != nil {
			st.close()
			return nil, fmt.Errorf("cost: ledger: prepare: %w", err)
		}
		st.insert = append(st.insert, ins)
	}
	var err error
	if l.db.Dialect != store.Postgres {
		if st.newest, err = l.db.PrepareContext(ctx, newestEvents); err != nil {
			st.close()
			return nil, fmt.Errorf("cost: ledger: prepare: %w", err)
		}
	}
	for _, p := range []struct {
		t     rollupTable
		stmts *[]*sql.Stmt
	}{{dailyTable, &st.daily}, {hourlyTable, &st.hourly}, {dailyByTable, &st.dailyBy}, {hourlyByTable, &st.hourlyBy}} {
		for n := 1; n <= maxUpsertRows; n *= 2 {
			up, err := l.db.PrepareContext(ctx, l.db.Rebind(p.t.upsert(n)))
			if err != nil {
				st.close()
				return nil, fmt.Errorf("cost: ledger: prepare %s: %w", p.t.name, err)
			}
			*p.stmts = append(*p.stmts, up)
		}
	}
	if st.team, err = l.db.PrepareContext(ctx, l.db.Rebind(upsertTeamDaily)); err != nil {
		st.close()
		return nil, fmt.Errorf("cost: ledger: prepare team rollup: %w", err)
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
	all := slices.Concat(st.insert, st.daily, st.hourly, st.dailyBy, st.hourlyBy)
	for _, s := range append(all, st.team, st.newest) {
		if s != nil {
			s.Close()
		}
	}
}

// writeBatch inserts rows and folds the newly inserted ones (not the
// replays) into the rollups, all in one transaction. Rows go in
// statements of 16, 8, 4, 2 and 1 rows (maxInsertRows).
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
	w := chunkWriter{args: make([]any, 0, maxInsertRows*nEventColumns), tx: tx, newest: st.newest}
	ins := make([]*sql.Stmt, len(st.insert)) // the batch's transaction statements, made on first use
	defer func() {
		for _, s := range append(ins, w.inTx) {
			if s != nil {
				s.Close()
			}
		}
	}()
	for len(rows) > 0 {
		y.maybe()
		k := bits.Len(uint(min(len(rows), maxInsertRows))) - 1 // the largest statement that fits
		if ins[k] == nil {
			ins[k] = tx.StmtContext(ctx, st.insert[k])
		}
		if err := w.insert(ctx, ins[k], rows[:1<<k], f); err != nil {
			return 0, err
		}
		rows = rows[1<<k:]
	}
	if err := f.upsert(ctx, tx, st, y); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("cost: ledger: commit: %w", err)
	}
	return f.inserted, nil
}

// chunkWriter inserts a batch's rows one statement at a time, reusing its
// buffers across statements.
type chunkWriter struct {
	args  []any
	got   []string // the request ids a statement inserted
	taken [maxInsertRows]bool
	at    timeKeys // the day argument, formatted once per distinct day
	// SQLite: the transaction and the prepared newestEvents, made the
	// transaction's on first use (nil on PostgreSQL, which RETURNs).
	tx           *sql.Tx
	newest, inTx *sql.Stmt
}

// insert inserts rows with one statement and folds each row it inserted:
// a request id already present (a replay), or twice in rows, is inserted
// once, its first row.
func (w *chunkWriter) insert(ctx context.Context, ins *sql.Stmt, rows []row, f *batchFold) error {
	w.bind(rows)
	if w.newest == nil {
		res, err := ins.QueryContext(ctx, w.args...)
		if err != nil {
			return fmt.Errorf("cost: ledger: insert: %w", err)
		}
		return w.foldReturned(res, rows, f)
	}
	res, err := ins.ExecContext(ctx, w.args...)
	if err != nil {
		return fmt.Errorf("cost: ledger: insert: %w", err)
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return fmt.Errorf("cost: ledger: insert: %w", err)
	case n == int64(len(rows)): // no replay: every row is new
		for i := range rows {
			f.add(&rows[i])
		}
		return nil
	case n == 0:
		return nil
	}
	if w.inTx == nil {
		w.inTx = w.tx.StmtContext(ctx, w.newest)
	}
	ids, err := w.inTx.QueryContext(ctx, n)
	if err != nil {
		return fmt.Errorf("cost: ledger: inserted rows: %w", err)
	}
	return w.foldReturned(ids, rows, f)
}

// bind sets w.args to rows' values in eventColumns' order.
func (w *chunkWriter) bind(rows []row) {
	args := w.args[:0]
	for i := range rows {
		r := &rows[i]
		ms := r.start.UnixMilli()
		w.at.set(ms)
		args = append(args, r.requestID, ms, w.at.dayArg, r.user, r.keyID, r.team, r.endpoint,
			r.provider, r.model, int64(r.input), int64(r.output), int64(r.thinking), int64(r.cached), r.costUSD,
			b2i(r.costKnown), r.priceVersion, r.latencyMS, r.status, b2i(r.cacheHit), int64(r.cacheWrite),
			int64(r.cacheWrite1h), r.ttftMS, b2i(r.fallback), int64(r.attempts), r.errorMessage)
	}
	w.args = args
}

// foldReturned reads the request ids res names (the rows a statement
// inserted) and folds those rows.
func (w *chunkWriter) foldReturned(res *sql.Rows, rows []row, f *batchFold) error {
	defer res.Close()
	w.got = w.got[:0]
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			return fmt.Errorf("cost: ledger: insert: %w", err)
		}
		w.got = append(w.got, id)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("cost: ledger: insert: %w", err)
	}
	w.fold(rows, f)
	return nil
}

// fold folds the rows whose id the statement returned, each returned id
// once: the first row that carries it. The ids come back in row order in
// practice, which the search starts from; any order is right.
func (w *chunkWriter) fold(rows []row, f *batchFold) {
	taken := w.taken[:len(w.got)]
	clear(taken)
	next := 0 // the first id not taken
	for i := range rows {
		for next < len(taken) && taken[next] {
			next++
		}
		for j := next; j < len(taken); j++ {
			if !taken[j] && w.got[j] == rows[i].requestID {
				taken[j] = true
				f.add(&rows[i])
				break
			}
		}
	}
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

func (t *timeKeys) set(ms int64) { t.setDayHour(floorDiv(ms, dayMS), hourOf(ms)) }

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

// pruneBatch is how many rows one DELETE removes, so that retention never
// holds a long lock.
const pruneBatch = 5000

// pruneQuery deletes up to a number of rows older than a time; the
// subquery reads usage_events_page_ts_id (ts, request_id) alone.
const pruneQuery = `DELETE FROM usage_events WHERE request_id IN
	(SELECT request_id FROM usage_events WHERE ts < ? LIMIT ?)`

// Prune deletes interaction rows that started before cutoff, in batches.
// Daily rollups are kept.
func (l *Ledger) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	q := l.db.Rebind(pruneQuery)
	var total int64
	for {
		res, err := l.db.ExecContext(ctx, q, cutoff.UnixMilli(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("cost: ledger prune: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
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
	if err := l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("cost: ledger count: %w", err)
	}
	return n, nil
}
