package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cost"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
	"github.com/llm-connector/llm-connector/internal/track"
)

// benchNow is the end of the benchmark ledger's 30 days.
var benchNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// benchRows is the ledger's size: LLMC_BENCH_ROWS, default 1,000,000.
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("LLMC_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var benchModels = []struct{ provider, model string }{
	{"google", "gemini-2.5-flash"}, {"google", "gemini-2.5-pro"}, {"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"},
	{"anthropic", "claude-sonnet-4-5"}, {"anthropic", "claude-haiku-4-5"}, {"ollama", "llama3.2"}, {"ollama", "tiny"},
}

// benchCall is interaction i of n: 100 users with 2 keys each, 8 models,
// 3 % errors, 5 % fallbacks, 10 % cache hits, spread evenly over 30 days.
func benchCall(rng *rand.Rand, i, n int) track.Call {
	span := 30 * 24 * time.Hour
	start := benchNow.Add(-span + time.Duration(int64(span)/int64(n)*int64(i)))
	u := rng.IntN(100)
	m := benchModels[rng.IntN(len(benchModels))]
	var id [12]byte
	ms := uint64(start.UnixMilli())
	for j := 5; j >= 0; j-- {
		id[j] = byte(ms)
		ms >>= 8
	}
	for j := 6; j < 12; j++ {
		id[j] = byte(rng.Uint32())
	}
	lat := time.Duration(100+rng.ExpFloat64()*900) * time.Millisecond
	c := track.Call{ID: hex.EncodeToString(id[:]), User: fmt.Sprintf("user-%03d", u), KeyID: fmt.Sprintf("key-%03d-%d", u, i%2),
		Team: fmt.Sprintf("team-%d", u%7), Endpoint: "/v1/chat/completions", Provider: m.provider, Model: m.model,
		Start: start, Duration: lat, TTFT: lat / 4, Success: true, Attempts: 1,
		Usage: llm.Usage{InputTokens: 200 + rng.IntN(2000), OutputTokens: 50 + rng.IntN(500), ThinkingTokens: rng.IntN(100), CachedInputTokens: rng.IntN(200)}}
	switch r := rng.IntN(100); {
	case r < 3:
		c.Success, c.ErrorKind, c.ErrorMessage = false, "upstream_unavailable", "provider unavailable"
	case r < 8:
		c.Fallback, c.Attempts = true, 2
	case r < 18:
		c.Cached = true
	}
	return c
}

// loadLedger writes n interactions through the ledger's own writer (the
// rollups are filled on write, as in production) and closes it.
func loadLedger(b *testing.B, db *store.DB, n int) {
	ctx := context.Background()
	l, err := cost.NewLedger(ctx, cost.LedgerConfig{DB: db, QueueSize: n + 1, BatchSize: 5000, FlushInterval: time.Hour,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		if err := l.Record(ctx, benchCall(rng, i, n)); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if err := l.Close(ctx); err != nil { // Close writes without the request-path pauses
		b.Fatal(err)
	}
	b.Logf("loaded %d rows in %s", n, time.Since(start).Round(time.Millisecond))
	if db.Dialect == store.Postgres {
		// What autovacuum does after a bulk of writes: without statistics
		// the planner scans whole rollups instead of their key ranges.
		if _, err := db.ExecContext(ctx, "ANALYZE usage_segments, usage_request_ids, usage_segment_keys, usage_daily, usage_hourly, usage_daily_by, usage_hourly_by"); err != nil {
			b.Fatal(err)
		}
	}
}

// dashboardEndpoints are the JSON requests the UI's views make.
func dashboardEndpoints(cursor string) []struct{ name, path string } {
	return []struct{ name, path string }{
		{"stats_hour_total", "/admin/stats?window=hour"},
		{"stats_hour_by_model", "/admin/stats?window=hour&group_by=model"},
		{"stats_hour_by_user", "/admin/stats?window=hour&group_by=user"},
		{"stats_day_by_user", "/admin/stats?window=day&group_by=user"},
		{"stats_day_by_key", "/admin/stats?window=day&group_by=key"},
		{"stats_day_by_model", "/admin/stats?window=day&group_by=model"},
		{"stats_day_by_provider", "/admin/stats?window=day&group_by=provider"},
		{"stats_day_by_team", "/admin/stats?window=day&group_by=team"},
		{"stats_month_by_model", "/admin/stats?window=month&group_by=model"},
		{"stats_hour_latency_by_model", "/admin/stats?window=hour&group_by=model&latency=1"},
		{"stats_day_latency_by_model", "/admin/stats?window=day&group_by=model&latency=1"},
		{"stats_day_one_user", "/admin/stats?window=day&group_by=model&user=user-042"},
		{"usage_by_model", "/admin/usage?group_by=model&from=2026-11-01&to=2026-11-30"},
		{"requests_first_page", "/admin/requests?limit=50"},
		{"requests_deep_page", "/admin/requests?limit=50&cursor=" + cursor},
		{"requests_by_user", "/admin/requests?limit=50&user=user-042"},
		{"requests_by_key", "/admin/requests?limit=50&key=key-042-1"},
		{"requests_by_model", "/admin/requests?limit=50&model=gpt-4o"},
		{"requests_errors", "/admin/requests?limit=50&status=error"},
		{"requests_errors_of_user", "/admin/requests?limit=50&status=error&user=user-042"},
		{"requests_time_range", "/admin/requests?limit=50&from=2026-11-10T00:00:00Z&to=2026-11-11T00:00:00Z"},
		{"requests_no_match", "/admin/requests?limit=50&model=no-such-model"},
		{"request_detail", "/admin/requests/"},
	}
}

// BenchmarkDashboard measures every dashboard endpoint over HTTP against
// a ledger of LLMC_BENCH_ROWS interactions (default 1,000,000) in SQLite
// and in PostgreSQL (a dedicated schema on DATABASE_TEST_URL, dropped
// after), and reports each one's p99 in milliseconds. Run it with
//
//	go test -run '^$' -bench Dashboard -benchtime 200x -timeout 60m ./internal/admin
func BenchmarkDashboard(b *testing.B) {
	for _, backend := range storetest.Backends(b) {
		b.Run(backend.Name, func(b *testing.B) { benchBackend(b, backend) })
	}
}

func benchBackend(b *testing.B, backend storetest.Backend) {
	db := backend.Open(b)
	loadLedger(b, db, benchRows())
	ctx := context.Background()
	ledger, err := cost.NewLedger(ctx, cost.LedgerConfig{DB: db, Now: func() time.Time { return benchNow }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ledger.Close(ctx) })
	keys, _ := auth.NewStore(ctx, auth.StoreConfig{DB: db})
	mux := http.NewServeMux()
	Register(mux, Deps{Keys: keys, Ledger: ledger, AdminKey: adminKey, Now: func() time.Time { return benchNow }, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	// A cursor half-way down the ledger, and one request's id.
	page, err := ledger.Requests(ctx, cost.RequestQuery{To: benchNow.Add(-15 * 24 * time.Hour), Limit: 1})
	if err != nil || len(page.Rows) == 0 {
		b.Fatalf("mid-ledger page: %+v %v", page, err)
	}
	for _, ep := range dashboardEndpoints(page.Next) {
		if ep.name == "request_detail" {
			ep.path += page.Rows[0].ID
		}
		b.Run(ep.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			var size int
			cpu0 := cpuTime()
			for b.Loop() {
				start := time.Now()
				size = get(b, srv.URL+ep.path)
				lat = append(lat, time.Since(start))
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(len(lat)), "cpu-ms/op")
			slices.Sort(lat)
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(size), "bytes")
		})
	}
}

// cpuTime is the process's CPU time (user + system): client and server
// both, so it bounds what one request costs on an idle machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func get(b *testing.B, url string) int {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Admin-Key", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !json.Valid(body) {
		b.Fatalf("GET %s: %d %.300s", url, resp.StatusCode, body)
	}
	return len(body)
}
