package cost

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
)

const insertEventHead = `INSERT INTO usage_events (request_id, ts, day, user_id, key_id, team, endpoint, provider, model,
	input_tokens, output_tokens, thinking_tokens, cached_input_tokens, cost_usd, cost_known, price_version,
	latency_ms, status, cache_hit)
VALUES `

const insertEventRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertEventTail skips replays; RETURNING names the rows inserted, so
// that only those are folded into the rollups.
const insertEventTail = `
ON CONFLICT (request_id) DO NOTHING
RETURNING request_id`

// maxInsertRows is the most rows one INSERT statement carries. A batch is
// written in statements of 16, 8, 4, 2 and 1 rows (five prepared
// statements): per row, a statement of 16 costs about half what one row
// per statement does (database/sql's and the driver's per-call work,
// and modernc.org/sqlite's goroutine watching the context of each call,
// were half of the writer's CPU), and one statement stays short enough
// for the yielder (≈16 × 6 µs).
const maxInsertRows = 16

// insertEvents is the INSERT of n rows.
func insertEvents(n int) string {
	var b strings.Builder
	b.WriteString(insertEventHead)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(insertEventRow)
	}
	b.WriteString(insertEventTail)
	return b.String()
}

const upsertDaily = `INSERT INTO usage_daily (day, user_id, key_id, provider, model, requests, errors,
	input_tokens, output_tokens, thinking_tokens, cached_input_tokens, cost_usd, cost_unknown)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (day, user_id, key_id, provider, model) DO UPDATE SET
	requests = usage_daily.requests + excluded.requests,
	errors = usage_daily.errors + excluded.errors,
	input_tokens = usage_daily.input_tokens + excluded.input_tokens,
	output_tokens = usage_daily.output_tokens + excluded.output_tokens,
	thinking_tokens = usage_daily.thinking_tokens + excluded.thinking_tokens,
	cached_input_tokens = usage_daily.cached_input_tokens + excluded.cached_input_tokens,
	cost_usd = usage_daily.cost_usd + excluded.cost_usd,
	cost_unknown = usage_daily.cost_unknown + excluded.cost_unknown`

type dailyKey struct{ day, user, keyID, provider, model string }

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
	rollup *sql.Stmt
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
		ins, err := l.db.PrepareContext(ctx, l.db.Rebind(insertEvents(n)))
		if err != nil {
			st.close()
			return nil, fmt.Errorf("cost: ledger: prepare: %w", err)
		}
		st.insert = append(st.insert, ins)
	}
	up, err := l.db.PrepareContext(ctx, l.db.Rebind(upsertDaily))
	if err != nil {
		st.close()
		return nil, fmt.Errorf("cost: ledger: prepare rollup: %w", err)
	}
	st.rollup = up
	l.stmts = st
	return l.stmts, nil
}

func (st *ledgerStmts) close() {
	for _, s := range st.insert {
		s.Close()
	}
	if st.rollup != nil {
		st.rollup.Close()
	}
}

func (l *Ledger) closeStatements() {
	if l.stmts != nil {
		l.stmts.close()
		l.stmts = nil
	}
}

// writeBatch inserts rows and folds the newly inserted ones (not the
// replays) into the daily rollups, all in one transaction.
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
	daily := map[dailyKey]*UsageRow{}
	var order []dailyKey
	fold := func(r row, day string) {
		inserted++
		k := dailyKey{day, r.user, r.keyID, r.provider, r.model}
		d := daily[k]
		if d == nil {
			d = &UsageRow{}
			daily[k] = d
			order = append(order, k)
		}
		d.add(r)
	}
	y := l.newYielder()
	args := make([]any, 0, maxInsertRows*19)
	for len(rows) > 0 {
		y.maybe()
		k := bits.Len(uint(min(len(rows), maxInsertRows))) - 1 // the largest statement that fits
		chunk := rows[:1<<k]
		rows = rows[1<<k:]
		if err := insertChunk(ctx, tx.StmtContext(ctx, st.insert[k]), chunk, args[:0], fold); err != nil {
			return 0, err
		}
	}
	y.maybe()
	up := tx.StmtContext(ctx, st.rollup)
	defer up.Close()
	for _, k := range order {
		d := daily[k]
		if _, err := up.ExecContext(ctx, k.day, k.user, k.keyID, k.provider, k.model, d.Requests, d.Errors,
			d.InputTokens, d.OutputTokens, d.ThinkingTokens, d.CachedInputTokens, d.CostUSD, d.CostUnknown); err != nil {
			return 0, fmt.Errorf("cost: ledger: rollup: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("cost: ledger: commit: %w", err)
	}
	return inserted, nil
}

// insertChunk inserts rows with one statement and calls fold for each
// row it inserted: a request id already present (a replay), or twice in
// the chunk, is inserted once, its first row.
func insertChunk(ctx context.Context, ins *sql.Stmt, rows []row, args []any, fold func(r row, day string)) error {
	defer ins.Close()
	days := make([]string, len(rows))
	for i, r := range rows {
		start := r.start.UTC()
		days[i] = start.Format(time.DateOnly)
		args = append(args, r.requestID, start.UnixMilli(), days[i], r.user, r.keyID, r.team, r.endpoint,
			r.provider, r.model, r.input, r.output, r.thinking, r.cached, r.costUSD, b2i(r.costKnown),
			r.priceVersion, r.latencyMS, r.status, b2i(r.cacheHit))
	}
	res, err := ins.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("cost: ledger: insert: %w", err)
	}
	defer res.Close()
	var got []string
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			return fmt.Errorf("cost: ledger: insert: %w", err)
		}
		got = append(got, id)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("cost: ledger: insert: %w", err)
	}
	taken := make([]bool, len(got)) // a second row with the same id in the chunk was not inserted
	for i, r := range rows {
		for j, id := range got {
			if !taken[j] && id == r.requestID {
				taken[j] = true
				fold(r, days[i])
				break
			}
		}
	}
	return nil
}

func (d *UsageRow) add(r row) {
	d.Requests++
	if r.status != "ok" {
		d.Errors++
	}
	d.InputTokens += int64(r.input)
	d.OutputTokens += int64(r.output)
	d.ThinkingTokens += int64(r.thinking)
	d.CachedInputTokens += int64(r.cached)
	d.CostUSD += r.costUSD
	if !r.costKnown {
		d.CostUnknown++
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pruneBatch is how many rows one DELETE removes, so that retention never
// holds a long lock.
const pruneBatch = 5000

// Prune deletes interaction rows that started before cutoff, in batches.
// Daily rollups are kept.
func (l *Ledger) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	q := l.db.Rebind(`DELETE FROM usage_events WHERE request_id IN
		(SELECT request_id FROM usage_events WHERE ts < ? LIMIT ?)`)
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
)

var dimColumns = map[Dimension][]string{
	DimDay: {"day"}, DimUser: {"user_id"}, DimKey: {"key_id"}, DimModel: {"provider", "model"},
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
			return nil, fmt.Errorf("cost: unknown group_by %q (want day, model, user or key)", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// UsageQuery selects ledger usage from the daily rollups.
type UsageQuery struct {
	User  string // "" = every user
	KeyID string // "" = every key
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
}

// Usage sums the ledger's daily rollups. Rows are ordered by the grouping
// columns. Rows still queued (at most one flush interval) are not counted.
func (l *Ledger) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	var cols []string
	for _, d := range q.GroupBy {
		c, ok := dimColumns[d]
		if !ok {
			return nil, fmt.Errorf("cost: usage: unknown dimension %q", d)
		}
		cols = append(cols, c...)
	}
	where, args := []string{"1=1"}, []any{}
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
		COALESCE(SUM(cost_usd),0), CAST(COALESCE(SUM(cost_unknown),0) AS BIGINT)`
	query := "SELECT " + sel
	if len(cols) > 0 {
		query = "SELECT " + strings.Join(cols, ", ") + ", " + sel
	}
	query += " FROM usage_daily WHERE " + strings.Join(where, " AND ")
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
			&u.CachedInputTokens, &u.CostUSD, &u.CostUnknown)
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
