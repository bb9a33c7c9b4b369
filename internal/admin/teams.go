package admin

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cost"
)

// registerTeams adds the team routes:
//
//	PATCH /admin/keys/{id}     {"team": "red"} moves a key to a team ("" = none)
//	PUT   /admin/teams/{name}  {"daily_usd": 10, "monthly_usd": 200} sets a team budget
//	GET   /admin/teams         teams with their budgets and where they stand
func registerTeams(mux *http.ServeMux, h *handlers) {
	mux.Handle("PATCH /admin/keys/{id}", h.admin(h.patchKey))
	mux.Handle("PUT /admin/teams/{name}", h.admin(h.putTeam))
	mux.Handle("GET /admin/teams", h.admin(h.listTeams))
}

// decodeBody reads a small JSON object, refusing unknown fields.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (h *handlers) patchKey(w http.ResponseWriter, r *http.Request) {
	if h.d.Keys == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_key_store", "no key store configured")
		return
	}
	var body struct {
		Team *string `json:"team"`
	}
	if err := decodeBody(w, r, &body); err != nil || body.Team == nil {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", `want {"team": "<name>"} ("" takes the key out of its team)`)
		return
	}
	if *body.Team != "" && !auth.ValidTeamName(*body.Team) {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", fmt.Sprintf("team name: 1 to %d characters, no spaces", auth.MaxTeamName))
		return
	}
	id := r.PathValue("id")
	err := h.d.Keys.SetKeyTeam(r.Context(), id, *body.Team)
	switch {
	case errors.Is(err, auth.ErrKeyNotFound):
		h.fail(w, r, http.StatusNotFound, "not_found", "no such key")
		return
	case err != nil:
		h.d.Logger.Error("set key team", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not change the key")
		return
	}
	k, err := h.d.Keys.Key(r.Context(), id)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not read the key")
		return
	}
	h.d.Logger.Info("key team set", "key_id", id, "team", k.Team)
	writeJSON(w, http.StatusOK, k)
}

func (h *handlers) putTeam(w http.ResponseWriter, r *http.Request) {
	if h.d.Keys == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_key_store", "no key store configured")
		return
	}
	name := r.PathValue("name")
	var body struct {
		DailyUSD   float64 `json:"daily_usd"`
		MonthlyUSD float64 `json:"monthly_usd"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", "invalid team budget: "+err.Error())
		return
	}
	if !auth.ValidTeamName(name) || body.DailyUSD < 0 || body.MonthlyUSD < 0 {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", fmt.Sprintf("team name: 1 to %d characters, no spaces; budgets >= 0", auth.MaxTeamName))
		return
	}
	t, err := h.d.Keys.SetTeam(r.Context(), auth.Team{Name: name, DailyUSD: body.DailyUSD, MonthlyUSD: body.MonthlyUSD})
	if err != nil {
		h.d.Logger.Error("set team", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not set the team budget")
		return
	}
	h.d.Logger.Info("team budget set", "team", name, "daily_usd", t.DailyUSD, "monthly_usd", t.MonthlyUSD)
	writeJSON(w, http.StatusOK, t)
}

// teamAnswer is a team with where its budgets stand.
type teamAnswer struct {
	auth.Team
	Budgets []cost.BudgetStatus `json:"budgets,omitempty"`
}

func (h *handlers) listTeams(w http.ResponseWriter, r *http.Request) {
	if h.d.Keys == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no_key_store", "no key store configured")
		return
	}
	out, err := teamsWithStatus(r.Context(), h.d)
	if err != nil {
		h.d.Logger.Error("list teams", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal", "could not list teams")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": nonNil(out)})
}

func teamsWithStatus(ctx context.Context, d Deps) ([]teamAnswer, error) {
	teams, err := d.Keys.Teams(ctx)
	if err != nil {
		return nil, err
	}
	var out []teamAnswer
	for _, t := range teams {
		a := teamAnswer{Team: t}
		if d.Budgets != nil {
			s := cost.Subject{Kind: cost.SubjectTeam, ID: t.Name, DailyUSD: t.DailyUSD, MonthlyUSD: t.MonthlyUSD}
			if a.Budgets, err = d.Budgets.Status(ctx, s); err != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// cliSetTeam: keys set-team <key-id> <team>.
func cliSetTeam(ctx context.Context, args []string, stdout, _ io.Writer, d Deps) error {
	if d.Keys == nil {
		return errors.New("keys set-team: no key store configured")
	}
	if len(args) != 2 {
		return errors.New(`keys set-team: want <key-id> <team> ("" for none)`)
	}
	if err := d.Keys.SetKeyTeam(ctx, args[0], args[1]); err != nil {
		return fmt.Errorf("keys set-team %s: %w", args[0], err)
	}
	fmt.Fprintf(stdout, "%s is in team %q\n", args[0], args[1])
	return nil
}

// cliTeam: keys team -name T [-daily-usd X] [-monthly-usd Y] sets a
// team budget; keys teams lists them.
func cliTeam(ctx context.Context, args []string, stdout, stderr io.Writer, d Deps) error {
	if d.Keys == nil {
		return errors.New("keys team: no key store configured")
	}
	var t auth.Team
	fs := flag.NewFlagSet("keys team", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&t.Name, "name", "", "team name (required)")
	fs.Float64Var(&t.DailyUSD, "daily-usd", 0, "daily team budget in USD (0 = none)")
	fs.Float64Var(&t.MonthlyUSD, "monthly-usd", 0, "monthly team budget in USD (0 = none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t, err := d.Keys.SetTeam(ctx, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "team %s: daily $%g, monthly $%g\n", t.Name, t.DailyUSD, t.MonthlyUSD)
	return nil
}

func cliTeams(ctx context.Context, stdout io.Writer, d Deps) error {
	if d.Keys == nil {
		return errors.New("keys teams: no key store configured")
	}
	teams, err := teamsWithStatus(ctx, d)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEAM\tDAILY$\tMONTHLY$\tPERIOD\tSPENT$\tREMAINING$")
	for _, t := range teams {
		fmt.Fprintf(tw, "%s\t%g\t%g\t\t\t\n", t.Name, t.DailyUSD, t.MonthlyUSD)
		for _, b := range t.Budgets {
			fmt.Fprintf(tw, "\t\t\t%s\t%.6f\t%.6f\n", b.Period, b.SpentUSD, b.RemainingUSD)
		}
	}
	return tw.Flush()
}
