package cost

import "github.com/llm-connector/llm-connector/internal/store"

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
	SQL: `ALTER TABLE usage_events ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
CREATE TABLE usage_team_daily (
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
CREATE INDEX usage_team_daily_team_day ON usage_team_daily (team, day)`,
	// PostgreSQL can also say IF NOT EXISTS: a half-applied step by hand
	// is harmless.
	Postgres: `ALTER TABLE usage_events ADD COLUMN IF NOT EXISTS cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN IF NOT EXISTS cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS usage_team_daily (
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
CREATE INDEX IF NOT EXISTS usage_team_daily_team_day ON usage_team_daily (team, day)`,
}}

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
