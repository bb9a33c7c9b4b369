package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
)

func newStore(t testing.TB, b storetest.Backend, now func() time.Time) *Store {
	t.Helper()
	s, err := NewStore(context.Background(), StoreConfig{DB: b.Open(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			s := newStore(t, b, clock)
			other := newStore(t, b, clock) // a second instance on the same database

			plain, k, err := s.Create(ctx, KeySpec{User: "alice", Team: "ml", Models: []string{"gemini-*"}, RPM: 60, DailyUSD: 2})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(plain, "lc-") || len(plain) != 46 || k.Prefix != plain[:9] {
				t.Errorf("key %d chars, prefix %q", len(plain), k.Prefix)
			}
			id, err := other.Authenticate(ctx, plain)
			want := Identity{User: "alice", Team: "ml", KeyID: k.ID, Models: []string{"gemini-*"}, RPM: 60, DailyUSD: 2}
			if err != nil || !equalIdentity(id, want) {
				t.Fatalf("Authenticate = %+v, %v; want %+v", id, err, want)
			}

			keys, err := s.List(ctx, "alice")
			if err != nil || len(keys) != 1 || keys[0].ID != k.ID || keys[0].Revoked {
				t.Fatalf("List = %+v, %v", keys, err)
			}
			js, _ := json.Marshal(keys)
			if strings.Contains(string(js), plain) || strings.Contains(string(js), hashKey(plain)) {
				t.Errorf("listing shows the key or its hash: %s", js)
			}
			var stored int
			s.db.QueryRow(s.db.Rebind(`SELECT COUNT(*) FROM api_keys WHERE hash = ? OR prefix = ? OR id = ?`),
				plain, plain, plain).Scan(&stored)
			if stored != 0 {
				t.Error("the plain key is stored")
			}

			if err := s.Revoke(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Authenticate(ctx, plain); !errors.Is(err, ErrRevokedKey) {
				t.Errorf("revoking instance: %v, want ErrRevokedKey at once", err)
			}
			// The other instance trusts its cache until the TTL passes.
			if _, err := other.Authenticate(ctx, plain); err != nil {
				t.Errorf("other instance within TTL: %v (expected cached success)", err)
			}
			now = now.Add(6 * time.Second)
			if _, err := other.Authenticate(ctx, plain); !errors.Is(err, ErrRevokedKey) {
				t.Errorf("other instance after TTL: %v, want ErrRevokedKey", err)
			}
			if err := s.Revoke(ctx, "key_nope"); !errors.Is(err, ErrKeyNotFound) {
				t.Errorf("Revoke unknown = %v", err)
			}
			for _, bad := range []string{"", "lc-short", "sk-" + plain[3:], plain[:45] + "x"} {
				if _, err := s.Authenticate(ctx, bad); !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrMissingKey) {
					t.Errorf("Authenticate(bad) = %v", err)
				}
			}
			if _, _, err := s.Create(ctx, KeySpec{}); err == nil {
				t.Error("Create without user succeeded")
			}
		})
	}
}

func equalIdentity(a, b Identity) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestAllowsModel(t *testing.T) {
	id := Identity{Models: []string{"gemini-2.5-*", "ollama/*", "GPT-4o"}}
	for model, want := range map[string]bool{
		"gemini-2.5-flash": true, "gemini-2.0-flash": false, "ollama/llama3": true,
		"gpt-4o": true, "gpt-4o-mini": false, "": false,
	} {
		if got := id.AllowsModel(model); got != want {
			t.Errorf("AllowsModel(%q) = %v", model, got)
		}
	}
	if !(Identity{}).AllowsModel("anything") {
		t.Error("an empty allow-list must allow everything")
	}
	if err := id.CheckModel("gpt-4o-mini"); llm.KindOf(err) != llm.KindForbidden {
		t.Errorf("CheckModel = %v, want forbidden", err)
	}
}

type downStore struct{}

func (downStore) Authenticate(context.Context, string) (Identity, error) {
	return Identity{}, errors.New("connection refused")
}

func TestMiddleware(t *testing.T) {
	b := storetest.SQLite(t)
	s := newStore(t, b, nil)
	ctx := context.Background()
	good, gk, _ := s.Create(ctx, KeySpec{User: "alice", Models: []string{"gemini-2.5-flash"}})
	revoked, rk, _ := s.Create(ctx, KeySpec{User: "bob"})
	s.Revoke(ctx, rk.ID)

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(FromContext(r.Context()))
	})
	keyed := Middleware(Config{Keys: s, Logger: logger})(echo)
	detail := Middleware(Config{Keys: s, Logger: logger, WriteError: WriteDetailError})(echo)
	open := Middleware(Config{UserHeader: "X-Team-User", Logger: logger})(echo)
	down := Middleware(Config{Keys: downStore{}, Logger: logger})(echo)
	optional := Middleware(Config{Keys: s, Optional: true, Logger: logger})(echo)

	tests := []struct {
		name     string
		h        http.Handler
		headers  map[string]string
		status   int
		wantBody string
	}{
		{"no key", keyed, nil, 401, `"code":"missing_api_key"`},
		{"wrong key", keyed, map[string]string{"Authorization": "Bearer lc-" + strings.Repeat("A", 43)}, 401, `"code":"invalid_api_key"`},
		{"revoked key", keyed, map[string]string{"Authorization": "Bearer " + revoked}, 401, `"code":"revoked_api_key"`},
		{"basic auth is not a key", keyed, map[string]string{"Authorization": "Basic Zm9vOmJhcg=="}, 401, `"invalid API key"`},
		{"bearer", keyed, map[string]string{"Authorization": "Bearer " + good}, 200, `"key_id":"` + gk.ID + `"`},
		{"x-api-key", keyed, map[string]string{"x-api-key": good}, 200, `"user":"alice"`},
		{"chat error shape", detail, nil, 401, `{"detail":"missing API key`},
		{"open mode header", open, map[string]string{"X-Team-User": "carol"}, 200, `"user":"carol","open":true`},
		{"open mode anonymous", open, nil, 200, `"user":"anonymous"`},
		{"open mode ignores keys", open, map[string]string{"Authorization": "Bearer " + revoked}, 200, `"user":"anonymous"`},
		{"optional: no key is open", optional, map[string]string{"X-User-ID": "dave"}, 200, `"user":"dave","open":true`},
		{"optional: a valid key identifies", optional, map[string]string{"Authorization": "Bearer " + good}, 200, `"key_id":"` + gk.ID + `"`},
		{"optional: a wrong key is refused", optional, map[string]string{"x-api-key": "lc-wrong"}, 401, `"code":"invalid_api_key"`},
		{"optional: a revoked key is refused", optional, map[string]string{"Authorization": "Bearer " + revoked}, 401, `"code":"revoked_api_key"`},
		{"store down", down, map[string]string{"Authorization": "Bearer " + good}, 503, `"code":"auth_unavailable"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("got %d %s; want %d containing %s", rec.Code, rec.Body, tt.status, tt.wantBody)
			}
		})
	}
	for _, secret := range []string{good, revoked, hashKey(good), hashKey(revoked), good[:12]} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs hold a key or hash: %s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "reason=revoked_api_key") {
		t.Errorf("refusals are not logged: %s", logs.String())
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	s := newStore(b, storetest.SQLite(b), nil)
	s.ttl = time.Hour
	ctx := context.Background()
	plain, _, err := s.Create(ctx, KeySpec{User: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, plain); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Authenticate(ctx, plain); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
