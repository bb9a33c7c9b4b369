package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/auth"
)

// The dashboard's session: a signed token in an HttpOnly, SameSite=Strict
// cookie (Secure over TLS). It holds who logged in (the admin, or a
// user's key id), never a key. The signing key is derived from the admin
// key, so every instance with the same admin key accepts it and rotating
// the admin key ends every session; without an admin key it is random
// per process. A user's session ends as soon as its key is revoked.
const (
	SessionCookie = "llmc_session"
	// CSRFHeader carries the session's CSRF token on every change made
	// with the cookie (POST, DELETE).
	CSRFHeader = "X-CSRF-Token"
	sessionTTL = 8 * time.Hour
)

// principal is who makes an admin-API request.
type principal struct {
	Admin  bool   `json:"admin"`
	User   string `json:"user,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	Expiry int64  `json:"exp"`
	Nonce  string `json:"n"`
	cookie bool   // authenticated by the session cookie (changes need CSRF)
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// sessions signs and checks session tokens.
type sessions struct {
	secret []byte
	now    func() time.Time
}

func newSessions(adminKey string, now func() time.Time) *sessions {
	s := &sessions{now: now}
	if adminKey != "" {
		sum := sha256.Sum256([]byte("llm-connector dashboard session v1\x00" + adminKey))
		s.secret = sum[:]
	} else {
		s.secret = make([]byte, 32)
		rand.Read(s.secret)
	}
	return s
}

func (s *sessions) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return m.Sum(nil)
}

func (s *sessions) issue(p principal) string {
	var n [12]byte
	rand.Read(n[:])
	p.Nonce = base64.RawURLEncoding.EncodeToString(n[:])
	p.Expiry = s.now().Add(sessionTTL).Unix()
	body, _ := json.Marshal(p)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
}

var errSession = errors.New("invalid or expired session")

func (s *sessions) parse(token string) (principal, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 2048 {
		return principal{}, errSession
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", payload)) {
		return principal{}, errSession
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	var p principal
	if err != nil || json.Unmarshal(body, &p) != nil || s.now().Unix() >= p.Expiry {
		return principal{}, errSession
	}
	p.cookie = true
	return p, nil
}

// csrf is the session's CSRF token: bound to the cookie, so a token of
// another session does not pass.
func (s *sessions) csrf(token string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", token))
}

// login: POST /admin/session {"key": "..."} with the admin key or a
// user's API key. The answer sets the cookie and carries the CSRF token.
func (h *handlers) login(w http.ResponseWriter, r *http.Request) {
	if err := h.origin.Check(r); err != nil {
		h.fail(w, r, http.StatusForbidden, "cross_origin", "cross-origin request refused")
		return
	}
	var body struct {
		Key string `json:"key"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	if err := dec.Decode(&body); err != nil || body.Key == "" {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", `want {"key": "..."}`)
		return
	}
	addr := clientAddr(r)
	if h.logins.blocked(addr) {
		w.Header().Set("Retry-After", retryAfterSecs)
		h.fail(w, r, http.StatusTooManyRequests, "too_many_logins", "too many failed logins: retry in a minute")
		return
	}
	p, ok := h.identify(r.Context(), body.Key)
	if !ok {
		h.logins.failed(addr)
		h.d.Logger.Info("dashboard login refused")
		h.fail(w, r, http.StatusUnauthorized, "invalid_key", "invalid or revoked key")
		return
	}
	token := h.sess.issue(p)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	w.Header().Set("Cache-Control", "no-store")
	h.d.Logger.Info("dashboard login", "admin", p.Admin, "user", p.User)
	writeJSON(w, http.StatusOK, sessionAnswer{Admin: p.Admin, User: p.User, KeyID: p.KeyID, CSRF: h.sess.csrf(token)})
}

// sessionAnswer is the JSON of the session endpoints.
type sessionAnswer struct {
	Admin bool   `json:"admin"`
	User  string `json:"user,omitempty"`
	KeyID string `json:"key_id,omitempty"`
	CSRF  string `json:"csrf_token"`
}

// whoami: GET /admin/session answers the cookie's session (and its CSRF
// token, for a page loaded after login).
func (h *handlers) whoami(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		h.fail(w, r, http.StatusUnauthorized, "no_session", "not logged in")
		return
	}
	p, ok := h.fromCookie(r.Context(), c.Value)
	if !ok {
		h.fail(w, r, http.StatusUnauthorized, "no_session", errSession.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, sessionAnswer{Admin: p.Admin, User: p.User, KeyID: p.KeyID, CSRF: h.sess.csrf(c.Value)})
}

// logout: DELETE /admin/session clears the cookie.
func (h *handlers) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]any{"logged_out": true})
}

// identify maps a presented key to a principal: the admin key (constant
// time) or a live user key.
func (h *handlers) identify(ctx context.Context, key string) (principal, bool) {
	if h.d.AdminKey != "" {
		got, want := sha256.Sum256([]byte(key)), sha256.Sum256([]byte(h.d.AdminKey))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			return principal{Admin: true}, true
		}
	}
	if h.d.Keys == nil {
		return principal{}, false
	}
	id, err := h.d.Keys.Authenticate(ctx, key)
	if err != nil || id.KeyID == "" {
		return principal{}, false
	}
	return principal{User: id.User, KeyID: id.KeyID}, true
}

// fromCookie checks a session token, and that a user session's key is
// still live.
func (h *handlers) fromCookie(ctx context.Context, token string) (principal, bool) {
	p, err := h.sess.parse(token)
	if err != nil {
		return principal{}, false
	}
	if p.Admin {
		return p, h.d.AdminKey != ""
	}
	if h.d.Keys == nil {
		return principal{}, false
	}
	k, err := h.d.Keys.Key(ctx, p.KeyID)
	if err != nil || k.Revoked || k.User != p.User {
		return principal{}, false
	}
	return p, true
}

// authenticate finds the request's principal: a key in X-Admin-Key or
// Authorization, else the session cookie. A change made with the cookie
// must carry the session's CSRF token and come from this origin.
func (h *handlers) authenticate(r *http.Request) (p principal, status int, code, msg string) {
	presented := r.Header.Get("X-Admin-Key")
	if presented == "" {
		presented = auth.PresentedKey(r)
	}
	if presented != "" {
		if p, ok := h.identify(r.Context(), presented); ok {
			return p, 0, "", ""
		}
		h.d.Logger.Info("admin request refused", "path", cutPath(r.URL.Path))
		return p, http.StatusForbidden, "not_admin", "the admin key is required"
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return p, http.StatusUnauthorized, "missing_admin_key", "missing admin key"
	}
	p, ok := h.fromCookie(r.Context(), c.Value)
	if !ok {
		return p, http.StatusUnauthorized, "no_session", errSession.Error()
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := h.origin.Check(r); err != nil {
			return principal{}, http.StatusForbidden, "cross_origin", "cross-origin request refused"
		}
		want := h.sess.csrf(c.Value)
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(want)) != 1 {
			return principal{}, http.StatusForbidden, "csrf", "missing or wrong " + CSRFHeader
		}
	}
	return p, 0, "", ""
}

func cutPath(p string) string {
	if len(p) > 128 {
		p = p[:128]
	}
	return strings.ToValidUTF8(p, "")
}
