package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// Authenticator maps a presented key to an Identity; *Store is one.
type Authenticator interface {
	Authenticate(ctx context.Context, raw string) (Identity, error)
}

// ErrorWriter answers a refused request. code is a stable machine name
// ("missing_api_key", "invalid_api_key", "revoked_api_key",
// "auth_unavailable"); message is safe to show and holds no key.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, code, message string)

// Config configures Middleware.
type Config struct {
	// Keys checks API keys. Nil is open mode (the seed's behaviour): no
	// key is asked for and the user comes from UserHeader.
	Keys Authenticator
	// Optional, with Keys set, lets a request without a key through in
	// open mode (user from UserHeader); a key that is presented is still
	// checked: a valid one identifies the caller, a wrong or revoked one
	// is a 401 (AUTH_REQUIRED=false).
	Optional bool
	// UserHeader names the header that carries the user in open mode.
	// Default: "X-User-ID".
	UserHeader string
	// AnonymousUser is the user in open mode when the header is absent.
	// Default: "anonymous".
	AnonymousUser string
	// WriteError answers 401/503. Default: WriteOpenAIError.
	WriteError ErrorWriter
	Logger     *slog.Logger
	// GoogleKeys also reads the key where the Gemini API takes it:
	// x-goog-api-key, else the "key" query parameter (gemini.go).
	GoogleKeys bool
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the caller the middleware identified, or the zero
// Identity.
func FromContext(ctx context.Context) Identity {
	id, _ := ctx.Value(ctxKey{}).(Identity)
	return id
}

// maxUserLen bounds a user name taken from a header.
const maxUserLen = 128

// Middleware identifies the caller and stores the Identity in the request
// context. With a key store it reads "Authorization: Bearer <key>" (or
// "x-api-key") and answers 401 for a missing (unless Optional), wrong or
// revoked key and 503 when the store is down. Nothing about the key is
// logged.
func Middleware(cfg Config) func(http.Handler) http.Handler {
	if cfg.UserHeader == "" {
		cfg.UserHeader = "X-User-ID"
	}
	if cfg.AnonymousUser == "" {
		cfg.AnonymousUser = "anonymous"
	}
	if cfg.WriteError == nil {
		cfg.WriteError = WriteOpenAIError
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := PresentedKey(r)
			if key == "" && cfg.GoogleKeys {
				key = googleKey(r)
			}
			if cfg.Keys == nil || (cfg.Optional && key == "") {
				id := Identity{User: headerUser(r.Header.Get(cfg.UserHeader), cfg.AnonymousUser), Open: true}
				next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
				return
			}
			id, err := cfg.Keys.Authenticate(r.Context(), key)
			if err != nil {
				status, code, msg := classify(err)
				cfg.Logger.Info("request refused by auth", "path", cutPath(r.URL.Path), "reason", code)
				if status == http.StatusServiceUnavailable {
					cfg.Logger.Error("key store unavailable", "err", err)
				}
				cfg.WriteError(w, r, status, code, msg)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
		})
	}
}

// PresentedKey returns the key of a request: the Bearer token of
// Authorization, else x-api-key, else "".
func PresentedKey(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return "malformed" // present but not a bearer token: invalid, not missing
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

func classify(err error) (status int, code, msg string) {
	switch {
	case errors.Is(err, ErrMissingKey):
		return http.StatusUnauthorized, "missing_api_key",
			"missing API key: send Authorization: Bearer <key> or x-api-key"
	case errors.Is(err, ErrInvalidKey):
		return http.StatusUnauthorized, "invalid_api_key", "invalid API key"
	case errors.Is(err, ErrRevokedKey):
		return http.StatusUnauthorized, "revoked_api_key", "API key revoked"
	}
	return http.StatusServiceUnavailable, "auth_unavailable", "authentication temporarily unavailable"
}

// cutPath bounds a request path for a log line.
func cutPath(p string) string {
	if len(p) > maxUserLen {
		return p[:maxUserLen] + "...(cut)"
	}
	return p
}

func headerUser(v, anonymous string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return anonymous
	}
	if len(v) > maxUserLen {
		v = v[:maxUserLen]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

// WriteOpenAIError writes {"error": {"message", "type", "code"}}, the
// OpenAI-compatible shape used under /v1.
func WriteOpenAIError(w http.ResponseWriter, _ *http.Request, status int, code, message string) {
	typ := "invalid_request_error"
	if status == http.StatusUnauthorized {
		typ = "authentication_error"
	} else if status >= 500 {
		typ = "api_error"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": message, "type": typ, "code": code}})
}

// WriteDetailError writes {"detail": message}, the seed's /chat shape.
func WriteDetailError(w http.ResponseWriter, _ *http.Request, status int, _, message string) {
	writeJSON(w, status, map[string]string{"detail": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="llm-connector"`)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
