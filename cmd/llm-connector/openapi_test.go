package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/openapi"
)

// TestOpenAPIMatchesAnswers calls every documented operation of the
// wired service and validates each real answer against the schema
// /openapi.json gives for its status; every operation is exercised.
func TestOpenAPIMatchesAnswers(t *testing.T) {
	gem := fakegemini.New(t)
	url, _ := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
		"LLM_ADMIN_KEY": e2eAdminKey,
	})
	resp, err := http.Get(url + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Fatalf("/openapi.json: %v %v", err, doc["openapi"])
	}
	resp.Body.Close()
	call := func(method, path, body string, headers ...string) (int, any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
		return resp.StatusCode, v, resp.Header
	}
	admin := []string{"X-Admin-Key", e2eAdminKey}
	// Traffic first, so that stats and requests have rows.
	for range 2 {
		call("POST", "/chat", `{"prompt":"hi"}`)
	}
	_, created, _ := call("POST", "/admin/keys", `{"user":"dora","daily_usd":1}`, admin...)
	keyID, _ := created.(map[string]any)["id"].(string)
	waitStats(t, url, 2)
	_, page, _ := call("GET", "/admin/requests", "", admin...)
	reqID := page.(map[string]any)["rows"].([]any)[0].(map[string]any)["id"].(string)
	_, _, loginHeaders := call("POST", "/admin/session", `{"key":"`+e2eAdminKey+`"}`)
	cookie := strings.Split(loginHeaders.Get("Set-Cookie"), ";")[0]

	cases := []struct {
		method, pattern, path, body string
		headers                     []string
	}{
		{"POST", "/chat", "/chat", `{"prompt":"What is MLOps?"}`, nil},
		{"POST", "/chat", "/chat", `{}`, nil},
		{"GET", "/health", "/health", "", nil},
		{"GET", "/ready", "/ready", "", nil},
		{"GET", "/info", "/info", "", nil},
		{"POST", "/v1/chat/completions", "/v1/chat/completions", `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`, nil},
		{"POST", "/v1/chat/completions", "/v1/chat/completions", `{"messages":"x"}`, nil},
		{"GET", "/v1/models", "/v1/models", "", nil},
		{"GET", "/v1/usage", "/v1/usage", "", []string{"Authorization", "Bearer " + created.(map[string]any)["key"].(string)}},
		{"POST", "/admin/keys", "/admin/keys", `{"user":"erin","models":["gemini-*"]}`, admin},
		{"GET", "/admin/keys", "/admin/keys", "", admin},
		{"GET", "/admin/usage", "/admin/usage?group_by=day,model", "", admin},
		{"GET", "/admin/stats", "/admin/stats?window=hour&group_by=model&latency=1", "", admin},
		{"GET", "/admin/stats", "/admin/stats?window=month", "", admin},
		{"GET", "/admin/stats", "/admin/stats?window=week", "", admin},
		{"GET", "/admin/requests", "/admin/requests?limit=1", "", admin},
		{"GET", "/admin/requests/{id}", "/admin/requests/" + reqID, "", admin},
		{"GET", "/admin/requests/{id}", "/admin/requests/nope", "", admin},
		{"GET", "/admin/providers", "/admin/providers", "", admin},
		{"GET", "/admin/budgets", "/admin/budgets", "", admin},
		{"GET", "/admin/session", "/admin/session", "", []string{"Cookie", cookie}},
		{"POST", "/admin/session", "/admin/session", `{"key":"wrong"}`, nil},
		{"DELETE", "/admin/keys/{id}", "/admin/keys/" + keyID, "", admin},
		{"DELETE", "/admin/session", "/admin/session", "", nil},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		status, v, _ := call(c.method, c.path, c.body, c.headers...)
		var ep *openapi.Endpoint
		for i, e := range openapi.Endpoints {
			if e.Method == c.method && e.Path == c.pattern {
				ep = &openapi.Endpoints[i]
			}
		}
		if ep == nil {
			t.Errorf("%s %s is not documented", c.method, c.pattern)
			continue
		}
		seen[c.method+" "+c.pattern] = true
		schema, ok := ep.Responses[status]
		if !ok {
			t.Errorf("%s %s answered %d, which the document does not list: %v", c.method, c.path, status, v)
			continue
		}
		if err := openapi.Validate(doc, schema, v); err != nil {
			t.Errorf("%s %s (%d) does not match %s: %v", c.method, c.path, status, schema, err)
		}
	}
	for _, e := range openapi.Endpoints {
		if !seen[e.Method+" "+e.Path] {
			t.Errorf("%s %s is documented but not exercised", e.Method, e.Path)
		}
	}

}

// TestDocsPageOffline: /docs is one embedded page that loads nothing
// from another origin.
func TestDocsPageOffline(t *testing.T) {
	url, _ := startService(t, map[string]string{"OLLAMA_HOST": "127.0.0.1:1", "LLM_ADMIN_KEY": e2eAdminKey})
	resp, err := http.Get(url + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.Contains(page, "/openapi.json") || strings.Contains(page, "src=\"http") ||
		strings.Contains(page, "href=\"http") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Errorf("/docs = %d %v", resp.StatusCode, resp.Header)
	}

}
