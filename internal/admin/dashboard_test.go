package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/auth"
)

// login posts a key to /admin/session and returns the cookie and the
// CSRF token.
func (e *env) login(t *testing.T, key string) (*http.Cookie, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/admin/session", strings.NewReader(`{"key":"`+key+`"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans sessionAnswer
	json.NewDecoder(resp.Body).Decode(&ans)
	cookies := resp.Cookies()
	if resp.StatusCode != 200 || len(cookies) != 1 || ans.CSRF == "" {
		t.Fatalf("login: %d %+v %v", resp.StatusCode, ans, cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || strings.Contains(c.Value, key) {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, no key inside", c)
	}
	return c, ans.CSRF
}

func (e *env) withCookie(t *testing.T, c *http.Cookie, method, path string, headers ...string) (int, string) {
	t.Helper()
	return e.do(t, method, path, "", "", append([]string{"Cookie", c.Name + "=" + c.Value}, headers...)...)
}

// TestDashboardSessions: the admin's and a user's sessions, what each may
// read, and the CSRF rules on changes.
func TestDashboardSessions(t *testing.T) {
	e := setup(t)
	admin, csrf := e.login(t, adminKey)
	user, userCSRF := e.login(t, e.userKey)
	if got, body := e.do(t, "POST", "/admin/session", "", `{"key":"nope"}`); got != 401 {
		t.Errorf("login with a bad key = %d %s", got, body)
	}
	_, other, _ := e.deps.Keys.Create(context.Background(), auth.KeySpec{User: "carol"})
	tests := []struct {
		name          string
		c             *http.Cookie
		method, path  string
		headers       []string
		want          int
		wantInBody    string
		notWantInBody string
	}{
		{"admin stats", admin, "GET", "/admin/stats?window=day&group_by=user&from=2025-05-20&to=2025-06-02", nil, 200, `"group":"alice"`, ""},
		{"admin providers", admin, "GET", "/admin/providers", nil, 503, "no provider status", ""},
		{"admin keys", admin, "GET", "/admin/keys", nil, 200, `"keys"`, ""},
		{"user stats are their own", user, "GET", "/admin/stats?window=day&group_by=user&user=&from=2025-05-20&to=2025-06-02", nil, 200, `"group":"alice"`, "HYPERLINK"},
		{"user cannot read another's", user, "GET", "/admin/requests?user=%3DHYPERLINK(%22x%22)", nil, 200, `"rows":[{`, "HYPERLINK"},
		{"user request detail of another", user, "GET", "/admin/requests/c3", nil, 404, "", ""},
		{"user own request detail", user, "GET", "/admin/requests/c2", nil, 200, `"content":"not stored`, ""},
		{"user keys refused", user, "GET", "/admin/keys", nil, 403, "", ""},
		{"user revoke refused", user, "DELETE", "/admin/keys/" + e.keyID, []string{CSRFHeader, userCSRF}, 403, "", ""},
		{"change without CSRF", admin, "DELETE", "/admin/keys/" + other.ID, nil, 403, CSRFHeader, ""},
		{"change with another session's CSRF", admin, "DELETE", "/admin/keys/" + other.ID, []string{CSRFHeader, userCSRF}, 403, "", ""},
		{"cross-origin change", admin, "DELETE", "/admin/keys/" + other.ID, []string{CSRFHeader, csrf, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, "cross-origin", ""},
		{"change with CSRF", admin, "DELETE", "/admin/keys/" + other.ID, []string{CSRFHeader, csrf}, 200, `"revoked":true`, ""},
		{"forged cookie", &http.Cookie{Name: SessionCookie, Value: "eyJhZG1pbiI6dHJ1ZX0.AAAA"}, "GET", "/admin/stats", nil, 401, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, body := e.withCookie(t, tt.c, tt.method, tt.path, tt.headers...)
			if got != tt.want || !strings.Contains(body, tt.wantInBody) || (tt.notWantInBody != "" && strings.Contains(body, tt.notWantInBody)) {
				t.Errorf("%s %s = %d %s; want %d with %q", tt.method, tt.path, got, body, tt.want, tt.wantInBody)
			}
		})
	}
	// A user's session ends with its key.
	if err := e.deps.Keys.Revoke(context.Background(), e.keyID); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.withCookie(t, user, "GET", "/admin/stats"); got != 401 {
		t.Errorf("session of a revoked key = %d, want 401", got)
	}
	if got, body := e.withCookie(t, admin, "GET", "/admin/session"); got != 200 || !strings.Contains(body, `"admin":true`) {
		t.Errorf("whoami = %d %s", got, body)
	}
}

// TestDashboardBadInput: every caller-controlled parameter answers a 4xx
// in the admin API's error shape.
func TestDashboardBadInput(t *testing.T) {
	e := setup(t)
	long := strings.Repeat("x", 300)
	for _, path := range []string{
		"/admin/stats?window=week", "/admin/stats?group_by=colour", "/admin/stats?from=yesterday",
		"/admin/stats?window=hour&from=2020-01-01&to=2025-01-01", "/admin/stats?limit=-1", "/admin/stats?user=" + long,
		"/admin/requests?cursor=%21%21", "/admin/requests?limit=x", "/admin/requests?model=" + long, "/admin/requests?to=never",
	} {
		got, body := e.do(t, "GET", path, adminKey, "")
		if got != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s = %d %s, want 400 JSON", path, got, body)
		}
	}
	if got, _ := e.do(t, "POST", "/admin/session", "", strings.Repeat("{", 10000)); got != 400 {
		t.Errorf("oversized login = %d", got)
	}
}

// TestRequestsPagination walks the listing page by page over HTTP.
func TestRequestsPagination(t *testing.T) {
	e := setup(t)
	var ids []string
	cursor := ""
	for range 5 {
		got, body := e.do(t, "GET", "/admin/requests?limit=1&cursor="+cursor, adminKey, "")
		var page struct {
			Rows []struct{ ID string }
			Next string
		}
		if err := json.Unmarshal([]byte(body), &page); got != 200 || err != nil {
			t.Fatalf("%d %s", got, body)
		}
		for _, r := range page.Rows {
			ids = append(ids, r.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if strings.Join(ids, ",") != "c3,c2,c1" {
		t.Errorf("ids = %v, want c3,c2,c1 (newest first; c2 and c3 share a start, the larger id first)", ids)
	}
}

// TestLoginThrottle: after ten failed logins from one address the next
// attempts are refused with 429, the right key included, until the
// window ends.
func TestLoginThrottle(t *testing.T) {
	e := setup(t)
	for i := range maxFailures {
		if got, _ := e.do(t, "POST", "/admin/session", "", `{"key":"wrong"}`); got != 401 {
			t.Fatalf("failure %d = %d, want 401", i, got)
		}
	}
	if got, body := e.do(t, "POST", "/admin/session", "", `{"key":"`+adminKey+`"}`); got != 429 || !strings.Contains(body, "too_many_logins") {
		t.Errorf("login after %d failures = %d %s, want 429", maxFailures, got, body)
	}
	th := newLoginThrottle(func() time.Time { return today })
	for range maxFailures {
		th.failed("1.2.3.4")
	}
	th.now = func() time.Time { return today.Add(failureWindow) }
	if th.blocked("1.2.3.4") || th.blocked("5.6.7.8") {
		t.Error("still blocked after the window, or another address blocked")
	}
}
