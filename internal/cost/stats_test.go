package cost

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
	"github.com/llm-connector/llm-connector/internal/track"
)

// statsCalls are 10 calls over two hours of day1 and one of the next
// day: alice (k-alice) on gpt-4o, bob on gpt-4o-mini with an error, a
// fallback and a cache hit, each with a known latency and TTFT.
func statsCalls() []track.Call {
	var out []track.Call
	for i := range 10 {
		user, model := "alice", "gpt-4o"
		if i%2 == 1 {
			user, model = "bob", "gpt-4o-mini"
		}
		start := day1.Add(time.Duration(i%2) * time.Hour).Add(time.Duration(i) * time.Minute)
		if i == 9 {
			start = day1.Add(24 * time.Hour)
		}
		c := call(fmt.Sprintf("s%02d", i), user, model, start, llm.Usage{InputTokens: 100, OutputTokens: 10, ThinkingTokens: 1, CachedInputTokens: 5})
		c.Duration = time.Duration(100*(i+1)) * time.Millisecond // 100ms … 1000ms
		c.TTFT = 40 * time.Millisecond
		c.Team = "team-" + user
		switch i {
		case 1:
			c.Success, c.ErrorKind, c.ErrorMessage = false, "upstream_unavailable", "provider unavailable"
		case 3:
			c.Fallback, c.Attempts = true, 2
		case 5:
			c.Cached = true
		}
		out = append(out, c)
	}
	return out
}

func TestStats(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			l := newLedger(t, b.Open(t), func(c *LedgerConfig) { c.Now = func() time.Time { return day1.Add(30 * time.Hour) } })
			record(t, l, statsCalls()...)
			if err := l.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			testStatsWindows(t, l)
			testStatsGroups(t, l)
			testRequestPages(t, l)
		})
	}
}

func testStatsWindows(t *testing.T, l *Ledger) {
	ctx := context.Background()
	for _, tc := range []struct {
		window     Window
		from, to   time.Time
		points     int
		firstPoint string
		firstReqs  int64
	}{
		{WindowHour, day1, day1.Add(25 * time.Hour), 26, "2025-06-01T10:00:00Z", 5},
		{WindowDay, day1, day1.Add(24 * time.Hour), 2, "2025-06-01", 9},
		{WindowMonth, day1, day1, 1, "2025-06", 10},
	} {
		st, err := l.QueryStats(ctx, StatsQuery{Window: tc.window, From: tc.from, To: tc.to, Latency: true})
		if err != nil {
			t.Fatalf("%s: %v", tc.window, err)
		}
		if len(st.Series) != tc.points || st.Series[0].Time != tc.firstPoint || st.Series[0].Requests != tc.firstReqs {
			t.Errorf("%s: %d points, first %+v", tc.window, len(st.Series), st.Series[0])
		}
		tot := st.Total
		if tot.Requests != 10 || tot.Errors != 1 || tot.Fallbacks != 1 || tot.CacheHits != 1 || tot.InputTokens != 1000 ||
			tot.OutputTokens != 100 || tot.ThinkingTokens != 10 || tot.CachedInputTokens != 50 || tot.ErrorRate != 0.1 {
			t.Errorf("%s: total %+v", tc.window, tot)
		}
		// Latencies 100..1000ms: 1 in (50,100], 1 in (100,250], 3 in (250,500], 5 in (500,1000].
		if tot.Latency.Count != 10 || tot.Latency.Mean != 550 || tot.Latency.P50 != 500 || tot.Latency.P90 != 900 {
			t.Errorf("%s: latency %+v", tc.window, tot.Latency)
		}
		if tot.TTFT.Count != 10 || tot.TTFT.P99 > 50 || tot.TTFT.P99 <= 0 {
			t.Errorf("%s: ttft %+v", tc.window, tot.TTFT)
		}
	}
	for _, bad := range []StatsQuery{
		{Window: "week"}, {GroupBy: "colour"}, {Window: WindowHour, From: day1, To: day1.AddDate(0, 2, 0)},
		{From: day1.Add(48 * time.Hour), To: day1},
	} {
		if _, err := l.QueryStats(ctx, bad); !errors.Is(err, ErrStatsRange) {
			t.Errorf("%+v: err %v, want ErrStatsRange", bad, err)
		}
	}
}

func testStatsGroups(t *testing.T, l *Ledger) {
	ctx := context.Background()
	want := map[Dimension][]string{
		DimUser: {"alice", "bob"}, DimKey: {"k-alice", "k-bob"}, DimModel: {"openai/gpt-4o", "openai/gpt-4o-mini"},
		DimProvider: {"openai"}, DimTeam: {"team-alice", "team-bob"},
	}
	for _, w := range []Window{WindowHour, WindowDay} {
		for dim, groups := range want {
			st, err := l.QueryStats(ctx, StatsQuery{Window: w, From: day1, To: day1.Add(25 * time.Hour), GroupBy: dim})
			if err != nil {
				t.Fatalf("%s/%s: %v", w, dim, err)
			}
			if st.Total.Latency != nil {
				t.Errorf("%s/%s: latency summed without being asked", w, dim)
			}
			var got []string
			var sum int64
			for _, g := range st.Groups {
				got = append(got, g.Group)
				sum += g.Requests
			}
			if fmt.Sprint(got) != fmt.Sprint(groups) || sum != 10 {
				t.Errorf("%s/%s: groups %v (sum %d), want %v (by cost, alice's gpt-4o first)", w, dim, got, sum, groups)
			}
			var series int64
			for _, p := range st.GroupSeries {
				series += p.Requests
			}
			if series != 10 {
				t.Errorf("%s/%s: group series sum to %d", w, dim, series)
			}
		}
	}
	st, err := l.QueryStats(ctx, StatsQuery{Window: WindowDay, From: day1, To: day1.Add(24 * time.Hour), User: "bob", GroupBy: DimUser, Limit: 1})
	if err != nil || len(st.Groups) != 1 || st.Groups[0].Group != "bob" || st.Total.Requests != 5 || st.Total.FallbackRate != 0.2 {
		t.Errorf("bob's stats: %+v %v", st, err)
	}
}

func testRequestPages(t *testing.T, l *Ledger) {
	ctx := context.Background()
	var ids []string
	cursor := ""
	for range 10 {
		page, err := l.Requests(ctx, RequestQuery{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rows {
			ids = append(ids, r.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(ids) != "[s09 s07 s05 s03 s01 s08 s06 s04 s02 s00]" {
		t.Errorf("pages newest first = %v", ids)
	}
	for _, tc := range []struct {
		q    RequestQuery
		want int
	}{
		{RequestQuery{User: "bob"}, 5}, {RequestQuery{KeyID: "k-alice"}, 5}, {RequestQuery{Model: "gpt-4o-mini"}, 5},
		{RequestQuery{Status: "error"}, 1}, {RequestQuery{Status: "ok"}, 9}, {RequestQuery{Status: "upstream_unavailable"}, 1},
		{RequestQuery{From: day1.Add(time.Hour), To: day1.Add(2 * time.Hour)}, 4},
		{RequestQuery{User: "bob", Status: "error"}, 1}, {RequestQuery{User: "nobody"}, 0},
	} {
		page, err := l.Requests(ctx, tc.q)
		if err != nil || len(page.Rows) != tc.want {
			t.Errorf("%+v: %d rows, %v; want %d", tc.q, len(page.Rows), err, tc.want)
		}
	}
	if _, err := l.Requests(ctx, RequestQuery{Cursor: "!!"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	r, err := l.Request(ctx, "s03", "")
	if err != nil || !r.Fallback || r.Attempts != 2 || r.TTFTMS != 40 || r.LatencyMS != 400 || r.Team != "team-bob" {
		t.Errorf("detail = %+v, %v", r, err)
	}
	if r, err := l.Request(ctx, "s01", ""); err != nil || r.Status != "upstream_unavailable" || r.ErrorMessage != "provider unavailable" {
		t.Errorf("error detail = %+v, %v", r, err)
	}
	if _, err := l.Request(ctx, "s03", "alice"); !errors.Is(err, ErrNoRequest) {
		t.Errorf("alice reads bob's request: %v", err)
	}
}

// TestHourlyBackfill: a ledger written before migration 2 gets its
// hourly rollup from the interaction rows, equal to what the writer
// folds in.
func TestHourlyBackfill(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			if err := db.Migrate(ctx, "ledger", ledgerMigrations[:1]); err != nil {
				t.Fatal(err)
			}
			// Rows as version 1 wrote them (no TTFT, no fallback).
			for i, lat := range []int64{30, 120, 700, 200000} {
				if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO usage_events (request_id, ts, day, user_id, key_id, team,
					endpoint, provider, model, input_tokens, output_tokens, thinking_tokens, cached_input_tokens, cost_usd,
					cost_known, price_version, latency_ms, status, cache_hit) VALUES (?, ?, '2025-06-01', 'u', 'k', 't', '/chat',
					'p', 'm', 10, 1, 0, 0, 0.5, 1, 'v', ?, ?, 0)`), fmt.Sprint("old", i), day1.UnixMilli()+int64(i), lat,
					map[bool]string{true: "ok", false: "timeout"}[i != 2]); err != nil {
					t.Fatal(err)
				}
			}
			l := newLedger(t, db, nil)
			st, err := l.QueryStats(ctx, StatsQuery{Window: WindowHour, From: day1, To: day1, Latency: true})
			if err != nil {
				t.Fatal(err)
			}
			tot := st.Total
			if tot.Requests != 4 || tot.Errors != 1 || tot.InputTokens != 40 || math.Abs(tot.CostUSD-2) > 1e-9 ||
				tot.Latency.Count != 4 || tot.TTFT.Count != 0 || tot.Latency.P99 != 120000 {
				t.Errorf("backfilled hour = %+v", tot)
			}
			var b0 int64
			db.QueryRowContext(ctx, `SELECT lat_b0 FROM usage_hourly`).Scan(&b0)
			if b0 != 1 {
				t.Errorf("lat_b0 = %d, want 1", b0)
			}
		})
	}
}

func TestPercentilesFromBuckets(t *testing.T) {
	h := make([]int64, nBuckets)
	h[bucketOf(75)] = 100 // all in (50, 100]
	p := percentiles(h, 7500)
	if p.P50 != 75 || p.P99 != 99.5 || p.Mean != 75 {
		t.Errorf("percentiles = %+v", p)
	}
	if p := percentiles(make([]int64, nBuckets), 0); p != (Percentiles{}) {
		t.Errorf("empty = %+v", p)
	}
	for ms, want := range map[int64]int{0: 0, 50: 0, 51: 1, 120000: len(LatencyBucketsMS) - 1, 120001: len(LatencyBucketsMS)} {
		if got := bucketOf(ms); got != want {
			t.Errorf("bucketOf(%d) = %d, want %d", ms, got, want)
		}
	}
}

// TestUsageByDimMatchesFull: the per-dimension rollup answers Usage
// exactly as the full daily rollup does.
func TestUsageByDimMatchesFull(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			l := newLedger(t, b.Open(t), nil)
			calls := statsCalls()
			calls[2].Provider, calls[2].Model = "openrouter", "meta/llama-3"
			record(t, l, calls...)
			if err := l.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, g := range [][]Dimension{nil, {DimDay}, {DimModel}, {DimUser}, {DimKey}, {DimDay, DimModel}, {DimModel, DimDay}, {DimUser, DimDay}} {
				q := UsageQuery{From: day1, To: day1.Add(24 * time.Hour), GroupBy: g}
				dim, grouped, byDay, ok := usageDim(q)
				if !ok {
					t.Fatalf("%v: not answered by dimension", g)
				}
				fast, err1 := l.usageByDim(ctx, q, dim, grouped, byDay)
				full, err2 := l.usageFull(ctx, q)
				for _, rows := range [][]UsageRow{fast, full} { // sums in another order
					for i := range rows {
						rows[i].CostUSD = math.Round(rows[i].CostUSD*1e12) / 1e12
					}
				}
				if err1 != nil || err2 != nil || fmt.Sprintf("%+v", fast) != fmt.Sprintf("%+v", full) {
					t.Errorf("%v:\n by dim %+v %v\n full   %+v %v", g, fast, err1, full, err2)
				}
			}
			if _, _, _, ok := usageDim(UsageQuery{User: "bob", GroupBy: []Dimension{DimModel}}); ok {
				t.Error("a user's usage answered from the per-dimension rollup")
			}
		})
	}
}
