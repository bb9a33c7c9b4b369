package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/store/storetest"
)

// TestGoogleKeys: with GoogleKeys the key may also come where the Gemini
// API takes it (x-goog-api-key, ?key=); without it those places are not
// read; refusals are in Gemini's shape and never echo the key.
func TestGoogleKeys(t *testing.T) {
	s := newStore(t, storetest.SQLite(t), nil)
	good, gk, _ := s.Create(context.Background(), KeySpec{User: "gina"})
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(FromContext(r.Context()))
	})
	gem := Middleware(Config{Keys: s, WriteError: WriteGeminiError, GoogleKeys: true})(echo)
	plain := Middleware(Config{Keys: s})(echo)
	wrong := "lc-" + strings.Repeat("B", 43)
	tests := []struct {
		name   string
		h      http.Handler
		header string
		query  string
		status int
		want   string
	}{
		{"x-goog-api-key", gem, good, "", 200, `"key_id":"` + gk.ID + `"`},
		{"?key=", gem, "", "key=" + good, 200, `"user":"gina"`},
		{"wrong key", gem, wrong, "", 401, `{"error":{"code":401,"message":"invalid API key","status":"UNAUTHENTICATED"}}`},
		{"no key", gem, "", "", 401, `"status":"UNAUTHENTICATED"`},
		{"other surfaces do not read ?key=", plain, "", "key=" + good, 401, `missing_api_key`},
		{"other surfaces do not read x-goog-api-key", plain, good, "", 401, `missing_api_key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/v1beta/models/default:generateContent?"+tt.query, nil)
			if tt.header != "" {
				req.Header.Set("x-goog-api-key", tt.header)
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) || strings.Contains(rec.Body.String(), wrong) {
				t.Errorf("got %d %s; want %d containing %s", rec.Code, rec.Body, tt.status, tt.want)
			}
		})
	}
}
