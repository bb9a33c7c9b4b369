// Package server is the HTTP face of the gateway: routes, JSON decoding
// and validation, SSE writing, request IDs and logging, and the one table
// that maps error kinds to HTTP statuses.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// Info is what GET /info reports: the real configuration.
type Info struct {
	Service       string `json:"service"`
	Version       string `json:"version"`
	Provider      string `json:"provider"`
	Model         string `json:"model"`
	Fallback      string `json:"fallback"`
	MLflowEnabled bool   `json:"mlflow_enabled"`
	// Extra fields beyond the seed's.
	FallbackModel string   `json:"fallback_model,omitempty"`
	GoogleKey     bool     `json:"google_api_key_configured"`
	Providers     []string `json:"providers,omitempty"`
}

// Server holds the dependencies of the HTTP layer.
type Server struct {
	GW        *gateway.Gateway
	Info      Info
	Health    HealthFunc
	Log       *slog.Logger
	BodyLimit int64         // default 1 MiB
	Heartbeat time.Duration // SSE comment interval while a stream is idle; 0 disables
	// Identify returns the caller (set by the auth middleware); nil means
	// anonymous, with the user taken from UserHeader.
	Identify   func(r *http.Request) gateway.Identity
	UserHeader string
	LimitByIP  bool // rate-limit key is the client IP even when a user is known
	// WrapChat and WrapV1, when set, wrap /chat and the /v1 model
	// endpoints (authentication, each answering in its API's error shape).
	WrapChat, WrapV1 func(http.Handler) http.Handler
	// WrapGemini wraps the Gemini-native /v1beta endpoints (gemini.go).
	WrapGemini func(http.Handler) http.Handler
	// WrapAnthropic wraps /v1/messages (authentication answering in
	// Anthropic's error shape); nil takes WrapV1.
	WrapAnthropic func(http.Handler) http.Handler
	// Models lists what GET /v1/models reports; AllowModel, when set,
	// hides the models the caller in ctx may not use (a key's allow-list).
	Models     func() []ModelInfo
	AllowModel func(ctx context.Context, model string) bool
	// Extra registers more routes (metrics, admin) on the mux.
	Extra func(mux *http.ServeMux)
	// Observe, when set, is told the route pattern, status and duration
	// of every request (metrics).
	Observe func(route string, code int, d time.Duration)
	// Trace, when set, wraps the routed handlers inside the request-ID
	// and logging middleware, so it sees the request ID and the matched
	// route pattern (tracing.Tracer.Middleware).
	Trace func(http.Handler) http.Handler
	// Stopping, when set, is done when the service shuts down and
	// requests still running must end: streams end with their API's
	// error event, other requests with a 503. An http.Server whose base
	// context is BaseContext's ends its requests' contexts then; on any
	// other, each request hooks itself to Stopping.
	Stopping context.Context

	// countTokens and embed replace the gateway's in tests.
	gmCount func(context.Context, *gateway.Input) (llm.TokenCount, error)
	gmEmbed func(context.Context, *gateway.EmbedInput) (*gateway.EmbedResult, error)
}

// ModelInfo is one entry of GET /v1/models.
type ModelInfo struct {
	ID      string `json:"id"`
	OwnedBy string `json:"owned_by"`
}

// Handler returns the service's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	wrapChat, wrapV1 := orIdentity(s.WrapChat), orIdentity(s.WrapV1)
	mux.Handle("POST /chat", wrapChat(http.HandlerFunc(s.chat)))
	mux.Handle("POST /v1/chat/completions", wrapV1(http.HandlerFunc(s.completions)))
	mux.Handle("GET /v1/models", wrapV1(http.HandlerFunc(s.models)))
	wrapGemini := orIdentity(s.WrapGemini)
	mux.Handle("POST /v1beta/models/{call...}", wrapGemini(http.HandlerFunc(s.geminiCall)))
	mux.Handle("GET /v1beta/models", wrapGemini(http.HandlerFunc(s.geminiModels)))
	mux.Handle("GET /v1beta/models/{model...}", wrapGemini(http.HandlerFunc(s.geminiModel)))
	wrapAn := wrapV1
	if s.WrapAnthropic != nil {
		wrapAn = s.WrapAnthropic
	}
	mux.Handle("POST /v1/messages", wrapAn(http.HandlerFunc(s.messages)))
	mux.Handle("POST /v1/messages/count_tokens", wrapAn(http.HandlerFunc(s.countTokens)))
	mux.Handle("POST /v1/embeddings", wrapV1(http.HandlerFunc(s.embeddings)))
	mux.Handle("POST /v1/responses", wrapV1(http.HandlerFunc(s.responses)))
	mux.Handle("POST /v1/completions", wrapV1(http.HandlerFunc(s.legacyCompletions)))
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /ready", s.ready)
	mux.HandleFunc("GET /info", s.info)
	if s.Extra != nil {
		s.Extra(mux)
	}
	var routed http.Handler = mux
	if s.Trace != nil {
		routed = s.Trace(mux)
	}
	return s.middleware(mux, routed)
}

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the request ID of ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// middleware gives every request an ID, recovers panics into a JSON 500,
// answers unknown paths and wrong methods in JSON, and logs one line.
func (s *Server) middleware(mux *http.ServeMux, routed http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, echo := requestIDs(r.Header.Get("X-Request-ID"), start)
		w.Header()[hdrID] = []string{echo}
		if id != echo {
			w.Header()[hdrInteraction] = []string{id}
		}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h, pattern := mux.Handler(r)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger().Error("panic serving request", "request_id", id, "panic", p)
				if !rec.wrote {
					writeDetail(rec, http.StatusInternalServerError, "internal error")
				}
			}
			s.logRequest(r, rec, start)
			if s.Observe != nil {
				s.Observe(pattern, rec.status, time.Since(start))
			}
		}()
		// mux.Handler only finds the route; ServeHTTP also sets path
		// values. The mux's own 404/405 answers are plain text, so
		// unrouted requests are answered here in JSON.
		if pattern == "" {
			s.notRouted(rec, r, h)
			return
		}
		routed.ServeHTTP(rec, r)
	})
}

// notRouted answers 404 and 405 in JSON (the mux's own answers are text).
func (s *Server) notRouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &recorder{ResponseWriter: discard{header: http.Header{}}, status: http.StatusOK}
	h.ServeHTTP(probe, r)
	status, detail := http.StatusNotFound, "Not Found"
	if probe.status == http.StatusMethodNotAllowed {
		if allow := probe.Header().Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status, detail = http.StatusMethodNotAllowed, "Method Not Allowed"
	}
	if strings.HasPrefix(r.URL.Path, "/v1/messages") {
		writeAnFail(w, r, &anFail{status: status, typ: map[bool]string{true: "not_found_error", false: "invalid_request_error"}[status == http.StatusNotFound],
			msg: "Invalid URL (" + r.Method + " " + sanitizePath(r.URL.Path) + ")"})
		return
	}
	if r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/") {
		// OpenAI's own answer to an unknown URL, so SDKs parse it.
		writeOAError(w, &oaFail{status: status, err: oaError{Type: "invalid_request_error",
			Message: "Invalid URL (" + r.Method + " " + sanitizePath(r.URL.Path) + ")"}})
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v1beta/") {
		writeGeminiFail(w, &gmFail{status: status, message: detail + " (" + r.Method + " " + sanitizePath(r.URL.Path) + ")"})
		return
	}
	writeDetail(w, status, detail)
}

// sanitizePath cuts a caller's path for an error message.
func sanitizePath(p string) string {
	if len(p) > 128 {
		p = p[:128]
	}
	return strings.ToValidUTF8(p, "")
}

func (s *Server) logRequest(r *http.Request, rec *recorder, start time.Time) {
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	log := s.logger()
	if !log.Enabled(r.Context(), level) {
		return // build nothing when the line would be dropped
	}
	attrs := []slog.Attr{
		slog.String("request_id", RequestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", cutLog(r.URL.Path)), // the caller's: bounded
		slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("remote", clientIP(r)),
	}
	attrs = append(attrs, rec.attrs...)
	log.LogAttrs(r.Context(), level, "request", attrs...)
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) identity(r *http.Request) gateway.Identity {
	if s.Identify != nil {
		if id := s.Identify(r); id.User != "" || id.KeyID != "" {
			return id
		}
	}
	return gateway.Identity{User: sanitize(r.Header.Get(s.userHeader()), 128)}
}

func (s *Server) limitKey(r *http.Request, who gateway.Identity) string {
	switch {
	case s.LimitByIP:
		return "ip:" + clientIP(r)
	case who.KeyID != "":
		return "key:" + who.KeyID
	case who.User != "" && r.Header.Get(s.userHeader()) != "":
		return "user:" + who.User
	}
	return "ip:" + clientIP(r)
}

func (s *Server) userHeader() string {
	if s.UserHeader == "" {
		return "X-User-ID"
	}
	return s.UserHeader
}

// requestIDs returns the interaction's ID and the X-Request-ID to answer
// with. The ID keys the ledger row, the MLflow record and the spool's
// replay, which all skip an ID they already hold, so it is unique per
// request whatever the caller sends: a caller's ID (kept when short and
// plain, and echoed) becomes its prefix, "<caller's ID>.<new ID>". Used
// as the ID itself, a caller repeating one X-Request-ID (a client
// library's retry, a constant in a script) had every later interaction
// dropped as a replay of the first: unbilled, untracked.
func requestIDs(h string, now time.Time) (id, echo string) {
	made := NewRequestID(now)
	if h != "" && len(h) <= maxCallerID && sanitize(h, maxCallerID) == h {
		return h + "." + made, h
	}
	return made, made
}

// maxCallerID bounds the caller's part of an interaction ID.
const maxCallerID = 128

// NewRequestID returns 24 hex characters: the Unix time in milliseconds
// (6 bytes), then 6 random bytes. IDs made later sort later, so the
// ledger's primary-key index grows at its right edge instead of dirtying
// a random page per insert: with random IDs the SQLite ledger cost twice
// the CPU per interaction at 200,000 rows (BenchmarkLedgerWrite).
func NewRequestID(now time.Time) string {
	var b [12]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// sanitize keeps [A-Za-z0-9._:@-] and cuts to max, so header values are
// safe in logs and keys.
func sanitize(s string, max int) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < max; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:@-", c) >= 0 {
			out = append(out, c)
		}
	}
	return string(out)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recorder remembers the status and size for the log line and passes
// Flush through (SSE needs it).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
	attrs  []slog.Attr
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	r.wrote = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// annotate adds attributes to the request's log line.
func annotate(w http.ResponseWriter, attrs ...slog.Attr) {
	for {
		switch x := w.(type) {
		case *recorder:
			x.attrs = append(x.attrs, attrs...)
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

func orIdentity(wrap func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	if wrap == nil {
		return func(h http.Handler) http.Handler { return h }
	}
	return wrap
}

// stopsKey marks a context that ends when Server.Stopping does
// (BaseContext); its value is that Stopping.
type stopsKey struct{}

// BaseContext returns the base context for an http.Server that serves s
// (http.Server.BaseContext): ctx's values without its cancellation, and
// done when s.Stopping is, so that every request's context ends at
// shutdown without a hook of its own (a context and a registration with
// Stopping, under its lock, per request).
func (s *Server) BaseContext(ctx context.Context) context.Context {
	base := context.WithoutCancel(ctx)
	if s.Stopping == nil {
		return base
	}
	base, cancel := context.WithCancel(base)
	context.AfterFunc(s.Stopping, cancel) // as long-lived as the server
	return context.WithValue(base, stopsKey{}, s.Stopping)
}

// requestContext is the context a model request runs under: r's, ended
// at shutdown (Stopping) and, when cancelable, by the returned cancel
// too. A request whose context already ends at shutdown (BaseContext)
// and that needs no cancel of its own gets r's context as it is.
func (s *Server) requestContext(r *http.Request, cancelable bool) (context.Context, context.CancelFunc) {
	ctx := r.Context()
	hooked := s.Stopping == nil || ctx.Value(stopsKey{}) == s.Stopping
	if hooked && !cancelable {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	if hooked {
		return ctx, cancel
	}
	stop := context.AfterFunc(s.Stopping, cancel)
	return ctx, func() { stop(); cancel() }
}
