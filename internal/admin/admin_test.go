package admin

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cost"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
	"github.com/llm-connector/llm-connector/internal/track"
)

const adminKey = "admin-secret-0123456789"

var today = time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)

type env struct {
	srv     *httptest.Server
	deps    Deps
	logs    *bytes.Buffer
	userKey string
	keyID   string
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.SQLite(t).Open(t)
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	keys, err := auth.NewStore(ctx, auth.StoreConfig{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := cost.NewLedger(ctx, cost.LedgerConfig{DB: db, FlushInterval: time.Hour, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ledger.Close(context.Background()) })
	budgets, _ := cost.NewBudgets(ctx, cost.BudgetConfig{DB: db, Now: func() time.Time { return today }})
	plain, k, err := keys.Create(ctx, auth.KeySpec{User: "alice", Models: []string{"gemini-*"}, DailyUSD: 5})
	if err != nil {
		t.Fatal(err)
	}
	mw := auth.Middleware(auth.Config{Keys: keys, Logger: logger})
	d := Deps{Keys: keys, Ledger: ledger, Budgets: budgets, AdminKey: adminKey, Auth: mw, Logger: logger,
		Now: func() time.Time { return today }, UserBudget: func(string) (float64, float64) { return 10, 100 }}
	mux := http.NewServeMux()
	Register(mux, d)
	// A stand-in for the lead's chat route: auth, then the allow-list.
	mux.Handle("POST /v1/chat/completions", mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Model string }
		json.NewDecoder(r.Body).Decode(&body)
		if err := auth.FromContext(r.Context()).CheckModel(body.Model); err != nil {
			auth.WriteOpenAIError(w, r, http.StatusForbidden, "model_not_allowed", llm.PublicMessage(err))
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for i, c := range []track.Call{
		{ID: "c1", User: "alice", KeyID: k.ID, Provider: "gemini", Model: "gemini-2.5-flash", Success: true,
			Start: today.Add(-24 * time.Hour), Usage: llm.Usage{InputTokens: 1_000_000, OutputTokens: 100_000}},
		{ID: "c2", User: "alice", KeyID: k.ID, Provider: "gemini", Model: "gemini-2.5-flash", Success: true,
			Start: today, Usage: llm.Usage{InputTokens: 1000}},
		{ID: "c3", User: "=HYPERLINK(\"x\")", Provider: "openai", Model: "gpt-4o", Success: true, Start: today,
			Usage: llm.Usage{InputTokens: 10}},
	} {
		if err := ledger.Record(ctx, c); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := ledger.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, deps: d, logs: logs, userKey: plain, keyID: k.ID}
}

func (e *env) do(t *testing.T, method, path, key string, body string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAuthTable is the auth table, end to end through a mux.
func TestAuthTable(t *testing.T) {
	e := setup(t)
	revokedPlain, rk, _ := e.deps.Keys.Create(context.Background(), auth.KeySpec{User: "bob"})
	e.deps.Keys.Revoke(context.Background(), rk.ID)
	chat := `{"model":"gemini-2.5-flash"}`
	tests := []struct {
		name, method, path, key, body string
		want                          int
	}{
		{"no key", "POST", "/v1/chat/completions", "", chat, 401},
		{"wrong key", "POST", "/v1/chat/completions", "lc-" + strings.Repeat("x", 43), chat, 401},
		{"revoked key", "POST", "/v1/chat/completions", revokedPlain, chat, 401},
		{"key outside allow-list", "POST", "/v1/chat/completions", e.userKey, `{"model":"gpt-4o"}`, 403},
		{"key inside allow-list", "POST", "/v1/chat/completions", e.userKey, chat, 200},
		{"own usage without key", "GET", "/v1/usage", "", "", 401},
		{"own usage with key", "GET", "/v1/usage", e.userKey, "", 200},
		{"admin without key", "GET", "/admin/keys", "", "", 401},
		{"admin with a user key", "GET", "/admin/keys", e.userKey, "", 403},
		{"admin usage with a user key", "GET", "/admin/usage", e.userKey, "", 403},
		{"admin create with a user key", "POST", "/admin/keys", e.userKey, `{"user":"mallory"}`, 403},
		{"admin revoke with a user key", "DELETE", "/admin/keys/" + e.keyID, e.userKey, "", 403},
		{"admin with the admin key", "GET", "/admin/keys", adminKey, "", 200},
		{"admin usage with the admin key", "GET", "/admin/usage", adminKey, "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, body := e.do(t, tt.method, tt.path, tt.key, tt.body); got != tt.want {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, got, body, tt.want)
			}
		})
	}
	if got, _ := e.do(t, "GET", "/admin/keys", "", "", "X-Admin-Key", adminKey); got != 200 {
		t.Errorf("X-Admin-Key header: %d", got)
	}
	for _, secret := range []string{e.userKey, revokedPlain, adminKey} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("a secret reached the logs:\n%s", e.logs)
		}
	}
}

func TestAdminDisabled(t *testing.T) {
	e := setup(t)
	mux := http.NewServeMux()
	d := e.deps
	d.AdminKey = ""
	Register(mux, d)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/admin/keys", nil)
	req.Header.Set("Authorization", "Bearer ")
	mux.ServeHTTP(rec, req)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "admin_disabled") {
		t.Errorf("disabled admin = %d %s", rec.Code, rec.Body)
	}
}

func TestKeyLifecycleOverHTTP(t *testing.T) {
	e := setup(t)
	code, body := e.do(t, "POST", "/admin/keys", adminKey, `{"user":"dave","team":"ops","models":["ollama/*"],"monthly_usd":3}`)
	if code != 201 {
		t.Fatalf("create = %d %s", code, body)
	}
	var created struct {
		Key, ID, Prefix, User string
		MonthlyUSD            float64 `json:"monthly_usd"`
	}
	json.Unmarshal([]byte(body), &created)
	if !strings.HasPrefix(created.Key, "lc-") || created.User != "dave" || created.MonthlyUSD != 3 {
		t.Fatalf("created = %s", body)
	}
	if code, _ := e.do(t, "GET", "/v1/usage", created.Key, ""); code != 200 {
		t.Errorf("new key on /v1/usage = %d", code)
	}
	_, list := e.do(t, "GET", "/admin/keys?user=dave", adminKey, "")
	if !strings.Contains(list, created.ID) || strings.Contains(list, created.Key) || strings.Contains(list, "hash") {
		t.Errorf("list = %s", list)
	}
	if code, _ := e.do(t, "DELETE", "/admin/keys/"+created.ID, adminKey, ""); code != 200 {
		t.Errorf("revoke = %d", code)
	}
	if code, _ := e.do(t, "GET", "/v1/usage", created.Key, ""); code != 401 {
		t.Errorf("revoked key on /v1/usage = %d, want 401", code)
	}
	if code, _ := e.do(t, "DELETE", "/admin/keys/key_missing", adminKey, ""); code != 404 {
		t.Errorf("revoke unknown = %d, want 404", code)
	}
	if code, _ := e.do(t, "POST", "/admin/keys", adminKey, `{"team":"x"}`); code != 400 {
		t.Errorf("create without user = %d, want 400", code)
	}
	if code, _ := e.do(t, "POST", "/admin/keys", adminKey, `{"user":"x","bogus":1}`); code != 400 {
		t.Errorf("create with unknown field = %d, want 400", code)
	}
}

func TestUsageEndpoints(t *testing.T) {
	e := setup(t)
	code, body := e.do(t, "GET", "/v1/usage", e.userKey, "")
	if code != 200 {
		t.Fatalf("/v1/usage = %d %s", code, body)
	}
	var own usageAnswer
	if err := json.Unmarshal([]byte(body), &own); err != nil {
		t.Fatal(err)
	}
	// 1M in × $0.30 + 100k out × $2.50 + 1000 in × $0.30
	wantCost := 0.30 + 0.25 + 0.0003
	if own.User != "alice" || len(own.ByDay) != 2 || len(own.ByModel) != 1 || own.Total.Requests != 2 ||
		!near(own.Total.CostUSD, wantCost) {
		t.Errorf("own usage = %+v", own)
	}
	if own.From != "2025-05-04" || own.To != "2025-06-02" {
		t.Errorf("default range %s..%s", own.From, own.To)
	}
	if len(own.Budgets) != 3 { // user day+month, key day
		t.Fatalf("budgets = %+v", own.Budgets)
	}
	for _, b := range own.Budgets {
		if b.RemainingUSD != b.LimitUSD {
			t.Errorf("budget %+v: nothing was reserved through Budgets, remaining must equal the limit", b)
		}
	}

	code, body = e.do(t, "GET", "/admin/usage?from=2025-06-02&to=2025-06-02&group_by=user", adminKey, "")
	var adm usageAnswer
	json.Unmarshal([]byte(body), &adm)
	if code != 200 || len(adm.Rows) != 2 || adm.Total.Requests != 2 {
		t.Errorf("admin usage by user = %d %s", code, body)
	}

	code, body = e.do(t, "GET", "/admin/usage?group_by=day,model", adminKey, "", "Accept", "text/csv")
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(recs) != 4 || strings.Join(recs[0], ",") != strings.Join(usageHeader, ",") {
		t.Fatalf("csv = %d %v\n%s", code, err, body)
	}
	if recs[1][0] != "2025-06-01" || recs[1][4] != "gemini-2.5-flash" || recs[1][5] != "1" {
		t.Errorf("first csv row = %v", recs[1])
	}
	_, body = e.do(t, "GET", "/admin/usage?group_by=user", adminKey, "", "Accept", "text/csv")
	if !strings.Contains(body, `'=HYPERLINK`) {
		t.Errorf("formula cell not defused:\n%s", body)
	}
	_, body = e.do(t, "GET", "/v1/usage", e.userKey, "", "Accept", "text/csv, application/json;q=0.5")
	if !strings.HasPrefix(body, "day,user,key_id") || strings.Contains(body, "HYPERLINK") {
		t.Errorf("own csv:\n%s", body)
	}
	for _, q := range []string{"group_by=price", "from=yesterday", "from=2025-06-03&to=2025-06-01"} {
		if code, _ := e.do(t, "GET", "/admin/usage?"+q, adminKey, ""); code != 400 {
			t.Errorf("%s = %d, want 400", q, code)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestCLI(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := RunCLI(ctx, args, &out, &errb, e.deps)
		return out.String() + errb.String(), err
	}
	out, err := run("create", "-user", "erin", "-models", "gpt-4o, o3", "-daily-usd", "2")
	if err != nil {
		t.Fatal(err)
	}
	var id, plain string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "id:   "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "key:  "); ok {
			plain = v
		}
	}
	got, err := e.deps.Keys.Authenticate(ctx, plain)
	if err != nil || got.User != "erin" || len(got.Models) != 2 || got.DailyUSD != 2 {
		t.Fatalf("created key: %+v, %v\n%s", got, err, out)
	}
	out, err = run("list", "-user", "erin")
	if err != nil || !strings.Contains(out, id) || strings.Contains(out, plain) {
		t.Errorf("list: %v\n%s", err, out)
	}
	if out, err = run("revoke", id); err != nil || !strings.Contains(out, "revoked "+id) {
		t.Errorf("revoke: %v %s", err, out)
	}
	out, _ = run("list", "-json")
	var keys []auth.Key
	json.Unmarshal([]byte(out), &keys)
	if len(keys) != 2 || !keys[1].Revoked {
		t.Errorf("list -json = %s", out)
	}
	out, err = run("usage", "-user", "alice", "-group-by", "day", "-csv")
	if err != nil || !strings.Contains(out, "2025-06-01,,,,,1,") {
		t.Errorf("usage csv: %v\n%s", err, out)
	}
	out, err = run("usage", "-group-by", "model")
	if err != nil || !strings.Contains(out, "gemini-2.5-flash") {
		t.Errorf("usage table: %v\n%s", err, out)
	}
	for _, bad := range [][]string{{}, {"frobnicate"}, {"create"}, {"revoke"}, {"revoke", "key_nope"}, {"usage", "-group-by", "x"}} {
		if _, err := run(bad...); err == nil {
			t.Errorf("keys %v succeeded", bad)
		}
	}
}
