package openapi

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// Endpoint is one operation of the document.
type Endpoint struct {
	Method, Path, Summary, Tag string
	Request                    string         // schema name of the JSON body; "" = none
	Responses                  map[int]string // status → schema name
	Query                      []string       // query parameters
	Auth                       string         // "", "admin", "key" (an API key when auth is required), "admin_or_user"
	CSV                        bool           // also answers text/csv with Accept: text/csv
	SSE                        bool           // answers text/event-stream with "stream": true
}

// Endpoints are the service's documented operations.
var Endpoints = []Endpoint{
	{Method: "POST", Path: "/chat", Tag: "chat", Summary: "The seed's chat endpoint (stream with \"stream\": true: SSE)", Request: "ChatRequest",
		Responses: map[int]string{200: "ChatResponse", 400: "DetailError", 401: "DetailError", 422: "DetailError", 429: "DetailError", 502: "DetailError", 503: "DetailError"}, Auth: "key", SSE: true},
	{Method: "GET", Path: "/health", Tag: "service", Summary: "Health, per component (?deep=1 probes providers and backends)", Query: []string{"deep"},
		Responses: map[int]string{200: "Health", 503: "Health"}},
	{Method: "GET", Path: "/ready", Tag: "service", Summary: "Readiness: the deep health check", Responses: map[int]string{200: "Health", 503: "Health"}},
	{Method: "GET", Path: "/info", Tag: "service", Summary: "The running configuration", Responses: map[int]string{200: "Info"}},
	{Method: "POST", Path: "/v1/chat/completions", Tag: "openai", Summary: "OpenAI Chat Completions (stream: SSE chunks)", Request: "ChatCompletionRequest",
		Responses: map[int]string{200: "ChatCompletion", 400: "OpenAIError", 401: "AuthError", 429: "OpenAIError", 502: "OpenAIError"}, Auth: "key", SSE: true},
	{Method: "GET", Path: "/v1/models", Tag: "openai", Summary: "The models a caller may use", Responses: map[int]string{200: "ModelList", 401: "AuthError"}, Auth: "key"},
	{Method: "GET", Path: "/v1/usage", Tag: "usage", Summary: "The caller's own usage by day and model, and budgets", Query: []string{"from", "to"},
		Responses: map[int]string{200: "Usage", 401: "AuthError"}, Auth: "key", CSV: true},
	{Method: "POST", Path: "/admin/keys", Tag: "admin", Summary: "Create an API key (the plain key is in this answer only)", Request: "KeySpec",
		Responses: map[int]string{201: "CreatedKey", 400: "AuthError", 403: "AuthError"}, Auth: "admin"},
	{Method: "GET", Path: "/admin/keys", Tag: "admin", Summary: "List keys (never hashes)", Query: []string{"user"},
		Responses: map[int]string{200: "KeyList", 403: "AuthError"}, Auth: "admin", CSV: true},
	{Method: "DELETE", Path: "/admin/keys/{id}", Tag: "admin", Summary: "Revoke a key", Responses: map[int]string{200: "Revoked", 404: "AuthError"}, Auth: "admin"},
	{Method: "GET", Path: "/admin/usage", Tag: "admin", Summary: "Usage from the daily rollups", Query: []string{"user", "key", "from", "to", "group_by"},
		Responses: map[int]string{200: "Usage", 400: "AuthError"}, Auth: "admin", CSV: true},
	{Method: "GET", Path: "/admin/stats", Tag: "dashboard", Summary: "Requests, tokens, cost, errors, fallbacks, cache hits and latency percentiles per hour, day or month, from the rollups",
		Query:     []string{"window", "from", "to", "group_by", "limit", "user", "key", "latency"},
		Responses: map[int]string{200: "Stats", 400: "AuthError", 401: "AuthError"}, Auth: "admin_or_user"},
	{Method: "GET", Path: "/admin/requests", Tag: "dashboard", Summary: "The ledger newest first, keyset-paginated (cursor = the previous page's next)",
		Query:     []string{"user", "key", "model", "status", "from", "to", "cursor", "limit"},
		Responses: map[int]string{200: "RequestPage", 400: "AuthError"}, Auth: "admin_or_user"},
	{Method: "GET", Path: "/admin/requests/{id}", Tag: "dashboard", Summary: "One request (the ledger keeps no prompt or answer)",
		Responses: map[int]string{200: "RequestDetail", 404: "AuthError"}, Auth: "admin_or_user"},
	{Method: "GET", Path: "/admin/providers", Tag: "dashboard", Summary: "Targets, breakers, last errors, cooldowns, tracking backlog, ledger, cache and limiter state",
		Responses: map[int]string{200: "ProvidersStatus"}, Auth: "admin"},
	{Method: "GET", Path: "/admin/budgets", Tag: "dashboard", Summary: "Every limited key's budgets and their consumption", Query: []string{"user"},
		Responses: map[int]string{200: "Budgets"}, Auth: "admin"},
	{Method: "POST", Path: "/admin/session", Tag: "dashboard", Summary: "Log in to the dashboard with the admin key or a user's API key: sets the session cookie",
		Request: "Login", Responses: map[int]string{200: "Session", 401: "AuthError", 429: "AuthError"}},
	{Method: "GET", Path: "/admin/session", Tag: "dashboard", Summary: "The cookie's session and its CSRF token", Responses: map[int]string{200: "Session", 401: "AuthError"}},
	{Method: "DELETE", Path: "/admin/session", Tag: "dashboard", Summary: "Log out", Responses: map[int]string{200: "LoggedOut"}},
}

// Document builds the OpenAPI 3.1 document from the handlers' types (by
// schema name, as server.APITypes and admin.APITypes give them).
func Document(types map[string]any, version string) map[string]any {
	schemas := map[string]any{}
	for name, v := range types {
		schemas[name] = schemaOf(reflect.TypeOf(v))
	}
	paths := map[string]any{}
	for _, e := range Endpoints {
		item, _ := paths[e.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[e.Path] = item
		}
		item[strings.ToLower(e.Method)] = operation(e)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "llm-connector", "version": version,
			"description": "An LLM gateway: the seed's /chat, OpenAI-compatible /v1, usage, keys and the dashboard's endpoints."},
		"paths": paths,
		"components": map[string]any{"schemas": schemas, "securitySchemes": map[string]any{
			"adminKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-Admin-Key", "description": "LLM_ADMIN_KEY (Authorization: Bearer works too)"},
			"apiKey":   map[string]any{"type": "http", "scheme": "bearer", "description": "an API key from /admin/keys"},
			"session":  map[string]any{"type": "apiKey", "in": "cookie", "name": "llmc_session", "description": "the dashboard's session; changes also need X-CSRF-Token"},
		}},
	}
}

func operation(e Endpoint) map[string]any {
	op := map[string]any{"summary": e.Summary, "tags": []any{e.Tag}, "operationId": strings.ToLower(e.Method) + strings.NewReplacer("/", "_", "{", "", "}", "").Replace(e.Path)}
	var params []any
	if strings.Contains(e.Path, "{id}") {
		params = append(params, map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range e.Query {
		params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
	}
	if params != nil {
		op["parameters"] = params
	}
	if e.Request != "" {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(e.Request)}}}
	}
	responses := map[string]any{}
	codes := make([]int, 0, len(e.Responses))
	for c := range e.Responses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		content := map[string]any{"application/json": map[string]any{"schema": ref(e.Responses[c])}}
		if c < 300 && e.CSV {
			content["text/csv"] = map[string]any{"schema": map[string]any{"type": "string"}}
		}
		if c < 300 && e.SSE {
			content["text/event-stream"] = map[string]any{"schema": map[string]any{"type": "string"}}
		}
		responses[itoa(c)] = map[string]any{"description": http.StatusText(c), "content": content}
	}
	op["responses"] = responses
	switch e.Auth {
	case "admin":
		op["security"] = []any{map[string]any{"adminKey": []any{}}, map[string]any{"session": []any{}}}
	case "admin_or_user":
		op["security"] = []any{map[string]any{"adminKey": []any{}}, map[string]any{"apiKey": []any{}}, map[string]any{"session": []any{}}}
	case "key":
		op["security"] = []any{map[string]any{}, map[string]any{"apiKey": []any{}}}
	}
	return op
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

//go:embed docs.html
var docsPage embed.FS

// docsScriptHash is the CSP hash of the page's one inline script.
var docsScriptHash = func() string {
	page, _ := docsPage.ReadFile("docs.html")
	_, rest, _ := strings.Cut(string(page), "<script>")
	script, _, _ := strings.Cut(rest, "</script>")
	sum := sha256.Sum256([]byte(script))
	return base64.StdEncoding.EncodeToString(sum[:])
}()

// Register adds GET /openapi.json and GET /docs (an embedded page that
// renders the document offline).
func Register(mux *http.ServeMux, types map[string]any, version string) {
	doc, err := json.MarshalIndent(Document(types, version), "", "  ")
	if err != nil {
		panic("openapi: " + err.Error()) // the types are the program's own
	}
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		page, _ := docsPage.ReadFile("docs.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'sha256-"+docsScriptHash+"'; style-src 'unsafe-inline'; connect-src 'self'")
		w.Write(page)
	})
}
