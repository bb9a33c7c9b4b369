package cost

import (
	"fmt"
	"strings"

	"github.com/llm-connector/llm-connector/internal/store"
)

// The ledger's tables. Types are chosen to mean the same on SQLite and
// PostgreSQL: times are unix milliseconds (BIGINT), days are UTC
// "YYYY-MM-DD" text, booleans are 0/1 integers, money is USD as double.
var ledgerMigrations = []store.Migration{{
	Version: 1,
	SQL: `CREATE TABLE usage_events (
	request_id TEXT PRIMARY KEY,
	ts BIGINT NOT NULL,
	day TEXT NOT NULL,
	user_id TEXT NOT NULL,
	key_id TEXT NOT NULL,
	team TEXT NOT NULL,
	endpoint TEXT NOT NULL,
	provider TEXT NOT NULL,
	model TEXT NOT NULL,
	input_tokens BIGINT NOT NULL,
	output_tokens BIGINT NOT NULL,
	thinking_tokens BIGINT NOT NULL,
	cached_input_tokens BIGINT NOT NULL,
	cost_usd DOUBLE PRECISION NOT NULL,
	cost_known INTEGER NOT NULL,
	price_version TEXT NOT NULL,
	latency_ms BIGINT NOT NULL,
	status TEXT NOT NULL,
	cache_hit INTEGER NOT NULL
);
CREATE INDEX usage_events_ts ON usage_events (ts);
CREATE INDEX usage_events_user_ts ON usage_events (user_id, ts);
CREATE TABLE usage_daily (
	day TEXT NOT NULL,
	user_id TEXT NOT NULL,
	key_id TEXT NOT NULL,
	provider TEXT NOT NULL,
	model TEXT NOT NULL,
	requests BIGINT NOT NULL,
	errors BIGINT NOT NULL,
	input_tokens BIGINT NOT NULL,
	output_tokens BIGINT NOT NULL,
	thinking_tokens BIGINT NOT NULL,
	cached_input_tokens BIGINT NOT NULL,
	cost_usd DOUBLE PRECISION NOT NULL,
	cost_unknown BIGINT NOT NULL,
	PRIMARY KEY (day, user_id, key_id, provider, model)
);
CREATE INDEX usage_daily_user_day ON usage_daily (user_id, day)`,
}, {
	// Version 2 adds the prompt-cache write tokens (Anthropic 5-minute
	// and 1-hour entries) and the per-team daily rollup. Additive: old
	// rows read 0; store.Migrate applies it once per database.
	Version: 2,
	SQL:     ledgerV2Cache(""),
	// PostgreSQL can also say IF NOT EXISTS: a half-applied step by hand
	// is harmless.
	Postgres: ledgerV2Cache("IF NOT EXISTS "),
}, {
	// The dashboard's step: the hourly rollup, the measures both rollups
	// need for it (fallbacks, cache hits, latency histograms), the
	// interaction columns they come from, and the indexes of the request
	// listing's keyset pagination. Additive only; the hourly rollup is
	// backfilled from the interaction rows still kept.
	Version:  3,
	SQL:      ledgerV2(),
	Postgres: ledgerV2Postgres(),
}, {
	// Version 4 drops the indexes of version 1 that migration 3's page
	// indexes cover (each is their prefix): usage_events_ts by
	// usage_events_page_ts_id (ts, request_id) and usage_events_user_ts
	// by usage_events_page_user_id_ts_id (user_id, ts, request_id). Every
	// insert paid for two more b-trees. IF EXISTS: a database whose
	// indexes were dropped by hand migrates all the same.
	Version: 4,
	SQL:     "DROP INDEX IF EXISTS usage_events_ts;\nDROP INDEX IF EXISTS usage_events_user_ts",
}, {
	// Version 5 stores the interaction rows in segments of up to 64
	// (segment.go): the rows kept are copied, usage_events becomes a
	// view over the segments with the same columns.
	Version:  5,
	SQL:      segmentMigration(sqliteSegments),
	Postgres: segmentMigration(postgresSegments),
}}

// ledgerV2Cache is migration 2's text; ifNotExists is "" (SQLite) or
// "IF NOT EXISTS " (PostgreSQL).
func ledgerV2Cache(ifNotExists string) string {
	return strings.ReplaceAll(`ALTER TABLE usage_events ADD COLUMN ? cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN ? cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN ? cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN ? cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
CREATE TABLE ? usage_team_daily (
	day TEXT NOT NULL,
	team TEXT NOT NULL,
	provider TEXT NOT NULL,
	model TEXT NOT NULL,
	requests BIGINT NOT NULL,
	errors BIGINT NOT NULL,
	input_tokens BIGINT NOT NULL,
	output_tokens BIGINT NOT NULL,
	thinking_tokens BIGINT NOT NULL,
	cached_input_tokens BIGINT NOT NULL,
	cache_write_tokens BIGINT NOT NULL,
	cache_write_1h_tokens BIGINT NOT NULL,
	cost_usd DOUBLE PRECISION NOT NULL,
	cost_unknown BIGINT NOT NULL,
	PRIMARY KEY (day, team, provider, model)
);
CREATE INDEX ? usage_team_daily_team_day ON usage_team_daily (team, day)`, "? ", ifNotExists)
}

// ledgerV2 builds migration 3 (the dashboard's; named for the step it
// was written as). Its text depends on LatencyBucketsMS: the
// bucket bounds are part of the schema and never change.
func ledgerV2() string { return ledgerV2For(" WITHOUT ROWID") }

// ledgerV2Postgres is migration 3 on PostgreSQL (no WITHOUT ROWID: its
// tables are heaps with a separate primary-key index anyway).
func ledgerV2Postgres() string { return ledgerV2For("") }

// ledgerV2For builds migration 3. On SQLite the hourly rollup is stored
// in primary-key order (WITHOUT ROWID), so a range of hours is read
// contiguously instead of one table look-up per row.
func ledgerV2For(withoutRowID string) string {
	var b strings.Builder
	for _, c := range []string{"ttft_ms BIGINT NOT NULL DEFAULT 0", "fallback INTEGER NOT NULL DEFAULT 0",
		"attempts INTEGER NOT NULL DEFAULT 0", "error_message TEXT NOT NULL DEFAULT ''"} {
		fmt.Fprintf(&b, "ALTER TABLE usage_events ADD COLUMN %s;\n", c)
	}
	for _, idx := range []string{"ts, request_id", "user_id, ts, request_id", "key_id, ts, request_id",
		"model, ts, request_id", "status, ts, request_id"} {
		name := strings.NewReplacer(", ", "_", "request_id", "id").Replace(idx)
		fmt.Fprintf(&b, "CREATE INDEX usage_events_page_%s ON usage_events (%s);\n", name, idx)
	}
	b.WriteString("ALTER TABLE usage_daily ADD COLUMN team TEXT NOT NULL DEFAULT '';\n")
	for _, c := range extraMeasures {
		fmt.Fprintf(&b, "ALTER TABLE usage_daily ADD COLUMN %s BIGINT NOT NULL DEFAULT 0;\n", c)
	}
	fmt.Fprintf(&b, `CREATE TABLE usage_hourly (
	hour BIGINT NOT NULL,
	user_id TEXT NOT NULL,
	key_id TEXT NOT NULL,
	provider TEXT NOT NULL,
	model TEXT NOT NULL,
	team TEXT NOT NULL DEFAULT ''%s,
	PRIMARY KEY (hour, user_id, key_id, provider, model)
)%s;
CREATE INDEX usage_hourly_user_hour ON usage_hourly (user_id, hour);
CREATE INDEX usage_hourly_key_hour ON usage_hourly (key_id, hour);
`, measureDDL(measureColumns), withoutRowID)
	b.WriteString(backfillHourly())
	for _, t := range []rollupTable{dailyByTable, hourlyByTable} {
		typ := "TEXT"
		if t.timeCol == "hour" {
			typ = "BIGINT"
		}
		fmt.Fprintf(&b, `;
CREATE TABLE %s (
	dim TEXT NOT NULL,
	%s %s NOT NULL,
	value TEXT NOT NULL%s,
	PRIMARY KEY (dim, %s, value)
)%s`, t.name, t.timeCol, typ, measureDDL(measureColumns), t.timeCol, withoutRowID)
	}
	b.WriteString(backfillByDim())
	return b.String()
}

// backfillByDim fills the per-dimension rollups from the full ones.
func backfillByDim() string {
	sums := make([]string, len(measureColumns))
	for i, c := range measureColumns {
		sums[i] = "SUM(" + c + ")"
	}
	var b strings.Builder
	for _, src := range []struct{ from, to rollupTable }{{dailyTable, dailyByTable}, {hourlyTable, hourlyByTable}} {
		for _, d := range rollupDims {
			expr := statsGroups[d]
			fmt.Fprintf(&b, ";\nINSERT INTO %s (dim, %s, value, %s) SELECT '%s', %s, %s, %s FROM %s GROUP BY %s, %s",
				src.to.name, src.to.timeCol, strings.Join(measureColumns, ", "), d, src.from.timeCol, expr,
				strings.Join(sums, ", "), src.from.name, src.from.timeCol, expr)
		}
	}
	return b.String()
}

// backfillHourly folds the interaction rows into the hourly rollup with
// the writer's rules (rollup.add).
func backfillHourly() string {
	hist := func(col string) []string {
		var out []string
		lo := int64(0)
		for i := range nBuckets {
			cond := fmt.Sprintf("%s > %d", col, lo)
			if i == 0 && col == "latency_ms" {
				cond = "1=1"
			}
			if i < len(LatencyBucketsMS) {
				cond += fmt.Sprintf(" AND %s <= %d", col, LatencyBucketsMS[i])
				lo = LatencyBucketsMS[i]
			}
			out = append(out, "SUM(CASE WHEN "+cond+" THEN 1 ELSE 0 END)")
		}
		return out
	}
	sums := []string{"COUNT(*)", "SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END)", "SUM(input_tokens)",
		"SUM(output_tokens)", "SUM(thinking_tokens)", "SUM(cached_input_tokens)", "SUM(cost_usd)",
		"SUM(1 - cost_known)", "SUM(cache_write_tokens)", "SUM(cache_write_1h_tokens)", "SUM(fallback)", "SUM(cache_hit)", "SUM(latency_ms)", "SUM(ttft_ms)",
		"SUM(CASE WHEN ttft_ms > 0 THEN 1 ELSE 0 END)"}
	sums = append(append(sums, hist("latency_ms")...), hist("ttft_ms")...)
	return fmt.Sprintf(`INSERT INTO usage_hourly (hour, user_id, key_id, provider, model, team, %s)
SELECT (ts / 3600000) * 3600000, user_id, key_id, provider, model, MAX(team), %s
FROM usage_events GROUP BY (ts / 3600000) * 3600000, user_id, key_id, provider, model`,
		strings.Join(measureColumns, ", "), strings.Join(sums, ", "))
}

// budgetMigrations: one row per subject and period. Amounts are integer
// nano-USD so that concurrent reservations add up exactly.
var budgetMigrations = []store.Migration{{
	Version: 1,
	SQL: `CREATE TABLE budget_counters (
	subject TEXT NOT NULL,
	period TEXT NOT NULL,
	spent_nusd BIGINT NOT NULL,
	reserved_nusd BIGINT NOT NULL,
	PRIMARY KEY (subject, period)
)`,
}}
