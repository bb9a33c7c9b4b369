package cost

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
)

type budgetBackend struct {
	name string
	// instances returns n Budgets sharing one set of counters, as n
	// gateway instances would.
	instances func(t *testing.T, n int, now func() time.Time) []*Budgets
}

func budgetBackends(t *testing.T) []budgetBackend {
	t.Helper()
	out := []budgetBackend{{name: "memory", instances: func(t *testing.T, n int, now func() time.Time) []*Budgets {
		b, err := NewBudgets(context.Background(), BudgetConfig{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return []*Budgets{b} // one process only
	}}}
	for _, sb := range storetest.Backends(t) {
		out = append(out, budgetBackend{name: sb.Name, instances: func(t *testing.T, n int, now func() time.Time) []*Budgets {
			if sb.Config.DatabaseURL == "" {
				n = 1 // SQLite is one instance's file
			}
			var bs []*Budgets
			for range n {
				b, err := NewBudgets(context.Background(), BudgetConfig{DB: sb.Open(t), Now: now})
				if err != nil {
					t.Fatal(err)
				}
				bs = append(bs, b)
			}
			return bs
		}})
	}
	return out
}

// TestBudgetRace: 50 concurrent requests, each reserving $0.10 against a
// $1.00 daily budget, across two instances where the backend is shared:
// exactly 10 pass.
func TestBudgetRace(t *testing.T) {
	for _, be := range budgetBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			bs := be.instances(t, 2, nil)
			subj := Subject{Kind: SubjectUser, ID: "racer", DailyUSD: 1.00}
			var passed, refused atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 50 {
				wg.Go(func() {
					<-start
					_, err := bs[i%len(bs)].Reserve(context.Background(), 0.10, subj)
					var ex *ExceededError
					switch {
					case err == nil:
						passed.Add(1)
					case errors.As(err, &ex):
						refused.Add(1)
					default:
						t.Errorf("Reserve: %v", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if passed.Load() != 10 || refused.Load() != 40 {
				t.Errorf("passed %d, refused %d; want 10 and 40", passed.Load(), refused.Load())
			}
		})
	}
}

func TestBudgetLifecycle(t *testing.T) {
	for _, be := range budgetBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			now := time.Date(2025, 6, 30, 23, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			b := be.instances(t, 1, clock)[0]
			ctx := context.Background()
			user := Subject{Kind: SubjectUser, ID: "alice", DailyUSD: 1, MonthlyUSD: 1.5}
			key := Subject{Kind: SubjectKey, ID: "key1", DailyUSD: 0.5}

			r, err := b.Reserve(ctx, 0.4, user, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Commit(ctx, 0.1); err != nil { // the call cost less than its worst case
				t.Fatal(err)
			}
			r.Commit(ctx, 5) // a second settle does nothing
			st, err := b.Status(ctx, user, key)
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 3 || !approx(st[0].SpentUSD, 0.1) || !approx(st[0].RemainingUSD, 0.9) || st[0].ReservedUSD != 0 {
				t.Fatalf("status after commit = %+v", st)
			}

			// The key's $0.50 a day stops this one; the user's hold is given back.
			_, err = b.Reserve(ctx, 0.45, user, key)
			var ex *ExceededError
			if !errors.As(err, &ex) {
				t.Fatalf("Reserve over the key budget = %v", err)
			}
			want := ExceededError{Kind: SubjectKey, ID: "key1", Period: PeriodDay, LimitUSD: 0.5, SpentUSD: 0.1,
				RequestedUSD: 0.45, ResetsAt: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)}
			if !approx(ex.SpentUSD, want.SpentUSD) || ex.Kind != want.Kind || ex.Period != want.Period ||
				ex.LimitUSD != want.LimitUSD || !ex.ResetsAt.Equal(want.ResetsAt) || ex.ID != want.ID {
				t.Errorf("ExceededError = %+v, want %+v", *ex, want)
			}
			if llm.KindOf(err) != llm.KindRateLimited || llm.RetryAfter(err) != time.Hour {
				t.Errorf("kind %v retry-after %v; want rate_limited, 1h", llm.KindOf(err), llm.RetryAfter(err))
			}
			if st, _ := b.Status(ctx, user); st[0].ReservedUSD != 0 {
				t.Errorf("user reservation leaked after a refused key: %+v", st[0])
			}

			r, err = b.Reserve(ctx, 0.3, user)
			if err != nil {
				t.Fatal(err)
			}
			r.Release(ctx)
			if st, _ := b.Status(ctx, user); st[0].ReservedUSD != 0 || !approx(st[0].SpentUSD, 0.1) {
				t.Errorf("after release: %+v", st[0])
			}

			// Next day (and next month): daily and monthly budgets both reset.
			now = now.Add(2 * time.Hour)
			r, err = b.Reserve(ctx, 0.9, user)
			if err != nil {
				t.Fatalf("new day, new month: %v", err)
			}
			r.Commit(ctx, 0.9)
			// Same month, next day: the monthly limit ($1.50) now binds.
			now = now.Add(24 * time.Hour)
			_, err = b.Reserve(ctx, 0.7, user)
			if !errors.As(err, &ex) || ex.Period != PeriodMonth || !ex.ResetsAt.Equal(time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("monthly limit: %v", err)
			}
		})
	}
}

func TestBudgetNoLimits(t *testing.T) {
	b, _ := NewBudgets(context.Background(), BudgetConfig{})
	r, err := b.Reserve(context.Background(), 1e6, Subject{Kind: SubjectUser, ID: "free"})
	if err != nil || len(r.holds) != 0 {
		t.Fatalf("unlimited subject: %v, %+v", err, r)
	}
	var nilRes *Reservation
	if err := nilRes.Commit(context.Background(), 1); err != nil {
		t.Error(err)
	}
}

// The refusal shows amounts with the digits they have: a $0.00001 limit
// is not "$0.0000" (issue 18 item 6).
func TestExceededErrorDigits(t *testing.T) {
	e := &ExceededError{Kind: SubjectUser, ID: "alice", Period: PeriodDay, LimitUSD: 0.00001,
		SpentUSD: 0.0000095, ReservedUSD: 0, RequestedUSD: 0.000001234, ResetsAt: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
	msg := e.Error()
	for _, want := range []string{"limit $0.00001,", "spent $0.0000095,", "in flight $0,", "this call up to $0.000001234;"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
