package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cost"
)

// registerDashboard adds the dashboard's JSON endpoints:
//
//	POST   /admin/session        log in: {"key": admin key or a user's API key}; sets the session cookie
//	GET    /admin/session        the cookie's session and CSRF token
//	DELETE /admin/session        log out
//	GET    /admin/stats          ?window=hour|day|month&from=&to=&group_by=user|key|model|provider|team&limit=&user=&key=&latency=1
//	GET    /admin/requests       ?user=&key=&model=&status=ok|error|<kind>&from=&to=&cursor=&limit= (newest first)
//	GET    /admin/requests/{id}  one request
//	GET    /admin/providers      targets, breakers, tracking, cache, limits (admin only)
//	GET    /admin/budgets        every limited key's budgets and consumption (admin only)
//
// Stats and requests answer a user (their key or session) their own
// traffic only.
func (h *handlers) registerDashboard(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/session", h.login)
	mux.HandleFunc("GET /admin/session", h.whoami)
	mux.HandleFunc("DELETE /admin/session", h.logout)
	mux.Handle("GET /admin/stats", h.reader(h.stats))
	mux.Handle("GET /admin/requests", h.reader(h.requests))
	mux.Handle("GET /admin/requests/{id}", h.reader(h.request))
	mux.Handle("GET /admin/providers", h.admin(h.providers))
	mux.Handle("GET /admin/budgets", h.admin(h.budgets))
}

// ownScope limits a query to a user principal's own traffic.
func ownScope(r *http.Request, user, key string) (string, string) {
	if p := principalOf(r.Context()); !p.Admin {
		return p.User, key
	}
	return user, key
}

// parseTime reads YYYY-MM, YYYY-MM-DD or RFC 3339 (UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01", time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("want YYYY-MM, YYYY-MM-DD or RFC 3339, got " + strconv.Quote(cutPath(s)))
}

// timeRange reads from and to; empty ones stay zero.
func timeRange(from, to string) (f, t time.Time, err error) {
	if from != "" {
		if f, err = parseTime(from); err != nil {
			return f, t, errors.New("bad from: " + err.Error())
		}
	}
	if to != "" {
		if t, err = parseTime(to); err != nil {
			return f, t, errors.New("bad to: " + err.Error())
		}
	}
	return f, t, nil
}

// maxFilter bounds a filter value (user, key, model, status).
const maxFilter = cost.MaxField

func (h *handlers) stats(w http.ResponseWriter, r *http.Request) {
	if h.d.Ledger == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_ledger", "no usage ledger configured")
		return
	}
	q := r.URL.Query()
	sq := cost.StatsQuery{Window: cost.Window(q.Get("window")), GroupBy: cost.Dimension(q.Get("group_by")),
		Latency: q.Get("latency") == "1" || q.Get("latency") == "true"}
	var err error
	if sq.From, sq.To, err = timeRange(q.Get("from"), q.Get("to")); err == nil && q.Get("limit") != "" {
		if sq.Limit, err = strconv.Atoi(q.Get("limit")); err != nil || sq.Limit < 1 {
			err = errors.New("bad limit: want a positive integer")
		}
	}
	if err == nil && (len(q.Get("user")) > maxFilter || len(q.Get("key")) > maxFilter) {
		err = errors.New("user or key too long")
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	sq.User, sq.KeyID = ownScope(r, q.Get("user"), q.Get("key"))
	st, err := h.d.Ledger.QueryStats(r.Context(), sq)
	switch {
	case errors.Is(err, cost.ErrStatsRange):
		h.fail(w, r, http.StatusBadRequest, "invalid_request", err.Error())
	case err != nil:
		h.d.Logger.Error("stats query", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not read stats")
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

func (h *handlers) requests(w http.ResponseWriter, r *http.Request) {
	if h.d.Ledger == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_ledger", "no usage ledger configured")
		return
	}
	q := r.URL.Query()
	rq := cost.RequestQuery{Model: q.Get("model"), Status: q.Get("status"), Cursor: q.Get("cursor")}
	var err error
	rq.From, rq.To, err = timeRange(q.Get("from"), q.Get("to"))
	if err == nil && q.Get("limit") != "" {
		if rq.Limit, err = strconv.Atoi(q.Get("limit")); err != nil || rq.Limit < 1 {
			err = errors.New("bad limit: want a positive integer")
		}
	}
	for _, v := range []string{q.Get("user"), q.Get("key"), rq.Model, rq.Status} {
		if err == nil && len(v) > maxFilter {
			err = errors.New("a filter is too long")
		}
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	rq.User, rq.KeyID = ownScope(r, q.Get("user"), q.Get("key"))
	page, err := h.d.Ledger.Requests(r.Context(), rq)
	switch {
	case errors.Is(err, cost.ErrBadCursor):
		h.fail(w, r, http.StatusBadRequest, "invalid_request", "bad cursor")
	case err != nil:
		h.d.Logger.Error("requests query", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not list requests")
	default:
		writeJSON(w, http.StatusOK, page)
	}
}

// RequestDetail is the answer of GET /admin/requests/{id}.
type RequestDetail struct {
	cost.RequestRow
	// Content says where the prompt and answer are: the ledger never
	// stores them (tracking may, per MLFLOW_LOG_CONTENT).
	Content string `json:"content"`
}

func (h *handlers) request(w http.ResponseWriter, r *http.Request) {
	if h.d.Ledger == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_ledger", "no usage ledger configured")
		return
	}
	id := r.PathValue("id")
	if len(id) > maxFilter {
		h.fail(w, r, http.StatusNotFound, "not_found", "no such request")
		return
	}
	user, _ := ownScope(r, "", "")
	row, err := h.d.Ledger.Request(r.Context(), id, user)
	switch {
	case errors.Is(err, cost.ErrNoRequest):
		h.fail(w, r, http.StatusNotFound, "not_found", "no such request")
	case err != nil:
		h.d.Logger.Error("request query", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not read the request")
	default:
		writeJSON(w, http.StatusOK, RequestDetail{RequestRow: row,
			Content: "not stored: the ledger keeps no prompt or answer (MLflow tracking may, per MLFLOW_LOG_CONTENT)"})
	}
}

func (h *handlers) providers(w http.ResponseWriter, r *http.Request) {
	if h.d.Providers == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_status", "no provider status configured")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, h.d.Providers(ctx))
}

// maxBudgetKeys bounds GET /admin/budgets.
const maxBudgetKeys = 500

// KeyBudget is one key of GET /admin/budgets.
type KeyBudget struct {
	Key     auth.Key            `json:"key"`
	Budgets []cost.BudgetStatus `json:"budgets"`
}

func (h *handlers) budgets(w http.ResponseWriter, r *http.Request) {
	if h.d.Keys == nil || h.d.Budgets == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_key_store", "no key store or budgets configured")
		return
	}
	keys, err := h.d.Keys.List(r.Context(), r.URL.Query().Get("user"))
	out := []KeyBudget{}
	for _, k := range keys {
		if err != nil || len(out) == maxBudgetKeys {
			break
		}
		if k.Revoked || (k.DailyUSD <= 0 && k.MonthlyUSD <= 0) {
			continue
		}
		var st []cost.BudgetStatus
		st, err = h.d.Budgets.Status(r.Context(), cost.Subject{Kind: cost.SubjectKey, ID: k.ID, DailyUSD: k.DailyUSD, MonthlyUSD: k.MonthlyUSD})
		out = append(out, KeyBudget{Key: k, Budgets: nonNil(st)})
	}
	if err != nil {
		h.d.Logger.Error("budgets", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not read budgets")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}
