package cost

import (
	"fmt"
	"strings"
)

// LatencyBucketsMS are the upper bounds (milliseconds, included) of the
// fixed latency histogram every rollup row keeps, for total latency and
// for time to first token alike; a last, open bucket holds the rest.
// Percentiles over any window and grouping are read from the summed
// buckets, so they never touch the interaction rows: their resolution is
// the bucket width (an estimate interpolated inside the bucket).
var LatencyBucketsMS = []int64{50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000}

// nBuckets counts the histogram's buckets, the open one included.
var nBuckets = len(LatencyBucketsMS) + 1

// bucketOf returns the histogram bucket of a duration in milliseconds.
func bucketOf(ms int64) int {
	for i, b := range LatencyBucketsMS {
		if ms <= b {
			return i
		}
	}
	return len(LatencyBucketsMS)
}

// rollup is one rollup row's additive measures: the daily and the hourly
// rollups keep the same ones.
type rollup struct {
	requests, errors, input, output, thinking, cached int64
	costUSD                                           float64
	costUnknown, fallbacks, cacheHits                 int64
	cacheWrite, cacheWrite1h                          int64
	latencySum, ttftSum, ttftCount                    int64
	lat, ttft                                         []int64 // nBuckets each
}

func newRollup() *rollup {
	return &rollup{lat: make([]int64, nBuckets), ttft: make([]int64, nBuckets)}
}

func (u *rollup) add(r *row) {
	u.requests++
	if r.status != "ok" {
		u.errors++
	}
	u.input += int64(r.input)
	u.output += int64(r.output)
	u.thinking += int64(r.thinking)
	u.cached += int64(r.cached)
	u.cacheWrite += int64(r.cacheWrite)
	u.cacheWrite1h += int64(r.cacheWrite1h)
	u.costUSD += r.costUSD
	if !r.costKnown {
		u.costUnknown++
	}
	if r.fallback {
		u.fallbacks++
	}
	if r.cacheHit {
		u.cacheHits++
	}
	u.latencySum += r.latencyMS
	u.lat[bucketOf(r.latencyMS)]++
	if r.ttftMS > 0 {
		u.ttftSum += r.ttftMS
		u.ttftCount++
		u.ttft[bucketOf(r.ttftMS)]++
	}
}

// values are the measures in measureColumns order.
func (u *rollup) values() []any {
	out := []any{u.requests, u.errors, u.input, u.output, u.thinking, u.cached, u.costUSD, u.costUnknown,
		u.cacheWrite, u.cacheWrite1h, u.fallbacks, u.cacheHits, u.latencySum, u.ttftSum, u.ttftCount}
	for _, v := range u.lat {
		out = append(out, v)
	}
	for _, v := range u.ttft {
		out = append(out, v)
	}
	return out
}

// baseMeasures are the measures the daily rollup had from its first
// version and the cache writes of migration 2; extraMeasures came with
// the hourly rollup (migration 3).
var (
	baseMeasures = []string{"requests", "errors", "input_tokens", "output_tokens", "thinking_tokens", "cached_input_tokens", "cost_usd", "cost_unknown",
		"cache_write_tokens", "cache_write_1h_tokens"}
	extraMeasures = func() []string {
		out := []string{"fallbacks", "cache_hits", "latency_ms_sum", "ttft_ms_sum", "ttft_count"}
		for i := range nBuckets {
			out = append(out, fmt.Sprintf("lat_b%d", i))
		}
		for i := range nBuckets {
			out = append(out, fmt.Sprintf("ttft_b%d", i))
		}
		return out
	}()
	measureColumns = append(append([]string(nil), baseMeasures...), extraMeasures...)
)

// rollupTable describes one rollup table: its time column and its key.
// The full rollups (usage_daily, usage_hourly) are keyed by time × user ×
// key × provider × model; the per-dimension ones (usage_daily_by,
// usage_hourly_by) by dimension × time × value, so that "top models over
// 30 days" reads 30 × models rows, not 30 × keys × models.
type rollupTable struct {
	name    string
	timeCol string // "day" (TEXT YYYY-MM-DD) or "hour" (BIGINT unix ms)
	byDim   bool
}

var (
	dailyTable    = rollupTable{"usage_daily", "day", false}
	hourlyTable   = rollupTable{"usage_hourly", "hour", false}
	dailyByTable  = rollupTable{"usage_daily_by", "day", true}
	hourlyByTable = rollupTable{"usage_hourly_by", "hour", true}
)

// rollupDims are the dimensions the per-dimension rollups keep; their
// values come from a row by dimValue.
var rollupDims = []Dimension{DimUser, DimKey, DimModel, DimProvider, DimTeam}

// dimValue is a group's value of dimension d.
func dimValue(d Dimension, k fineKey) string {
	switch d {
	case DimUser:
		return k.user
	case DimKey:
		return k.keyID
	case DimModel:
		return k.provider + "/" + k.model
	case DimProvider:
		return k.provider
	}
	return k.team
}

// keyColumns are the columns of a rollup's primary key.
func (t rollupTable) keyColumns() []string {
	if t.byDim {
		return []string{"dim", t.timeCol, "value"}
	}
	return []string{t.timeCol, "user_id", "key_id", "provider", "model"}
}

// upsert adds n groups' measures to their rollup rows, one VALUES tuple
// each (the groups of one statement have distinct keys: PostgreSQL
// refuses a statement that would update a row twice). team is written on
// the first insert only: it is the key's team and does not change.
func (t rollupTable) upsert(n int) string {
	cols := t.keyColumns()
	if !t.byDim {
		cols = append(cols, "team")
	}
	cols = append(cols, measureColumns...)
	sets := make([]string, len(measureColumns))
	for i, c := range measureColumns {
		sets[i] = fmt.Sprintf("%s = %s.%s + excluded.%s", c, t.name, c, c)
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES %s ON CONFLICT (%s) DO UPDATE SET %s",
		t.name, strings.Join(cols, ", "), strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", "),
		strings.Join(t.keyColumns(), ", "), strings.Join(sets, ", "))
}

// maxUpsertRows is the most groups one rollup statement upserts: a batch
// has one statement per rollup table in the common case (five groups per
// per-dimension table: user, key, model, provider, team) instead of one
// per group.
const maxUpsertRows = 8

// measureDDL declares the measure columns (for CREATE TABLE).
func measureDDL(cols []string) string {
	var b strings.Builder
	for _, c := range cols {
		typ := "BIGINT NOT NULL DEFAULT 0"
		if c == "cost_usd" {
			typ = "DOUBLE PRECISION NOT NULL DEFAULT 0"
		}
		fmt.Fprintf(&b, ",\n\t%s %s", c, typ)
	}
	return b.String()
}

// rollupKey is one rollup row's key; at is the day or the hour. A
// per-dimension row sets only at, dim and value.
type rollupKey struct {
	at                           any
	user, keyID, provider, model string
	dim                          Dimension
	value                        string
}

// rollups collects a batch's groups in first-seen order.
type rollups struct {
	m     map[rollupKey]*rollup
	team  map[rollupKey]string
	order []rollupKey
}

func newRollups() *rollups {
	return &rollups{m: map[rollupKey]*rollup{}, team: map[rollupKey]string{}}
}

// merge adds group u (of team) to the group k.
func (rs *rollups) merge(k rollupKey, u *rollup, team string) {
	dst := rs.m[k]
	if dst == nil {
		dst = newRollup()
		rs.m[k] = dst
		rs.team[k] = team
		rs.order = append(rs.order, k)
	}
	dst.merge(u)
}

// args are one group's upsert arguments.
func (rs *rollups) args(k rollupKey) []any {
	if k.dim != "" {
		return append([]any{string(k.dim), k.at, k.value}, rs.m[k].values()...)
	}
	return append([]any{k.at, k.user, k.keyID, k.provider, k.model, rs.team[k]}, rs.m[k].values()...)
}

// fineKey is a batch's finest group: every rollup group is a union of
// them, so a row is added to one group and the rollups merge groups.
type fineKey struct {
	day, hour                          int64
	user, keyID, provider, model, team string
}

// batchFold collects the rollup groups of a batch's inserted rows.
type batchFold struct {
	inserted int
	fine     map[fineKey]*rollup
	order    []fineKey // first-seen, so the rollups' groups are too
}

func newBatchFold() *batchFold { return &batchFold{fine: map[fineKey]*rollup{}} }

// add folds one inserted row.
func (f *batchFold) add(r *row) {
	f.inserted++
	ms := r.start.UnixMilli()
	k := fineKey{floorDiv(ms, dayMS), hourOf(ms), r.user, r.keyID, r.provider, r.model, r.team}
	u := f.fine[k]
	if u == nil {
		u = newRollup()
		f.fine[k] = u
		f.order = append(f.order, k)
	}
	u.add(r)
}

// batchRollups are a batch's groups per rollup table; team is the team
// rollup's (day × team × provider × model, rows with a team only).
type batchRollups struct{ daily, hourly, dailyBy, hourlyBy, team *rollups }

// rollups merges the fine groups into every rollup's. A group's team
// is that of its first row, and groups come in the order of their first
// rows, as adding the rows one by one would give.
func (f *batchFold) rollups() batchRollups {
	b := batchRollups{newRollups(), newRollups(), newRollups(), newRollups(), newRollups()}
	var at timeKeys
	for _, k := range f.order {
		u := f.fine[k]
		at.setDayHour(k.day, k.hour)
		b.hourly.merge(rollupKey{at: at.hourArg, user: k.user, keyID: k.keyID, provider: k.provider, model: k.model}, u, k.team)
		b.daily.merge(rollupKey{at: at.dayArg, user: k.user, keyID: k.keyID, provider: k.provider, model: k.model}, u, k.team)
		for _, d := range rollupDims {
			v := dimValue(d, k)
			b.dailyBy.merge(rollupKey{at: at.dayArg, dim: d, value: v}, u, "")
			b.hourlyBy.merge(rollupKey{at: at.hourArg, dim: d, value: v}, u, "")
		}
		if k.team != "" {
			b.team.merge(rollupKey{at: at.dayArg, provider: k.provider, model: k.model, value: k.team}, u, k.team)
		}
	}
	return b
}

// teamArgs are one team group's upsertTeamDaily arguments.
func (rs *rollups) teamArgs(k rollupKey) []any {
	u := rs.m[k]
	return []any{k.at, k.value, k.provider, k.model, u.requests, u.errors, u.input, u.output, u.thinking, u.cached,
		u.costUSD, u.costUnknown, u.cacheWrite, u.cacheWrite1h}
}

// hourOf returns the start of the UTC hour of a unix-millisecond time.
func hourOf(ms int64) int64 { return ms - ms%3_600_000 }
