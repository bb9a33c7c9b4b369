package cost

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
)

// Budget alerts: when a user's, key's or team's spend in a period reaches
// a threshold (a percentage of its limit), one alert is written to the
// budget_alerts table (the outbox) and logged, and a goroutine POSTs it
// to the webhook, signed, retrying with backoff until it is acknowledged.
//
// Nothing of this runs on the request path: Budgets hands the subject to
// a bounded channel without blocking. The outbox row's key (subject,
// period, threshold) makes each threshold fire once per budget period,
// across instances sharing PostgreSQL and across restarts; a row marked
// sent is never sent again. A crash between the receiver's 2xx and the
// sent-marker resends that one alert: receivers dedupe by its id.

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" keyed with the secret>".
const SignatureHeader = "X-LLMC-Signature"

// AlertConfig configures Alerts. Zero values take the defaults.
type AlertConfig struct {
	DB *store.DB // the outbox; required
	// URL receives the alerts (POST, JSON). Required.
	URL string
	// Secret signs each POST (SignatureHeader). It is never logged.
	Secret string
	// Thresholds are percentages of a limit, e.g. 50, 80, 100.
	// Default: 50, 80, 100.
	Thresholds []float64
	// QueueSize bounds the checks waiting for the goroutine; beyond it a
	// check is dropped (and counted): the next commit of the same subject
	// checks again. Default: 1024.
	QueueSize int
	// PollInterval is how often pending alerts are retried. Default: 1s.
	PollInterval time.Duration
	// RetryDelay is the first retry's delay, doubled per attempt up to
	// MaxRetryDelay. Defaults: 1s and 5m.
	RetryDelay, MaxRetryDelay time.Duration
	// MaxAttempts gives up on an alert (logged) after this many
	// failures. Default: 20.
	MaxAttempts int
	// Timeout bounds one POST. Default: 10s.
	Timeout    time.Duration
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

func (c *AlertConfig) defaults() {
	if len(c.Thresholds) == 0 {
		c.Thresholds = []float64{50, 80, 100}
	}
	c.QueueSize = cmp.Or(c.QueueSize, 1024)
	c.PollInterval = cmp.Or(c.PollInterval, time.Second)
	c.RetryDelay = cmp.Or(c.RetryDelay, time.Second)
	c.MaxRetryDelay = cmp.Or(c.MaxRetryDelay, 5*time.Minute)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 20)
	c.Timeout = cmp.Or(c.Timeout, 10*time.Second)
	c.HTTPClient = cmp.Or(c.HTTPClient, http.DefaultClient)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
}

// ParseThresholds reads "50,80,100": percentages in (0, 1000].
func ParseThresholds(s string) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		v, err := strconv.ParseFloat(part, 64)
		if err != nil || v <= 0 || v > 1000 {
			return nil, fmt.Errorf("budget alert threshold %q: want a percentage in (0, 1000]", part)
		}
		out = append(out, v)
	}
	if len(out) > 20 {
		return nil, errors.New("budget alert thresholds: at most 20")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Alerts watches budgets and delivers threshold alerts. Start it with
// NewAlerts, hand it to BudgetConfig.Alerts, stop it with Close.
type Alerts struct {
	cfg    AlertConfig
	db     *store.DB
	checks chan alertCheck
	stop   chan struct{}
	done   chan struct{}
	// budgets reads the counters; set by NewBudgets.
	budgets atomic.Pointer[Budgets]

	Dropped   atomic.Int64 // checks refused because the queue was full
	Delivered atomic.Int64 // alerts the receiver acknowledged
	Failures  atomic.Int64 // failed POSTs (each retried)
	passes    atomic.Int64 // delivery passes (tests)

	// fired remembers the outbox keys known to exist, so that commits
	// past a threshold do not write again (the goroutine's own; bounded).
	fired map[string]bool
}

// maxFired bounds Alerts.fired; beyond it the map starts over (the
// outbox's key still keeps each alert single).
const maxFired = 100_000

// alertCheck asks whether a subject's period passed a threshold.
type alertCheck struct {
	kind                 SubjectKind
	id, subject, period  string
	periodKind           Period
	limit                float64
	resetsAt, periodFrom time.Time
}

// Alert is the JSON body POSTed to the webhook.
type Alert struct {
	ID               string      `json:"id"` // stable: the same alert always has the same id
	Type             string      `json:"type"`
	Subject          SubjectKind `json:"subject"` // user, key or team
	SubjectID        string      `json:"subject_id"`
	Period           Period      `json:"period"` // day or month
	PeriodStart      string      `json:"period_start"`
	ThresholdPercent float64     `json:"threshold_percent"`
	LimitUSD         float64     `json:"limit_usd"`
	SpentUSD         float64     `json:"spent_usd"`
	ResetsAt         time.Time   `json:"resets_at"`
	CreatedAt        time.Time   `json:"created_at"`
}

var alertMigrations = []store.Migration{{
	Version: 1,
	SQL: `CREATE TABLE budget_alerts (
	subject TEXT NOT NULL,
	period TEXT NOT NULL,
	threshold DOUBLE PRECISION NOT NULL,
	payload TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	attempts INTEGER NOT NULL,
	next_at BIGINT NOT NULL,
	sent_at BIGINT NOT NULL,
	last_error TEXT NOT NULL,
	PRIMARY KEY (subject, period, threshold)
);
CREATE INDEX budget_alerts_pending ON budget_alerts (sent_at, next_at)`,
}}

// NewAlerts applies the outbox migration and starts the goroutine.
func NewAlerts(ctx context.Context, cfg AlertConfig) (*Alerts, error) {
	if cfg.DB == nil || cfg.URL == "" {
		return nil, errors.New("cost: budget alerts need a database and a webhook URL")
	}
	cfg.defaults()
	if err := cfg.DB.Migrate(ctx, "budget_alerts", alertMigrations); err != nil {
		return nil, fmt.Errorf("cost: budget alerts: %w", err)
	}
	a := &Alerts{cfg: cfg, db: cfg.DB, checks: make(chan alertCheck, cfg.QueueSize),
		stop: make(chan struct{}), done: make(chan struct{}), fired: map[string]bool{}}
	go a.run()
	return a, nil
}

// notify queues a check without blocking; a full queue drops it.
func (a *Alerts) notify(c alertCheck) {
	if a == nil {
		return
	}
	select {
	case a.checks <- c:
	default:
		a.Dropped.Add(1)
	}
}

// Close stops the goroutine; pending alerts stay in the outbox for the
// next start.
func (a *Alerts) Close() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
}

func (a *Alerts) run() {
	defer close(a.done)
	tick := time.NewTicker(a.cfg.PollInterval)
	defer tick.Stop()
	a.deliver() // what a previous run left pending
	for {
		select {
		case <-a.stop:
			a.drainChecks() // what was queued is in the outbox before Close returns
			return
		case c := <-a.checks:
			a.check(c)
			a.drainChecks()
		case <-tick.C:
		}
		a.deliver()
		a.passes.Add(1)
	}
}

// drainChecks handles the checks already queued before delivering.
func (a *Alerts) drainChecks() {
	for range cap(a.checks) {
		select {
		case c := <-a.checks:
			a.check(c)
		default:
			return
		}
	}
}

func (a *Alerts) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), a.cfg.Timeout+5*time.Second)
}
