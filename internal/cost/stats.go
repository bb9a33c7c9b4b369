package cost

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Window is the time resolution of a stats query: hourly points come
// from the hourly rollup, daily and monthly ones from the daily rollup.
type Window string

// The windows.
const (
	WindowHour  Window = "hour"
	WindowDay   Window = "day"
	WindowMonth Window = "month"
)

// The most points one stats answer holds per series, per window: a query
// over a longer span is refused (ErrStatsRange).
var maxPoints = map[Window]int{WindowHour: 31 * 24, WindowDay: 366, WindowMonth: 36}

// ErrStatsRange is a stats query the rollups do not answer: an unknown
// window or grouping, from after to, or too many points.
var ErrStatsRange = errors.New("cost: stats")

// statsGroups maps a stats group_by to its SQL expression.
var statsGroups = map[Dimension]string{
	DimUser: "user_id", DimKey: "key_id", DimModel: "provider || '/' || model", DimProvider: "provider", DimTeam: "team",
}

// DimProvider is a further grouping dimension of stats queries.
const DimProvider Dimension = "provider"

// StatsQuery selects stats from the rollups.
type StatsQuery struct {
	Window Window
	// From and To bound the points, both included: hours for WindowHour
	// (truncated to the hour), UTC days otherwise (months: the whole
	// months of From and To).
	From, To time.Time
	// GroupBy, when set, also answers per group: "user", "key", "model"
	// (provider/model), "provider" or "team".
	GroupBy Dimension
	// User and KeyID filter (a user's own dashboard).
	User, KeyID string
	// Limit is how many groups are answered, the largest by cost (then
	// requests) first. Default 10, at most 100.
	Limit int
	// Latency also sums the latency and TTFT histograms (27 more columns
	// per rollup row: asked for by the latency view only).
	Latency bool
}

// Percentiles are latency percentiles in milliseconds, estimated from the
// rollups' fixed histogram (LatencyBucketsMS): linear inside a bucket;
// beyond the last bound the bound itself.
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
}

// StatsRow is the measures of one point, one group or the total.
type StatsRow struct {
	Time              string `json:"time,omitempty"`  // hour (RFC 3339), day (YYYY-MM-DD) or month (YYYY-MM)
	Group             string `json:"group,omitempty"` // the group_by value
	Requests          int64  `json:"requests"`
	Errors            int64  `json:"errors"`
	InputTokens       int64  `json:"input_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	ThinkingTokens    int64  `json:"thinking_tokens"`
	CachedInputTokens int64  `json:"cached_input_tokens"`
	// CacheWriteTokens and CacheWrite1hTokens are the prompt-cache
	// writes (5-minute and 1-hour entries), ⊂ InputTokens.
	CacheWriteTokens   int64   `json:"cache_write_tokens"`
	CacheWrite1hTokens int64   `json:"cache_write_1h_tokens"`
	CostUSD            float64 `json:"cost_usd"`
	CostUnknown        int64   `json:"cost_unknown"`
	Fallbacks          int64   `json:"fallbacks"`
	CacheHits          int64   `json:"cache_hits"`
	ErrorRate          float64 `json:"error_rate"`
	FallbackRate       float64 `json:"fallback_rate"`
	CacheHitRate       float64 `json:"cache_hit_rate"`
	// Latency and TTFT are there when the query asked for them.
	Latency *Percentiles `json:"latency,omitempty"`
	TTFT    *Percentiles `json:"ttft,omitempty"`
}

// Stats is the answer of a stats query.
type Stats struct {
	Window  Window    `json:"window"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	GroupBy Dimension `json:"group_by,omitempty"`
	// Series is the total per point, oldest first, every point present.
	Series []StatsRow `json:"series"`
	// Groups are the largest groups' totals; GroupSeries their points
	// (only points with traffic), by group then time.
	Groups      []StatsRow `json:"groups,omitempty"`
	GroupSeries []StatsRow `json:"group_series,omitempty"`
	Total       StatsRow   `json:"total"`
}

// normalize fills defaults and checks q.
func (q *StatsQuery) normalize(now time.Time) error {
	q.Window = cmp.Or(q.Window, WindowDay)
	if _, ok := maxPoints[q.Window]; !ok {
		return fmt.Errorf("%w: unknown window %q (want hour, day or month)", ErrStatsRange, q.Window)
	}
	if _, ok := statsGroups[q.GroupBy]; q.GroupBy != "" && !ok {
		return fmt.Errorf("%w: unknown group_by %q (want user, key, model, provider or team)", ErrStatsRange, q.GroupBy)
	}
	if q.Limit <= 0 {
		q.Limit = 10
	}
	q.Limit = min(q.Limit, 100)
	if q.To.IsZero() {
		q.To = now
	}
	q.To = q.To.UTC()
	if q.From.IsZero() {
		switch q.Window {
		case WindowHour:
			q.From = q.To.Add(-23 * time.Hour)
		case WindowDay:
			q.From = q.To.AddDate(0, 0, -29)
		default:
			q.From = q.To.AddDate(0, -11, 0)
		}
	}
	q.From = q.From.UTC()
	switch q.Window {
	case WindowHour:
		q.From, q.To = q.From.Truncate(time.Hour), q.To.Truncate(time.Hour)
	case WindowDay:
		q.From, q.To = dayStart(q.From), dayStart(q.To)
	default:
		q.From = time.Date(q.From.Year(), q.From.Month(), 1, 0, 0, 0, 0, time.UTC)
		q.To = time.Date(q.To.Year(), q.To.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	if q.From.After(q.To) {
		return fmt.Errorf("%w: from is after to", ErrStatsRange)
	}
	if n := len(q.points()); n > maxPoints[q.Window] {
		return fmt.Errorf("%w: %d %s points asked, at most %d", ErrStatsRange, n, q.Window, maxPoints[q.Window])
	}
	return nil
}

func dayStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// points are the labels of every point from From to To.
func (q *StatsQuery) points() []string {
	var out []string
	for t := q.From; !t.After(q.To) && len(out) <= maxPoints[q.Window]; {
		out = append(out, q.label(t))
		switch q.Window {
		case WindowHour:
			t = t.Add(time.Hour)
		case WindowDay:
			t = t.AddDate(0, 0, 1)
		default:
			t = t.AddDate(0, 1, 0)
		}
	}
	return out
}

func (q *StatsQuery) label(t time.Time) string {
	switch q.Window {
	case WindowHour:
		return t.Format(time.RFC3339)
	case WindowDay:
		return t.Format(time.DateOnly)
	}
	return t.Format("2006-01")
}

// sql builds the rollup query: one row per point and group.
// shape is what one rollup query groups by: the point, the group, or
// both; values, when set, keeps only those groups.
type shape struct {
	byTime, byGroup bool
	values          []string
}

func (q *StatsQuery) sql(sh shape) (string, []any) {
	table, timeExpr := dailyTable.name, "day"
	if q.byDim() {
		table = dailyByTable.name
	}
	where, args := []string{}, []any{}
	switch q.Window {
	case WindowHour:
		table, timeExpr = hourlyTable.name, "hour"
		if q.byDim() {
			table = hourlyByTable.name
		}
		where = append(where, "hour >= ?", "hour <= ?")
		args = append(args, q.From.UnixMilli(), q.To.UnixMilli())
	case WindowDay:
		where = append(where, "day >= ?", "day <= ?")
		args = append(args, q.From.Format(time.DateOnly), q.To.Format(time.DateOnly))
	default:
		timeExpr = "substr(day, 1, 7)"
		where = append(where, "day >= ?", "day < ?")
		args = append(args, q.From.Format(time.DateOnly), q.To.AddDate(0, 1, 0).Format(time.DateOnly))
	}
	if q.User != "" {
		where, args = append(where, "user_id = ?"), append(args, q.User)
	}
	if q.KeyID != "" {
		where, args = append(where, "key_id = ?"), append(args, q.KeyID)
	}
	var keys []string
	if sh.byTime {
		keys = append(keys, timeExpr)
	}
	groupExpr := statsGroups[q.GroupBy]
	switch {
	case q.byDim() && q.GroupBy != "":
		where, args = append(where, "dim = ?"), append(args, string(q.GroupBy))
		groupExpr = "value"
	case q.byDim(): // the total: every row has one provider
		where, args = append(where, "dim = ?"), append(args, string(DimProvider))
	}
	if sh.byGroup {
		keys = append(keys, groupExpr)
	}
	if len(sh.values) > 0 {
		where = append(where, groupExpr+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(sh.values)), ", ")+")")
		for _, v := range sh.values {
			args = append(args, v)
		}
	}
	cols := q.columns()
	sums := make([]string, len(cols))
	for i, c := range cols {
		if c == "cost_usd" {
			sums[i] = "COALESCE(SUM(cost_usd), 0)"
		} else {
			// SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
			sums[i] = fmt.Sprintf("CAST(COALESCE(SUM(%s), 0) AS BIGINT)", c)
		}
	}
	query := fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(append(slices.Clone(keys), sums...), ", "),
		table, strings.Join(where, " AND "))
	if len(keys) > 0 {
		query += " GROUP BY " + strings.Join(keys, ", ")
	}
	return query, args
}

// byDim reports whether the per-dimension rollups answer q: when it is
// not limited to one user or key.
func (q *StatsQuery) byDim() bool { return q.User == "" && q.KeyID == "" }

// columns are the measures the query sums: the usage ones, and the
// latency histograms when asked.
func (q *StatsQuery) columns() []string {
	if q.Latency {
		return measureColumns
	}
	return measureColumns[:len(baseMeasures)+2] // + fallbacks, cache_hits
}

// QueryStats answers q from the rollups (hourly for WindowHour, daily
// otherwise); it never reads interaction rows. Rows still queued (at most
// one flush interval) are not counted.
func (l *Ledger) QueryStats(ctx context.Context, q StatsQuery) (Stats, error) {
	if err := q.normalize(l.cfg.Now()); err != nil {
		return Stats{}, err
	}
	st := Stats{Window: q.Window, From: q.label(q.From), To: q.label(q.To), GroupBy: q.GroupBy}
	if q.GroupBy != "" && q.byDim() {
		return l.statsSplit(ctx, q, st)
	}
	cells, err := l.fetch(ctx, q, shape{byTime: true, byGroup: q.GroupBy != ""})
	if err != nil {
		return Stats{}, err
	}
	q.fillSeries(&st, cells)
	if q.GroupBy == "" {
		return st, nil
	}
	q.fillGroups(&st, cells)
	top := map[string]bool{}
	for _, g := range st.Groups {
		top[g.Group] = true
	}
	var series []cell
	for _, c := range cells {
		if top[c.group] {
			series = append(series, c)
		}
	}
	q.fillGroupSeries(&st, series)
	return st, nil
}

// statsSplit answers a grouped query over the per-dimension rollups in
// three small queries: the totals per point, the totals per group (to
// rank them) and the points of the top groups only, so that a dimension
// with many values (keys) costs its top groups' rows, not all of them.
func (l *Ledger) statsSplit(ctx context.Context, q StatsQuery, st Stats) (Stats, error) {
	totals := q
	totals.GroupBy = ""
	cells, err := l.fetch(ctx, totals, shape{byTime: true})
	if err != nil {
		return Stats{}, err
	}
	q.fillSeries(&st, cells)
	if cells, err = l.fetch(ctx, q, shape{byGroup: true}); err != nil {
		return Stats{}, err
	}
	q.fillGroups(&st, cells)
	if len(st.Groups) == 0 {
		st.GroupSeries = []StatsRow{}
		return st, nil
	}
	var top []string
	for _, g := range st.Groups {
		top = append(top, g.Group)
	}
	if cells, err = l.fetch(ctx, q, shape{byTime: true, byGroup: true, values: top}); err != nil {
		return Stats{}, err
	}
	q.fillGroupSeries(&st, cells)
	return st, nil
}

// cell is one row of a rollup query.
type cell struct {
	point, group string
	m            *rollup
}

func (l *Ledger) fetch(ctx context.Context, q StatsQuery, sh shape) ([]cell, error) {
	query, args := q.sql(sh)
	rows, err := l.db.QueryContext(ctx, l.db.Rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("cost: stats: %w", err)
	}
	defer rows.Close()
	var cells []cell
	for rows.Next() {
		c := cell{m: newRollup()}
		var at any
		var dest []any
		if sh.byTime {
			dest = append(dest, &at)
		}
		if sh.byGroup {
			dest = append(dest, &c.group)
		}
		if err := rows.Scan(append(dest, c.m.pointers()[:len(q.columns())]...)...); err != nil {
			return nil, fmt.Errorf("cost: stats: scan: %w", err)
		}
		if sh.byTime {
			c.point = q.pointLabel(at)
		}
		cells = append(cells, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cost: stats: %w", err)
	}
	return cells, nil
}

// fillSeries sums cells into every point (missing ones zero) and the total.
func (q *StatsQuery) fillSeries(st *Stats, cells []cell) {
	points := q.points()
	series := make(map[string]*rollup, len(points))
	total := newRollup()
	for _, c := range cells {
		total.merge(c.m)
		if series[c.point] == nil {
			series[c.point] = newRollup()
		}
		series[c.point].merge(c.m)
	}
	for _, p := range points {
		m := series[p]
		if m == nil {
			m = newRollup()
		}
		st.Series = append(st.Series, m.row(p, "", q.Latency))
	}
	st.Total = total.row("", "", q.Latency)
}

// fillGroups sums cells per group and keeps the Limit largest by cost.
func (q *StatsQuery) fillGroups(st *Stats, cells []cell) {
	groups := map[string]*rollup{}
	for _, c := range cells {
		if groups[c.group] == nil {
			groups[c.group] = newRollup()
		}
		groups[c.group].merge(c.m)
	}
	st.Groups = []StatsRow{}
	for g, m := range groups {
		st.Groups = append(st.Groups, m.row("", g, q.Latency))
	}
	slices.SortFunc(st.Groups, func(a, b StatsRow) int {
		return cmp.Or(cmp.Compare(b.CostUSD, a.CostUSD), cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Group, b.Group))
	})
	st.Groups = st.Groups[:min(len(st.Groups), q.Limit)]
}

// fillGroupSeries lists the cells, by group then time.
func (q *StatsQuery) fillGroupSeries(st *Stats, cells []cell) {
	st.GroupSeries = []StatsRow{}
	for _, c := range cells {
		st.GroupSeries = append(st.GroupSeries, c.m.row(c.point, c.group, q.Latency))
	}
	slices.SortFunc(st.GroupSeries, func(a, b StatsRow) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Time, b.Time))
	})
}

// pointLabel formats a rollup's time value as its point label.
func (q *StatsQuery) pointLabel(at any) string {
	switch v := at.(type) {
	case int64:
		return time.UnixMilli(v).UTC().Format(time.RFC3339)
	case []byte:
		return string(v)
	case string:
		return v
	}
	return fmt.Sprint(at)
}

// pointers are scan destinations for the measures, in measureColumns
// order.
func (u *rollup) pointers() []any {
	out := []any{&u.requests, &u.errors, &u.input, &u.output, &u.thinking, &u.cached, &u.costUSD, &u.costUnknown,
		&u.cacheWrite, &u.cacheWrite1h, &u.fallbacks, &u.cacheHits, &u.latencySum, &u.ttftSum, &u.ttftCount}
	for i := range u.lat {
		out = append(out, &u.lat[i])
	}
	for i := range u.ttft {
		out = append(out, &u.ttft[i])
	}
	return out
}

func (u *rollup) merge(o *rollup) {
	u.requests += o.requests
	u.errors += o.errors
	u.input += o.input
	u.output += o.output
	u.thinking += o.thinking
	u.cached += o.cached
	u.costUSD += o.costUSD
	u.costUnknown += o.costUnknown
	u.cacheWrite += o.cacheWrite
	u.cacheWrite1h += o.cacheWrite1h
	u.fallbacks += o.fallbacks
	u.cacheHits += o.cacheHits
	u.latencySum += o.latencySum
	u.ttftSum += o.ttftSum
	u.ttftCount += o.ttftCount
	for i := range u.lat {
		u.lat[i] += o.lat[i]
		u.ttft[i] += o.ttft[i]
	}
}

func (u *rollup) row(point, group string, latency bool) StatsRow {
	r := StatsRow{Time: point, Group: group, Requests: u.requests, Errors: u.errors, InputTokens: u.input,
		OutputTokens: u.output, ThinkingTokens: u.thinking, CachedInputTokens: u.cached, CostUSD: u.costUSD,
		CostUnknown: u.costUnknown, Fallbacks: u.fallbacks, CacheHits: u.cacheHits,
		CacheWriteTokens: u.cacheWrite, CacheWrite1hTokens: u.cacheWrite1h}
	if latency {
		lat, ttft := percentiles(u.lat, u.latencySum), percentiles(u.ttft, u.ttftSum)
		r.Latency, r.TTFT = &lat, &ttft
	}
	if u.requests > 0 {
		n := float64(u.requests)
		r.ErrorRate, r.FallbackRate, r.CacheHitRate = float64(u.errors)/n, float64(u.fallbacks)/n, float64(u.cacheHits)/n
	}
	return r
}

// percentiles estimates percentiles from a histogram over
// LatencyBucketsMS and the sum of its values.
func percentiles(h []int64, sum int64) Percentiles {
	var p Percentiles
	for _, n := range h {
		p.Count += n
	}
	if p.Count == 0 {
		return p
	}
	p.Mean = float64(sum) / float64(p.Count)
	at := func(q float64) float64 {
		target := q * float64(p.Count)
		var cum float64
		for i, n := range h {
			if n == 0 || cum+float64(n) < target {
				cum += float64(n)
				continue
			}
			lo := 0.0
			if i > 0 {
				lo = float64(LatencyBucketsMS[i-1])
			}
			if i == len(LatencyBucketsMS) {
				return lo
			}
			return lo + (target-cum)/float64(n)*(float64(LatencyBucketsMS[i])-lo)
		}
		return float64(LatencyBucketsMS[len(LatencyBucketsMS)-1])
	}
	p.P50, p.P90, p.P95, p.P99 = at(0.5), at(0.9), at(0.95), at(0.99)
	return p
}
