package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/cost"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
)

// TestTeamsOverHTTP: a key moves to a team, the team gets a budget, the
// key's identity carries it and a reservation past it is refused; the
// team's usage rolls up and exports with the cache-write columns.
func TestTeamsOverHTTP(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, bad := range []struct{ method, path, body string }{
		{"PATCH", "/admin/keys/" + e.keyID, `{"team":"has space"}`},
		{"PATCH", "/admin/keys/" + e.keyID, `{}`},
		{"PUT", "/admin/teams/red", `{"daily_usd":-1}`},
		{"PUT", "/admin/teams/red", `{"daily":1}`},
	} {
		if got, body := e.do(t, bad.method, bad.path, adminKey, bad.body); got != 400 {
			t.Errorf("%s %s %s = %d %s, want 400", bad.method, bad.path, bad.body, got, body)
		}
	}
	if got, _ := e.do(t, "PATCH", "/admin/keys/key_nope", adminKey, `{"team":"red"}`); got != 404 {
		t.Errorf("unknown key: %d", got)
	}
	if got, body := e.do(t, "PATCH", "/admin/keys/"+e.keyID, adminKey, `{"team":"red"}`); got != 200 || !strings.Contains(body, `"team":"red"`) {
		t.Fatalf("set team: %d %s", got, body)
	}
	if got, body := e.do(t, "PUT", "/admin/teams/red", adminKey, `{"daily_usd":0.5,"monthly_usd":20}`); got != 200 {
		t.Fatalf("set budget: %d %s", got, body)
	}
	id, err := e.deps.Keys.Authenticate(ctx, e.userKey)
	if err != nil || id.Team != "red" || id.TeamDailyUSD != 0.5 || id.TeamMonthlyUSD != 20 {
		t.Fatalf("identity %+v, %v", id, err)
	}
	subjects := Subjects(id, nil)
	if len(subjects) != 2 || subjects[1].Kind != cost.SubjectTeam {
		t.Fatalf("subjects %+v", subjects)
	}
	res, err := e.deps.Budgets.Reserve(ctx, 0.4, subjects...)
	if err != nil {
		t.Fatal(err)
	}
	res.Commit(ctx, 0.4)
	var exceeded *cost.ExceededError
	if _, err := e.deps.Budgets.Reserve(ctx, 0.2, subjects...); !errors.As(err, &exceeded) || exceeded.Kind != cost.SubjectTeam {
		t.Fatalf("over the team budget: %v", err)
	}
	got, body := e.do(t, "GET", "/admin/teams", adminKey, "")
	var teams struct{ Teams []teamAnswer }
	if json.Unmarshal([]byte(body), &teams); got != 200 || len(teams.Teams) != 1 || len(teams.Teams[0].Budgets) != 2 ||
		!near(teams.Teams[0].Budgets[0].SpentUSD, 0.4) {
		t.Fatalf("teams: %d %s", got, body)
	}

	c := track.Call{ID: "t1", User: "alice", KeyID: e.keyID, Team: "red", Provider: "anthropic", Model: "claude-haiku-4-5",
		Success: true, Start: today, Usage: llm.Usage{InputTokens: 100, CacheWriteTokens: 10, CacheWrite1hTokens: 20}}
	if err := e.deps.Ledger.Record(ctx, c); err != nil {
		t.Fatal(err)
	}
	e.deps.Ledger.Flush(ctx)
	if got, body := e.do(t, "GET", "/admin/usage?group_by=team", adminKey, ""); got != 200 || !strings.Contains(body, `"team":"red"`) ||
		!strings.Contains(body, `"cache_write_1h_tokens":20`) {
		t.Errorf("team usage: %d %s", got, body)
	}
	if got, _ := e.do(t, "GET", "/admin/usage?team=red&user=alice", adminKey, ""); got != 400 {
		t.Errorf("team with user: %d, want 400", got)
	}
	_, csvBody := e.do(t, "GET", "/admin/usage?team=red&group_by=day,team", adminKey, "", "Accept", "text/csv")
	lines := strings.Split(strings.TrimSpace(csvBody), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "cache_write_tokens,cache_write_1h_tokens,team") || !strings.HasSuffix(lines[1], ",10,20,red") {
		t.Errorf("csv:\n%s", csvBody)
	}
	var out bytes.Buffer
	if err := RunCLI(ctx, []string{"team", "-name", "blue", "-monthly-usd", "7"}, &out, &out, e.deps); err != nil {
		t.Fatal(err)
	}
	if err := RunCLI(ctx, []string{"set-team", e.keyID, "blue"}, &out, &out, e.deps); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := RunCLI(ctx, []string{"teams"}, &out, &out, e.deps); err != nil || !strings.Contains(out.String(), "blue") {
		t.Errorf("teams CLI: %v\n%s", err, out.String())
	}
	if id, _ := e.deps.Keys.Authenticate(ctx, e.userKey); id.Team != "blue" || id.TeamMonthlyUSD != 7 {
		t.Errorf("after the CLI: %+v", id)
	}
}
