package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/admin"
	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/cost"
	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
	"github.com/llm-connector/llm-connector/internal/store"
)

// accounting is the ledger, budgets, API keys and admin API, on SQLite in
// DATA_DIR or on PostgreSQL when DATABASE_URL is set.
type accounting struct {
	db      *store.DB
	prices  *cost.Table
	ledger  *cost.Ledger
	budgets *cost.Budgets
	alerts  *cost.Alerts // nil without BUDGET_ALERT_WEBHOOK_URL
	keys    *auth.Store  // nil unless keys are in use
	deps    admin.Deps
}

// openAccounting opens them. The service's ledger (serving true) keeps a
// journal in DATA_DIR/ledger-journal; the keys subcommand's, which runs
// beside a service and records nothing, does not.
func openAccounting(ctx context.Context, cfg *config.Config, log *slog.Logger, serving bool) (*accounting, error) {
	db, err := openStore(ctx, cfg, log, sleepCtx)
	if err != nil {
		return nil, fmt.Errorf("ledger database: %w", err)
	}
	a := &accounting{db: db}
	if a.prices, err = pricesOf(cfg); err != nil {
		db.Close()
		return nil, err
	}
	lc := cost.LedgerConfig{DB: db, Prices: a.prices, Logger: log,
		Retention: time.Duration(cfg.Budget.RetentionDays) * 24 * time.Hour, FlushInterval: cfg.Budget.FlushInterval}
	if serving {
		lc.JournalDir = filepath.Join(cfg.DataDir, "ledger-journal")
	}
	a.ledger, err = cost.NewLedger(ctx, lc)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if a.alerts, err = openAlerts(ctx, cfg, db, log); err != nil {
		return nil, err
	}
	if a.budgets, err = cost.NewBudgets(ctx, cost.BudgetConfig{DB: db, Alerts: a.alerts}); err != nil {
		return nil, fmt.Errorf("budgets: %w", err)
	}
	// The key store is always there: even in open mode a presented key
	// is checked (keys may come from the "keys" subcommand).
	if a.keys, err = auth.NewStore(ctx, auth.StoreConfig{DB: db}); err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	a.deps = admin.Deps{Keys: a.keys, Ledger: a.ledger, Budgets: a.budgets, AdminKey: cfg.Auth.AdminKey,
		UserBudget: userBudget(cfg), Logger: log}
	log.Info("ledger ready", "database", db.Where, "prices", a.prices.Version())
	return a, nil
}

func (a *accounting) close(ctx context.Context) error {
	if a.alerts != nil {
		a.alerts.Close() // pending alerts stay in the outbox for the next start
	}
	err := a.ledger.Close(ctx)
	if cerr := a.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func pricesOf(cfg *config.Config) (*cost.Table, error) {
	t := cost.Default()
	if cfg.File == nil || len(cfg.File.Prices) == 0 {
		return t, nil
	}
	var entries []cost.PriceEntry
	for name, p := range cfg.File.Prices {
		prov, model, _ := strings.Cut(name, "/") // validated as provider/model when the file was loaded
		e := cost.PriceEntry{Provider: prov, Model: model, Input: p.Input, Output: p.Output}
		if p.CachedInput > 0 {
			ci := p.CachedInput
			e.CachedInput = &ci
		}
		if p.CacheWrite > 0 {
			e.CacheWrite = &p.CacheWrite
		}
		if p.CacheWrite1h > 0 {
			e.CacheWrite1h = &p.CacheWrite1h
		}
		entries = append(entries, e)
	}
	t, err := t.With(entries)
	if err != nil {
		return nil, fmt.Errorf("LLM_CONFIG prices: %w", err)
	}
	return t, nil
}

func userBudget(cfg *config.Config) func(string) (float64, float64) {
	return func(user string) (float64, float64) {
		if cfg.File != nil {
			if b, ok := cfg.File.Budgets[user]; ok {
				return b.Daily, b.Monthly
			}
		}
		return cfg.Budget.UserDailyUSD, cfg.Budget.UserMonthlyUSD
	}
}

// wire connects accounting to the gateway and the server.
func (a *accounting) wire(cfg *config.Config, gw *gateway.Gateway, log *slog.Logger) (wrapChat, wrapV1 func(http.Handler) http.Handler) {
	gw.Pricer = a.prices
	gw.Budget = budgetAdapter{b: a.budgets, userBudget: a.deps.UserBudget}
	gw.ThinkingTokens = thinkingTokens(cfg)
	// The route is refused when the key allows none of its targets; the
	// router skips each target the key does not allow (allowTargets).
	gw.Authorize = func(ctx context.Context, r gateway.Route) error {
		id := auth.FromContext(ctx)
		if id.AllowsModel(r.Name) {
			return nil
		}
		for _, t := range r.Targets {
			if id.AllowsModel(t) {
				return nil
			}
		}
		return id.CheckModel(r.Provider + "/" + r.Model)
	}
	open := !cfg.Auth.Required // a presented key is checked all the same
	wrapChat = auth.Middleware(auth.Config{Keys: a.keys, Optional: open, UserHeader: cfg.Auth.UserHeader, WriteError: auth.WriteDetailError, Logger: log})
	wrapV1 = auth.Middleware(auth.Config{Keys: a.keys, Optional: open, UserHeader: cfg.Auth.UserHeader, WriteError: auth.WriteOpenAIError, Logger: log})
	wrapChat, wrapV1 = chain(wrapChat, allowTargets), chain(wrapV1, allowTargets)
	a.deps.Auth = wrapV1
	return wrapChat, wrapV1
}

// allowTargets hands the caller's model allow-list to the router, which
// holds it for every target it tries: an alias's or the default route's
// fallbacks included. A route the list names (an alias) allows its
// targets.
func allowTargets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := auth.FromContext(r.Context())
		if len(id.Models) > 0 {
			ctx := llm.WithTargetFilter(r.Context(), func(route, target string) bool {
				return id.AllowsModel(route) || id.AllowsModel(target)
			})
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// chain returns a middleware that runs outer, then inner.
func chain(outer, inner func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler { return outer(inner(h)) }
}

// budgetAdapter reserves the worst case against the caller's user and
// key budgets.
type budgetAdapter struct {
	b          *cost.Budgets
	userBudget func(string) (float64, float64)
}

func (a budgetAdapter) Reserve(ctx context.Context, _ gateway.Identity, worstUSD float64) (func(float64), error) {
	subjects := admin.Subjects(auth.FromContext(ctx), a.userBudget)
	if len(subjects) == 0 {
		return func(float64) {}, nil
	}
	res, err := a.b.Reserve(ctx, worstUSD, subjects...)
	if err != nil {
		return nil, err
	}
	return func(actual float64) {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = res.Commit(cctx, actual)
	}, nil
}

// identify maps the authenticated caller to the gateway's identity.
func identify(r *http.Request) gateway.Identity {
	id := auth.FromContext(r.Context())
	return gateway.Identity{User: id.User, KeyID: id.KeyID, Team: id.Team}
}

// maxThinkingBudget bounds Gemini 2.5's dynamic thinking (-1): Pro's
// largest thinkingBudget (Flash's is 24576).
const maxThinkingBudget = 32768

// thinkingTokens is the most thinking tokens each provider may add to
// max_tokens, for the budget's worst case: Gemini's configured thinking
// budget (dynamic counts as its largest); other providers count
// reasoning within max_tokens.
func thinkingTokens(cfg *config.Config) func(provider string) int {
	return func(provider string) int {
		if provider != "google" {
			return 0
		}
		if cfg.Google.ThinkingBudget < 0 {
			return maxThinkingBudget
		}
		if cfg.Google.ThinkingLevel != "" {
			// Gemini 3 levels have no token cap; the adapter gives
			// thinking this headroom in maxOutputTokens.
			return max(cfg.Google.ThinkingBudget, gemini.DynamicThinkingHeadroom)
		}
		return cfg.Google.ThinkingBudget
	}
}
