package cost

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
)

const alertSecret = "test-alert-secret"

// receiver is a webhook that records what it got; failFirst answers 500
// to that many POSTs first; delay holds each answer.
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	posts     int
	ok        map[string]Alert // by alert id, acknowledged
	acks      map[string]int   // acknowledgements per id
	badSig    int
	failFirst int
	delay     time.Duration
}

func newReceiver(t *testing.T, failFirst int, delay time.Duration) *receiver {
	r := &receiver{ok: map[string]Alert{}, acks: map[string]int{}, failFirst: failFirst, delay: delay}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.delay > 0 {
			select {
			case <-time.After(r.delay):
			case <-req.Context().Done():
			}
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts++
		if !VerifySignature(alertSecret, req.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute) {
			r.badSig++
		}
		if r.posts <= r.failFirst {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var a Alert
		json.Unmarshal(body, &a)
		r.ok[a.ID] = a
		r.acks[a.ID]++
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) snapshot() (posts int, acks map[string]int, badSig int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	acks = map[string]int{}
	for k, v := range r.acks {
		acks[k] = v
	}
	return r.posts, acks, r.badSig
}

func startAlerts(t *testing.T, db *store.DB, url string) (*Alerts, *Budgets) {
	t.Helper()
	a, err := NewAlerts(context.Background(), AlertConfig{DB: db, URL: url, Secret: alertSecret,
		PollInterval: 5 * time.Millisecond, RetryDelay: 5 * time.Millisecond, Timeout: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBudgets(context.Background(), BudgetConfig{DB: db, Alerts: a,
		Now: func() time.Time { return day1 }})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// spend reserves a little and commits usd against s.
func spend(t *testing.T, b *Budgets, usd float64, s Subject) {
	t.Helper()
	r, err := b.Reserve(context.Background(), 0.001, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(context.Background(), usd); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond; it bounds the wait, it does not time anything.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// TestBudgetAlerts: 50/80/100 % of a key's daily budget fire once each,
// signed; the first POST meets a 500 and is retried; spending more sends
// nothing new; a restart resends nothing, and delivers what an earlier
// run could not.
func TestBudgetAlerts(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			db := be.Open(t)
			rcv := newReceiver(t, 1, 0)
			a, b := startAlerts(t, db, rcv.srv.URL)
			key := Subject{Kind: SubjectKey, ID: "key_1", DailyUSD: 1}
			for _, usd := range []float64{0.3, 0.3, 0.3} { // 30, 60, 90 %
				spend(t, b, usd, key)
			}
			// Two calls in flight at 90 %: both are paid, past the limit.
			r4, err4 := b.Reserve(context.Background(), 0.001, key)
			r5, err5 := b.Reserve(context.Background(), 0.001, key)
			if err4 != nil || err5 != nil {
				t.Fatal(err4, err5)
			}
			r4.Commit(context.Background(), 0.2) // 110 %
			waitFor(t, "three acknowledged alerts", func() bool { _, acks, _ := rcv.snapshot(); return len(acks) == 3 })
			r5.Commit(context.Background(), 0.1) // 120 %: nothing new
			passes := a.passes.Load()
			waitFor(t, "two more delivery passes", func() bool { return a.passes.Load() >= passes+2 })
			a.Close()
			posts, acks, badSig := rcv.snapshot()
			if posts != 4 || badSig != 0 || a.Failures.Load() != 1 {
				t.Errorf("posts %d (want 3 + 1 retried after the 500), bad signatures %d, failures %d", posts, badSig, a.Failures.Load())
			}
			for _, pct := range []string{"50", "80", "100"} {
				id := "budget:key:key_1:d:2025-06-01:" + pct
				if acks[id] != 1 {
					t.Errorf("alert %s acknowledged %d times, want 1 (all: %v)", id, acks[id], acks)
				}
			}
			rcv.mu.Lock()
			got := rcv.ok["budget:key:key_1:d:2025-06-01:80"]
			rcv.mu.Unlock()
			if got.Subject != SubjectKey || got.SubjectID != "key_1" || got.Period != PeriodDay || got.LimitUSD != 1 ||
				got.ThresholdPercent != 80 || got.SpentUSD < 0.8 || got.PeriodStart != "2025-06-01" {
				t.Errorf("payload %+v", got)
			}

			// A team alert queued while the receiver is down waits in the
			// outbox; the next start delivers it and nothing else.
			down := newReceiver(t, 1000, 0)
			a2, b2 := startAlerts(t, db, down.srv.URL)
			spend(t, b2, 0.6, Subject{Kind: SubjectTeam, ID: "red", MonthlyUSD: 1})
			waitFor(t, "a failed attempt", func() bool { return a2.Failures.Load() >= 1 })
			a2.Close()
			a3, _ := startAlerts(t, db, rcv.srv.URL)
			waitFor(t, "the pending team alert", func() bool {
				_, acks, _ := rcv.snapshot()
				return acks["budget:team:red:m:2025-06:50"] == 1
			})
			passes = a3.passes.Load()
			waitFor(t, "two more delivery passes", func() bool { return a3.passes.Load() >= passes+2 })
			a3.Close()
			if posts, acks, _ := rcv.snapshot(); posts != 5 || len(acks) != 4 {
				t.Errorf("after restart: %d posts, acks %v; want 5 posts, 4 alerts, none repeated", posts, acks)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestAlertsNeverDelayRequests: the request-path work (Reserve, Commit)
// takes as long with a receiver that holds every POST for a second as
// with one that answers at once: measured in one run, rounds
// interleaved, compared as a ratio.
func TestAlertsNeverDelayRequests(t *testing.T) {
	fast, slow := newReceiver(t, 0, 0), newReceiver(t, 0, time.Second)
	_, bFast := startAlerts(t, storetest.SQLite(t).Open(t), fast.srv.URL)
	aSlow, bSlow := startAlerts(t, storetest.SQLite(t).Open(t), slow.srv.URL)
	defer aSlow.Close()
	var tFast, tSlow time.Duration
	const rounds, perRound = 10, 20
	for round := range rounds {
		for i, b := range []*Budgets{bFast, bSlow} {
			start := time.Now()
			for j := range perRound {
				// Each subject crosses all three thresholds at once.
				spend(t, b, 2, Subject{Kind: SubjectUser, ID: string(rune('a'+round)) + string(rune('a'+j)), DailyUSD: 1})
			}
			if i == 0 {
				tFast += time.Since(start)
			} else {
				tSlow += time.Since(start)
			}
		}
	}
	posts, _, _ := slow.snapshot()
	ratio := float64(tSlow) / float64(tFast)
	t.Logf("request path: fast receiver %v, slow receiver %v (ratio %.2f); slow receiver got %d of %d alerts meanwhile",
		tFast, tSlow, ratio, posts, 3*rounds*perRound)
	if posts >= 3*rounds*perRound {
		t.Fatalf("the slow receiver kept up (%d posts): the comparison proves nothing", posts)
	}
	// On the request path every spend would wait a second for the slow
	// receiver: a ratio above 50. 3 leaves room for a loaded machine
	// (both databases are SQLite files sharing two cores).
	if ratio > 3 {
		t.Errorf("requests took %.2fx as long with a slow receiver; alerts must not wait on it", ratio)
	}
}

// TestAlertErrorsHideTheURL: a webhook URL may carry a token; a failed
// POST's recorded error does not repeat it.
func TestAlertErrorsHideTheURL(t *testing.T) {
	db := storetest.SQLite(t).Open(t)
	a, b := startAlerts(t, db, "http://127.0.0.1:1/hook?token=tok-SECRET-123")
	spend(t, b, 1, Subject{Kind: SubjectUser, ID: "u", DailyUSD: 1})
	waitFor(t, "a failed attempt", func() bool { return a.Failures.Load() >= 1 })
	a.Close()
	var lastErr string
	if err := db.QueryRowContext(context.Background(), `SELECT last_error FROM budget_alerts LIMIT 1`).Scan(&lastErr); err != nil {
		t.Fatal(err)
	}
	if lastErr == "" || strings.Contains(lastErr, "SECRET") {
		t.Errorf("last_error %q", lastErr)
	}
}
