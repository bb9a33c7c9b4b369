package cost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store"
)

// SubjectKind says whose budget it is.
type SubjectKind string

// The budget holders.
const (
	SubjectUser SubjectKind = "user"
	SubjectKey  SubjectKind = "key"
	SubjectTeam SubjectKind = "team"
)

// Period is a budget window. Days and months are UTC.
type Period string

// The budget windows.
const (
	PeriodDay   Period = "day"
	PeriodMonth Period = "month"
)

// Subject is a budget holder with its limits in USD; a zero limit means
// none for that period.
type Subject struct {
	Kind       SubjectKind
	ID         string
	DailyUSD   float64
	MonthlyUSD float64
}

// ExceededError says which budget a call would break and when it resets.
// Reserve returns it wrapped in an llm.Error of KindRateLimited (HTTP
// 429) whose RetryAfter is the time to the reset.
type ExceededError struct {
	Kind         SubjectKind
	ID           string
	Period       Period
	LimitUSD     float64
	SpentUSD     float64
	ReservedUSD  float64 // held by calls in flight
	RequestedUSD float64 // this call's worst case
	ResetsAt     time.Time
}

func (e *ExceededError) Error() string {
	name := "daily"
	if e.Period == PeriodMonth {
		name = "monthly"
	}
	return fmt.Sprintf("%s %s budget exceeded: limit $%s, spent $%s, in flight $%s, this call up to $%s; resets at %s",
		e.Kind, name, usd(e.LimitUSD), usd(e.SpentUSD), usd(e.ReservedUSD), usd(e.RequestedUSD), e.ResetsAt.UTC().Format(time.RFC3339))
}

// usd shows an amount with every digit it has, to the nano-dollar the
// counters keep: $0.00001, never $0.0000.
func usd(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e9)/1e9, 'f', -1, 64)
}

// BudgetConfig configures Budgets.
type BudgetConfig struct {
	// DB keeps the counters: PostgreSQL shares them between instances
	// (one conditional UPDATE per subject and period, exact under
	// concurrency); SQLite keeps them across restarts of one instance.
	// Nil keeps them in memory.
	DB *store.DB
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Alerts, when set, is told after each commit which budgets spent
	// (never waiting: see Alerts).
	Alerts *Alerts
}

// Budgets enforces per-user and per-key spending limits: Reserve the
// worst case before a call, Commit the actual cost (or Release) after.
//
// Known limit: a process that dies between Reserve and Commit leaves its
// reservation held until the period ends.
type Budgets struct {
	counters counterStore
	now      func() time.Time
	alerts   *Alerts
}

// counterStore holds spent and reserved nano-USD per subject and period.
type counterStore interface {
	// reserve adds amount to reserved if spent+reserved+amount <= limit.
	reserve(ctx context.Context, subject, period string, amount, limit int64) (ok bool, err error)
	// settle moves a reservation: reserved -= held, spent += actual.
	settle(ctx context.Context, subject, period string, held, actual int64) error
	read(ctx context.Context, subject, period string) (spent, reserved int64, err error)
}

// NewBudgets applies the counter migrations (with a DB) and returns Budgets.
func NewBudgets(ctx context.Context, cfg BudgetConfig) (*Budgets, error) {
	b := &Budgets{now: cfg.Now, alerts: cfg.Alerts}
	if b.now == nil {
		b.now = time.Now
	}
	if cfg.Alerts != nil {
		defer cfg.Alerts.budgets.Store(b)
	}
	if cfg.DB == nil {
		b.counters = &memCounters{m: map[[2]string]*[2]int64{}}
		return b, nil
	}
	if err := cfg.DB.Migrate(ctx, "budgets", budgetMigrations); err != nil {
		return nil, fmt.Errorf("cost: budgets: %w", err)
	}
	b.counters = &sqlCounters{db: cfg.DB}
	return b, nil
}

// Reservation is the worst case held for one call. Commit or Release it
// exactly once; later calls do nothing. A nil *Reservation is valid and
// holds nothing.
type Reservation struct {
	b      *Budgets
	amount int64
	holds  []hold
	once   sync.Once
}

type hold struct {
	subject, period string
	check           alertCheck // what an alert needs to know
}

// Reserve holds worstCaseUSD against every limit of every subject, or
// holds nothing and returns an error wrapping *ExceededError when one
// limit would be passed.
func (b *Budgets) Reserve(ctx context.Context, worstCaseUSD float64, subjects ...Subject) (*Reservation, error) {
	r := &Reservation{b: b, amount: toNano(worstCaseUSD)}
	now := b.now().UTC()
	for _, s := range subjects {
		for _, w := range s.windows(now) {
			ok, err := b.counters.reserve(ctx, w.subject, w.period, r.amount, toNano(w.limit))
			if err == nil && ok {
				r.holds = append(r.holds, hold{w.subject, w.period, alertCheck{kind: s.Kind, id: s.ID, subject: w.subject,
					period: w.period, periodKind: w.kind, limit: w.limit, resetsAt: w.resets, periodFrom: periodStart(w.kind, now)}})
				continue
			}
			r.Release(ctx)
			if err != nil {
				return nil, fmt.Errorf("cost: reserve budget: %w", err)
			}
			return nil, b.exceeded(ctx, s, w, now, worstCaseUSD)
		}
	}
	return r, nil
}

type window struct {
	subject, period string
	kind            Period
	limit           float64
	resets          time.Time
}

func (s Subject) windows(now time.Time) []window {
	subj := string(s.Kind) + ":" + s.ID
	var out []window
	if s.DailyUSD > 0 {
		out = append(out, window{subj, "d:" + now.Format(time.DateOnly), PeriodDay, s.DailyUSD, nextDay(now)})
	}
	if s.MonthlyUSD > 0 {
		out = append(out, window{subj, "m:" + now.Format("2006-01"), PeriodMonth, s.MonthlyUSD, nextMonth(now)})
	}
	return out
}

func periodStart(p Period, t time.Time) time.Time {
	y, m, d := t.Date()
	if p == PeriodMonth {
		d = 1
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func nextDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

func nextMonth(t time.Time) time.Time {
	y, m, _ := t.Date()
	return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}

func (b *Budgets) exceeded(ctx context.Context, s Subject, w window, now time.Time, want float64) error {
	spent, reserved, _ := b.counters.read(ctx, w.subject, w.period)
	e := &ExceededError{Kind: s.Kind, ID: s.ID, Period: w.kind, LimitUSD: w.limit,
		SpentUSD: fromNano(spent), ReservedUSD: fromNano(reserved), RequestedUSD: want, ResetsAt: w.resets}
	return &llm.Error{Kind: llm.KindRateLimited, RetryAfter: w.resets.Sub(now), Message: e.Error(), Err: e}
}

// Commit records the call's actual cost in place of its reservation. It
// runs even if ctx is already canceled (the client left after the call
// was paid for).
func (r *Reservation) Commit(ctx context.Context, actualUSD float64) error {
	return r.settle(ctx, toNano(max(actualUSD, 0)))
}

// Release drops the reservation without spending (the call failed before
// costing anything).
func (r *Reservation) Release(ctx context.Context) error {
	return r.settle(ctx, 0)
}

func (r *Reservation) settle(ctx context.Context, actual int64) error {
	if r == nil {
		return nil
	}
	var errs []error
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, h := range r.holds {
			if err := r.b.counters.settle(ctx, h.subject, h.period, r.amount, actual); err != nil {
				errs = append(errs, err)
			} else if actual > 0 {
				r.b.alerts.notify(h.check)
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cost: settle budget: %w", err)
	}
	return nil
}

// BudgetStatus is where one budget stands.
type BudgetStatus struct {
	Kind         SubjectKind `json:"subject"`
	ID           string      `json:"id"`
	Period       Period      `json:"period"`
	LimitUSD     float64     `json:"limit_usd"`
	SpentUSD     float64     `json:"spent_usd"`
	ReservedUSD  float64     `json:"reserved_usd"`
	RemainingUSD float64     `json:"remaining_usd"`
	ResetsAt     time.Time   `json:"resets_at"`
}

// Status reports every limited budget of the subjects.
func (b *Budgets) Status(ctx context.Context, subjects ...Subject) ([]BudgetStatus, error) {
	now := b.now().UTC()
	var out []BudgetStatus
	for _, s := range subjects {
		for _, w := range s.windows(now) {
			spent, reserved, err := b.counters.read(ctx, w.subject, w.period)
			if err != nil {
				return nil, fmt.Errorf("cost: budget status: %w", err)
			}
			st := BudgetStatus{Kind: s.Kind, ID: s.ID, Period: w.kind, LimitUSD: w.limit, SpentUSD: fromNano(spent),
				ReservedUSD: fromNano(reserved), ResetsAt: w.resets}
			st.RemainingUSD = max(w.limit-st.SpentUSD-st.ReservedUSD, 0)
			out = append(out, st)
		}
	}
	return out, nil
}

func toNano(usd float64) int64 { return int64(math.Round(usd * 1e9)) }

func fromNano(n int64) float64 { return float64(n) / 1e9 }

// sqlCounters keeps the counters in budget_counters. The reservation is a
// single conditional UPDATE, atomic in both engines; on SQLite a mutex
// also serialises it so writers queue in Go instead of on the file lock.
type sqlCounters struct {
	db *store.DB
	mu sync.Mutex
}

func (c *sqlCounters) lock() func() {
	if c.db.Dialect == store.Postgres {
		return func() {}
	}
	c.mu.Lock()
	return c.mu.Unlock
}

func (c *sqlCounters) reserve(ctx context.Context, subject, period string, amount, limit int64) (bool, error) {
	defer c.lock()()
	if _, err := c.db.ExecContext(ctx, c.db.Rebind(`INSERT INTO budget_counters (subject, period, spent_nusd, reserved_nusd)
		VALUES (?, ?, 0, 0) ON CONFLICT (subject, period) DO NOTHING`), subject, period); err != nil {
		return false, err
	}
	var reserved int64
	err := c.db.QueryRowContext(ctx, c.db.Rebind(`UPDATE budget_counters SET reserved_nusd = reserved_nusd + ?
		WHERE subject = ? AND period = ? AND spent_nusd + reserved_nusd + ? <= ? RETURNING reserved_nusd`),
		amount, subject, period, amount, limit).Scan(&reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (c *sqlCounters) settle(ctx context.Context, subject, period string, held, actual int64) error {
	defer c.lock()()
	_, err := c.db.ExecContext(ctx, c.db.Rebind(`UPDATE budget_counters
		SET reserved_nusd = reserved_nusd - ?, spent_nusd = spent_nusd + ? WHERE subject = ? AND period = ?`),
		held, actual, subject, period)
	return err
}

func (c *sqlCounters) read(ctx context.Context, subject, period string) (spent, reserved int64, err error) {
	err = c.db.QueryRowContext(ctx, c.db.Rebind(`SELECT spent_nusd, reserved_nusd FROM budget_counters
		WHERE subject = ? AND period = ?`), subject, period).Scan(&spent, &reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return spent, reserved, err
}

// memCounters is the single-process form, for tests and DB-less setups.
type memCounters struct {
	mu sync.Mutex
	m  map[[2]string]*[2]int64 // spent, reserved
}

func (c *memCounters) get(subject, period string) *[2]int64 {
	k := [2]string{subject, period}
	v := c.m[k]
	if v == nil {
		v = new([2]int64)
		c.m[k] = v
	}
	return v
}

func (c *memCounters) reserve(_ context.Context, subject, period string, amount, limit int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.get(subject, period)
	if v[0]+v[1]+amount > limit {
		return false, nil
	}
	v[1] += amount
	return true, nil
}

func (c *memCounters) settle(_ context.Context, subject, period string, held, actual int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.get(subject, period)
	v[1] -= held
	v[0] += actual
	return nil
}

func (c *memCounters) read(_ context.Context, subject, period string) (int64, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.get(subject, period)
	return v[0], v[1], nil
}
