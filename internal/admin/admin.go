// Package admin serves the key and usage endpoints: the admin API behind
// LLM_ADMIN_KEY (/admin/keys, /admin/usage), the caller's own GET
// /v1/usage, and the same operations as a "keys" CLI subcommand.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cost"
)

// Deps is what the handlers use. Nil parts turn their endpoints into 503s.
type Deps struct {
	Keys    *auth.Store
	Ledger  *cost.Ledger
	Budgets *cost.Budgets
	// AdminKey is the admin secret (LLM_ADMIN_KEY or its secret file).
	// Empty disables the /admin endpoints (403).
	AdminKey string
	// UserBudget returns a user's limits in USD (0 = none); nil = none.
	UserBudget func(user string) (dailyUSD, monthlyUSD float64)
	// Auth is the caller middleware (auth.Middleware) Register wraps
	// around GET /v1/usage; nil registers it bare (wrap it yourself).
	Auth func(http.Handler) http.Handler
	// Providers, when set, answers GET /admin/providers: what /health
	// and the metrics know of targets, breakers, tracking, cache, limits.
	Providers func(ctx context.Context) any
	// WriteError writes errors. Default: auth.WriteOpenAIError.
	WriteError auth.ErrorWriter
	Now        func() time.Time
	Logger     *slog.Logger
}

func (d *Deps) defaults() {
	if d.WriteError == nil {
		d.WriteError = auth.WriteOpenAIError
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
}

// Register adds the routes to mux:
//
//	POST   /admin/keys        create a key; the plain key is in this answer only
//	GET    /admin/keys        list keys (?user=), never hashes
//	DELETE /admin/keys/{id}   revoke
//	GET    /admin/usage       ?user=&key=&team=&from=&to=&group_by=model|day|user|key|team (comma list)
//	GET    /v1/usage          the caller's usage by day and model, and budgets
//
// Usage answers are JSON, or CSV with "Accept: text/csv".
func Register(mux *http.ServeMux, d Deps) {
	d.defaults()
	h := &handlers{d: d, sess: newSessions(d.AdminKey, d.Now), origin: http.NewCrossOriginProtection(),
		logins: newLoginThrottle(d.Now)}
	mux.Handle("POST /admin/keys", h.admin(h.createKey))
	mux.Handle("GET /admin/keys", h.admin(h.listKeys))
	mux.Handle("DELETE /admin/keys/{id}", h.admin(h.revokeKey))
	mux.Handle("GET /admin/usage", h.admin(h.adminUsage))
	registerTeams(mux, h)
	h.registerDashboard(mux)
	var own http.Handler = http.HandlerFunc(h.ownUsage)
	if d.Auth != nil {
		own = d.Auth(own)
	}
	mux.Handle("GET /v1/usage", own)
}

type handlers struct {
	d      Deps
	sess   *sessions
	origin *http.CrossOriginProtection
	logins *loginThrottle
}

// admin lets only the admin through: the admin key (compared in
// constant time) or an admin session.
func (h *handlers) admin(next http.HandlerFunc) http.Handler {
	return h.guard(true, next)
}

// reader lets the admin through, and a user (their API key or session)
// whose queries the handler then limits to their own usage.
func (h *handlers) reader(next http.HandlerFunc) http.Handler {
	return h.guard(false, next)
}

func (h *handlers) guard(adminOnly bool, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if adminOnly && h.d.AdminKey == "" {
			h.fail(w, r, http.StatusForbidden, "admin_disabled", "admin API disabled: LLM_ADMIN_KEY is not set")
			return
		}
		p, status, code, msg := h.authenticate(r)
		switch {
		case status != 0:
			h.fail(w, r, status, code, msg)
			return
		case adminOnly && !p.Admin:
			h.d.Logger.Info("admin request refused", "path", cutPath(r.URL.Path))
			h.fail(w, r, http.StatusForbidden, "not_admin", "the admin key is required")
			return
		}
		next(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

func (h *handlers) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	h.d.WriteError(w, r, status, code, msg)
}

func (h *handlers) createKey(w http.ResponseWriter, r *http.Request) {
	if h.d.Keys == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_key_store", "no key store configured")
		return
	}
	var spec auth.KeySpec
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", "invalid key spec: "+err.Error())
		return
	}
	if strings.TrimSpace(spec.User) == "" {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", "user is required")
		return
	}
	if spec.Team != "" && !auth.ValidTeamName(spec.Team) {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", "invalid team name")
		return
	}
	plain, k, err := h.d.Keys.Create(r.Context(), spec)
	if err != nil {
		h.d.Logger.Error("create key", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not create the key")
		return
	}
	h.d.Logger.Info("key created", "key_id", k.ID, "user", k.User)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, struct {
		Plain string `json:"key"`
		auth.Key
		Note string `json:"note"`
	}{plain, k, "store this key now: it is not shown again"})
}

func (h *handlers) listKeys(w http.ResponseWriter, r *http.Request) {
	if h.d.Keys == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_key_store", "no key store configured")
		return
	}
	keys, err := h.d.Keys.List(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		h.d.Logger.Error("list keys", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not list keys")
		return
	}
	if wantsCSV(r) {
		writeCSV(w, keysCSV(keys))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": nonNil(keys)})
}

func (h *handlers) revokeKey(w http.ResponseWriter, r *http.Request) {
	if h.d.Keys == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_key_store", "no key store configured")
		return
	}
	id := r.PathValue("id")
	err := h.d.Keys.Revoke(r.Context(), id)
	switch {
	case errors.Is(err, auth.ErrKeyNotFound):
		h.fail(w, r, http.StatusNotFound, "not_found", "no such key")
	case err != nil:
		h.d.Logger.Error("revoke key", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not revoke the key")
	default:
		h.d.Logger.Info("key revoked", "key_id", id)
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
	}
}

// usageAnswer is the JSON of the usage endpoints.
type usageAnswer struct {
	User    string              `json:"user,omitempty"`
	KeyID   string              `json:"key_id,omitempty"`
	Team    string              `json:"team,omitempty"`
	From    string              `json:"from"`
	To      string              `json:"to"`
	GroupBy []cost.Dimension    `json:"group_by,omitempty"`
	Rows    []cost.UsageRow     `json:"rows,omitempty"`
	ByDay   []cost.UsageRow     `json:"by_day,omitempty"`
	ByModel []cost.UsageRow     `json:"by_model,omitempty"`
	Total   cost.UsageRow       `json:"total"`
	Budgets []cost.BudgetStatus `json:"budgets,omitempty"`
}

func (h *handlers) adminUsage(w http.ResponseWriter, r *http.Request) {
	if h.d.Ledger == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_ledger", "no usage ledger configured")
		return
	}
	q := r.URL.Query()
	uq, err := h.query(q.Get("from"), q.Get("to"))
	if err == nil {
		uq.GroupBy, err = cost.ParseDimensions(cmpOr(q.Get("group_by"), "model"))
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	uq.User, uq.KeyID, uq.Team = q.Get("user"), q.Get("key"), q.Get("team")
	if (uq.Team != "" || slices.Contains(uq.GroupBy, cost.DimTeam)) &&
		(uq.User != "" || uq.KeyID != "" || slices.Contains(uq.GroupBy, cost.DimUser) || slices.Contains(uq.GroupBy, cost.DimKey)) {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", "team usage cannot be filtered or grouped by user or key")
		return
	}
	rows, err := h.d.Ledger.Usage(r.Context(), uq)
	var total cost.UsageRow
	if err == nil {
		total, err = h.d.Ledger.Totals(r.Context(), uq)
	}
	if err != nil {
		h.d.Logger.Error("usage query", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not read usage")
		return
	}
	if wantsCSV(r) {
		writeCSV(w, usageCSV(rows))
		return
	}
	writeJSON(w, http.StatusOK, usageAnswer{User: uq.User, KeyID: uq.KeyID, Team: uq.Team, From: day(uq.From), To: day(uq.To),
		GroupBy: uq.GroupBy, Rows: nonNil(rows), Total: total})
}

// ownUsage answers the caller's usage (their key's, when they used one)
// by day and by model, with their remaining budgets.
func (h *handlers) ownUsage(w http.ResponseWriter, r *http.Request) {
	id := auth.FromContext(r.Context())
	if id.User == "" {
		h.fail(w, r, http.StatusUnauthorized, "missing_api_key", "no caller identity")
		return
	}
	if h.d.Ledger == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_ledger", "no usage ledger configured")
		return
	}
	q := r.URL.Query()
	uq, err := h.query(q.Get("from"), q.Get("to"))
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	uq.User = id.User
	ctx := r.Context()
	if wantsCSV(r) {
		uq.GroupBy = []cost.Dimension{cost.DimDay, cost.DimModel}
		rows, err := h.d.Ledger.Usage(ctx, uq)
		if err != nil {
			h.d.Logger.Error("usage query", "err", err)
			h.fail(w, r, http.StatusInternalServerError, "internal", "could not read usage")
			return
		}
		writeCSV(w, usageCSV(rows))
		return
	}
	ans, err := h.own(r, id, uq)
	if err != nil {
		h.d.Logger.Error("usage query", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not read usage")
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *handlers) own(r *http.Request, id auth.Identity, uq cost.UsageQuery) (usageAnswer, error) {
	ctx := r.Context()
	ans := usageAnswer{User: id.User, KeyID: id.KeyID, From: day(uq.From), To: day(uq.To)}
	var err error
	uq.GroupBy = []cost.Dimension{cost.DimDay}
	if ans.ByDay, err = h.d.Ledger.Usage(ctx, uq); err != nil {
		return ans, err
	}
	uq.GroupBy = []cost.Dimension{cost.DimModel}
	if ans.ByModel, err = h.d.Ledger.Usage(ctx, uq); err != nil {
		return ans, err
	}
	if ans.Total, err = h.d.Ledger.Totals(ctx, uq); err != nil {
		return ans, err
	}
	ans.ByDay, ans.ByModel = nonNil(ans.ByDay), nonNil(ans.ByModel)
	if h.d.Budgets != nil {
		ans.Budgets, err = h.d.Budgets.Status(ctx, Subjects(id, h.d.UserBudget)...)
	}
	return ans, err
}

// Subjects are the budgets a caller's request is charged to: the user's
// (limits from userBudget, when set), the key's (its own limits) and its
// team's (the team's budget).
func Subjects(id auth.Identity, userBudget func(string) (float64, float64)) []cost.Subject {
	var out []cost.Subject
	if userBudget != nil && id.User != "" {
		d, m := userBudget(id.User)
		if d > 0 || m > 0 {
			out = append(out, cost.Subject{Kind: cost.SubjectUser, ID: id.User, DailyUSD: d, MonthlyUSD: m})
		}
	}
	if id.KeyID != "" && (id.DailyUSD > 0 || id.MonthlyUSD > 0) {
		out = append(out, cost.Subject{Kind: cost.SubjectKey, ID: id.KeyID, DailyUSD: id.DailyUSD, MonthlyUSD: id.MonthlyUSD})
	}
	if id.Team != "" && (id.TeamDailyUSD > 0 || id.TeamMonthlyUSD > 0) {
		out = append(out, cost.Subject{Kind: cost.SubjectTeam, ID: id.Team, DailyUSD: id.TeamDailyUSD, MonthlyUSD: id.TeamMonthlyUSD})
	}
	return out
}

// defaultDays is the span of a usage query without from.
const defaultDays = 30

func (h *handlers) query(from, to string) (cost.UsageQuery, error) {
	return parseRange(from, to, h.d.Now())
}

func parseRange(from, to string, now time.Time) (cost.UsageQuery, error) {
	var q cost.UsageQuery
	var err error
	q.To = now.UTC()
	if to != "" {
		if q.To, err = parseDay(to); err != nil {
			return q, fmt.Errorf("bad to: %w", err)
		}
	}
	q.From = q.To.AddDate(0, 0, -(defaultDays - 1))
	if from != "" {
		if q.From, err = parseDay(from); err != nil {
			return q, fmt.Errorf("bad from: %w", err)
		}
	}
	if q.From.After(q.To) {
		return q, errors.New("from is after to")
	}
	return q, nil
}

func parseDay(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DD or RFC 3339, got %q", s)
	}
	return t.UTC(), nil
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
