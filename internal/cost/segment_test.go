package cost

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
	"github.com/llm-connector/llm-connector/internal/track"
)

// randomListingCalls are n calls of three users, three models and three
// statuses over two hours, starts on 97 distinct milliseconds (ties).
func randomListingCalls(r *rand.Rand, n int) []track.Call {
	calls := make([]track.Call, n)
	for i := range calls {
		c := call(fmt.Sprintf("%012x-%d", r.Uint64()>>16, i), []string{"ann", "bob", "cy"}[r.IntN(3)],
			[]string{"gpt-4o", "gpt-4o-mini", "o3"}[r.IntN(3)],
			day1.Add(time.Duration(r.IntN(97))*75*time.Second+time.Duration(r.IntN(2))*time.Millisecond),
			llm.Usage{InputTokens: r.IntN(1000), OutputTokens: r.IntN(500), CacheWriteTokens: r.IntN(3)})
		if k := r.IntN(4); k > 1 {
			c.Success, c.ErrorKind, c.ErrorMessage = false, []string{"timeout", "rate_limited"}[k-2], "upstream \"said\" no\n"
		}
		calls[i] = c
	}
	return calls
}

// listAll pages through q, limit rows at a time.
func listAll(t *testing.T, l *Ledger, q RequestQuery) []RequestRow {
	t.Helper()
	var out []RequestRow
	for range 1000 {
		page, err := l.Requests(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Rows) > max(q.Limit, 0) || (page.Next != "" && len(page.Rows) != q.Limit) {
			t.Fatalf("a page of %d rows (limit %d), next %q", len(page.Rows), q.Limit, page.Next)
		}
		out = append(out, page.Rows...)
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
	t.Fatal("the listing never ends")
	return nil
}

// reference is the listing of q over rows, by brute force.
func reference(rows []RequestRow, q RequestQuery) []RequestRow {
	var out []RequestRow
	for _, r := range rows {
		switch {
		case q.User != "" && r.User != q.User, q.Model != "" && r.Model != q.Model, q.KeyID != "" && r.KeyID != q.KeyID,
			q.Status == "error" && r.Status == "ok", q.Status != "" && q.Status != "error" && r.Status != q.Status,
			!q.From.IsZero() && r.ts < q.From.UnixMilli(), !q.To.IsZero() && r.ts > q.To.UnixMilli():
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, newer)
	return out
}

// TestRequestsMatchReference: over many segments of random rows, every
// filter's pages, read to the end, are the brute-force listing; after
// retention, so are they of the rows kept, and a pruned id is gone.
func TestRequestsMatchReference(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			l := newLedger(t, b.Open(t), nil)
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 3))
			calls := randomListingCalls(r, 900)
			for len(calls) > 0 { // batches of 1 to 150 rows: segments of 1 to 64
				n := min(len(calls), 1+r.IntN(150))
				record(t, l, calls[:n]...)
				if err := l.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				calls = calls[n:]
			}
			all := listAll(t, l, RequestQuery{Limit: MaxPage})
			if len(all) != 900 {
				t.Fatalf("%d rows listed, want 900", len(all))
			}
			queries := []RequestQuery{{Limit: 7}, {User: "bob", Limit: 5}, {Model: "o3", Status: "error", Limit: 4},
				{KeyID: "k-cy", Status: "timeout", Limit: 9}, {Status: "ok", Limit: 50},
				{From: day1.Add(30 * time.Minute), To: day1.Add(80 * time.Minute), Limit: 6},
				{User: "ann", Model: "gpt-4o", From: day1.Add(time.Hour), Limit: 3}}
			check := func(rows []RequestRow) {
				for _, q := range queries {
					got, want := listAll(t, l, q), reference(rows, q)
					if !slices.EqualFunc(got, want, func(a, b RequestRow) bool { return a == b }) {
						t.Errorf("%+v: %d rows listed, want %d (first %v)", q, len(got), len(want), firstDiff(got, want))
					}
				}
			}
			check(all)
			cutoff := day1.Add(time.Hour)
			n, err := l.Prune(ctx, cutoff)
			kept := reference(all, RequestQuery{From: cutoff})
			if err != nil || n != int64(len(all)-len(kept)) {
				t.Fatalf("Prune = %d, %v; want %d", n, err, len(all)-len(kept))
			}
			if got := count(t, l); got != int64(len(kept)) {
				t.Errorf("Count after prune = %d, want %d", got, len(kept))
			}
			check(kept)
			for _, row := range all[len(all)-3:] { // the oldest: pruned
				if _, err := l.Request(ctx, row.ID, ""); !errors.Is(err, ErrNoRequest) {
					t.Errorf("pruned %s: %v, want ErrNoRequest", row.ID, err)
				}
			}
			for _, row := range kept[:3] {
				got, err := l.Request(ctx, row.ID, "")
				if err != nil || got != row {
					t.Errorf("Request(%s) = %+v, %v; want %+v", row.ID, got, err, row)
				}
				if _, err := l.Request(ctx, row.ID, "someone-else"); !errors.Is(err, ErrNoRequest) {
					t.Errorf("another user's row: %v, want ErrNoRequest", err)
				}
			}
		})
	}
}

func firstDiff(got, want []RequestRow) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	return "a prefix"
}

// TestSegmentMigrationKeepsRows: rows written before migration 5 are
// listed, looked up and counted after it as before, the view
// usage_events reads them back, and the ledger writes on after them.
func TestSegmentMigrationKeepsRows(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			if err := db.Migrate(ctx, "ledger", ledgerMigrations[:4]); err != nil {
				t.Fatal(err)
			}
			l4 := &Ledger{db: db, cfg: LedgerConfig{}}
			l4.cfg.defaults()
			calls := randomListingCalls(rand.New(rand.NewPCG(1, 2)), 150)
			var want []RequestRow
			for _, c := range calls {
				r := l4.toRow(c)
				if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO usage_events (request_id, ts, day, user_id, key_id,
					team, endpoint, provider, model, input_tokens, output_tokens, thinking_tokens, cached_input_tokens,
					cost_usd, cost_known, price_version, latency_ms, status, cache_hit, cache_write_tokens,
					cache_write_1h_tokens, ttft_ms, fallback, attempts, error_message)
					VALUES (?, ?, '2025-06-01', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
					r.requestID, r.start.UnixMilli(), r.user, r.keyID, r.team, r.endpoint, r.provider, r.model,
					r.input, r.output, r.thinking, r.cached, r.costUSD, b2i(r.costKnown), r.priceVersion, r.latencyMS,
					r.status, b2i(r.cacheHit), r.cacheWrite, r.cacheWrite1h, r.ttftMS, b2i(r.fallback), r.attempts,
					r.errorMessage); err != nil {
					t.Fatal(err)
				}
				rows, _ := decodeSegment(appendSegment(nil, []row{r}))
				want = append(want, rows[0])
			}
			l := newLedger(t, db, nil)
			if got := count(t, l); got != 150 {
				t.Errorf("Count = %d, want 150", got)
			}
			for _, q := range []RequestQuery{{Limit: 11}, {User: "cy", Status: "error", Limit: 4}} {
				if got, w := listAll(t, l, q), reference(want, q); !slices.Equal(got, w) {
					t.Errorf("%+v after the migration: %d rows, want %d (%s)", q, len(got), len(w), firstDiff(got, w))
				}
			}
			if got, err := l.Request(ctx, want[77].ID, ""); err != nil || got != want[77] {
				t.Errorf("Request = %+v, %v; want %+v", got, err, want[77])
			}
			var viewRows, in, errs int64
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(input_tokens), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END)
				FROM usage_events WHERE day = '2025-06-01'`).Scan(&viewRows, &in, &errs); err != nil {
				t.Fatal(err)
			}
			var wantIn, wantErrs int64
			for _, r := range want {
				wantIn += r.InputTokens
				wantErrs += b2i(r.Status != "ok")
			}
			if viewRows != 150 || in != wantIn || errs != wantErrs {
				t.Errorf("view: %d rows, %d input tokens, %d errors; want 150, %d, %d", viewRows, in, errs, wantIn, wantErrs)
			}
			record(t, l, call("after-migration", "u", "gpt-4o", day1, llm.Usage{}))
			if err := l.Flush(ctx); err != nil {
				t.Fatalf("a write after the migration: %v", err)
			}
			if got := count(t, l); got != 151 {
				t.Errorf("Count = %d, want 151", got)
			}
		})
	}
}

// TestSegmentRoundTrip: every field of a row, with text that needs
// escaping, reads back as written, in SQLite's compact JSON and with
// the white space PostgreSQL's json_agg writes; bad segments are errors.
func TestSegmentRoundTrip(t *testing.T) {
	r := row{requestID: "caller.0123", user: "ünï \"q\" \\ \t\x01", keyID: "k", team: "t\u2028", endpoint: "/chat",
		provider: "p", model: "m\xff", status: "timeout", errorMessage: "line\nnext", start: day1.Add(1234 * time.Millisecond),
		input: 1, output: 2, thinking: 3, cached: 4, cacheWrite: 5, cacheWrite1h: 6, costUSD: 1.5e-7, costKnown: true,
		priceVersion: "v", latencyMS: 7, ttftMS: 8, cacheHit: true, fallback: true, attempts: 9}
	data := appendSegment(nil, []row{r, r})
	got, err := decodeSegment(data)
	if err != nil || len(got) != 2 {
		t.Fatalf("decode = %d rows, %v", len(got), err)
	}
	want := RequestRow{ID: r.requestID, Time: "2025-06-01T10:00:01.234Z", User: r.user, KeyID: "k", Team: r.team,
		Endpoint: "/chat", Provider: "p", Model: "m\ufffd", Status: "timeout", ErrorMessage: "line\nnext",
		InputTokens: 1, OutputTokens: 2, ThinkingTokens: 3, CachedInputTokens: 4, CacheWriteTokens: 5,
		CacheWrite1hTokens: 6, CostUSD: 1.5e-7, CostKnown: true, PriceVersion: "v", LatencyMS: 7, TTFTMS: 8,
		CacheHit: true, Fallback: true, Attempts: 9, ts: day1.Add(1234 * time.Millisecond).UnixMilli()}
	if got[0] != want || got[1] != want {
		t.Errorf("decoded %+v\nwant    %+v", got[0], want)
	}
	spaced := strings.NewReplacer(",", ", ", "[[", "[\n [", "],[", "], \n [").Replace(string(data))
	if got, err := decodeSegment([]byte(spaced)); err != nil || len(got) != 2 || got[1] != want {
		t.Errorf("with white space: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "[", "[[\"a\"]]", "[[\"a\",1.5", "{}", "[[1]]"} {
		if _, err := decodeSegment([]byte(bad)); err == nil {
			t.Errorf("decodeSegment(%q) succeeded", bad)
		}
	}
}
