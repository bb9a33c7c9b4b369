package cost

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
	"github.com/llm-connector/llm-connector/internal/track"
)

// TestTeamRollup: usage of every key of a team sums into the team's rows
// (with the cache-write columns), on SQLite and PostgreSQL; a replay is
// not counted twice.
func TestTeamRollup(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			l := newLedger(t, b.Open(t), nil)
			u := llm.Usage{InputTokens: 100, OutputTokens: 10, CachedInputTokens: 20, CacheWriteTokens: 30, CacheWrite1hTokens: 40}
			teamCall := func(id, user, team, model string) track.Call {
				c := call(id, user, model, day1, u)
				c.Team, c.Provider = team, "anthropic"
				return c
			}
			record(t, l,
				teamCall("a1", "ann", "red", "claude-haiku-4-5"),
				teamCall("b1", "bob", "red", "claude-haiku-4-5"),
				teamCall("b2", "bob", "red", "claude-sonnet-4-5"),
				teamCall("c1", "cy", "blue", "claude-haiku-4-5"),
				teamCall("d1", "dee", "", "claude-haiku-4-5"))
			record(t, l, teamCall("a1", "ann", "red", "claude-haiku-4-5")) // a replay
			if err := l.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			rows, err := l.Usage(context.Background(), UsageQuery{GroupBy: []Dimension{DimTeam}})
			if err != nil {
				t.Fatal(err)
			}
			haiku, _ := Default().Cost("anthropic", "claude-haiku-4-5", u)
			sonnet, _ := Default().Cost("anthropic", "claude-sonnet-4-5", u)
			want := []UsageRow{
				{Team: "blue", Requests: 1, InputTokens: 100, OutputTokens: 10, CachedInputTokens: 20, CacheWriteTokens: 30, CacheWrite1hTokens: 40, CostUSD: haiku},
				{Team: "red", Requests: 3, InputTokens: 300, OutputTokens: 30, CachedInputTokens: 60, CacheWriteTokens: 90, CacheWrite1hTokens: 120, CostUSD: 2*haiku + sonnet},
			}
			if diff := cmp.Diff(want, rows, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 })); diff != "" {
				t.Errorf("team rows (-want +got):\n%s", diff)
			}
			red, err := l.Totals(context.Background(), UsageQuery{Team: "red"})
			if err != nil || red.Requests != 3 {
				t.Errorf("red total %+v, %v", red, err)
			}
			all, err := l.Totals(context.Background(), UsageQuery{})
			if err != nil || all.Requests != 5 || all.CacheWrite1hTokens != 200 {
				t.Errorf("all-users total %+v, %v", all, err)
			}
			if _, err := l.Usage(context.Background(), UsageQuery{Team: "red", User: "ann"}); err == nil {
				t.Error("team and user together accepted")
			}
		})
	}
}

// TestLedgerMigratesV1: a database made by the first schema gains the
// new columns and table; its old rows read 0 cache writes.
func TestLedgerMigratesV1(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			ctx := context.Background()
			if err := db.Migrate(ctx, "ledger", ledgerMigrations[:1]); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO usage_daily (day, user_id, key_id, provider, model, requests,
				errors, input_tokens, output_tokens, thinking_tokens, cached_input_tokens, cost_usd, cost_unknown)
				VALUES ('2025-06-01', 'old', 'k', 'openai', 'gpt-4o', 1, 0, 5, 5, 0, 0, 0.1, 0)`)); err != nil {
				t.Fatal(err)
			}
			l := newLedger(t, db, nil)
			if err := db.Migrate(ctx, "ledger", ledgerMigrations); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			got, err := l.Totals(ctx, UsageQuery{User: "old"})
			if err != nil || got.Requests != 1 || got.CacheWriteTokens != 0 {
				t.Errorf("old row %+v, %v", got, err)
			}
		})
	}
}
