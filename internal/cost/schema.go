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
