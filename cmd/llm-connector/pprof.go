package main

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
)

// registerPprof serves the Go profiler under /debug/pprof/, behind the
// admin key; without an admin key it is not served at all.
func registerPprof(mux *http.ServeMux, adminKey string) {
	if adminKey == "" {
		return
	}
	guard := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if key == "" {
				key = r.Header.Get("X-Admin-Key")
			}
			if subtle.ConstantTimeCompare([]byte(key), []byte(adminKey)) != 1 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"detail":"the profiler needs the admin key"}` + "\n"))
				return
			}
			h(w, r)
		})
	}
	mux.Handle("GET /debug/pprof/", guard(pprof.Index))
	mux.Handle("GET /debug/pprof/cmdline", guard(pprof.Cmdline))
	mux.Handle("GET /debug/pprof/profile", guard(pprof.Profile))
	mux.Handle("GET /debug/pprof/symbol", guard(pprof.Symbol))
	mux.Handle("GET /debug/pprof/trace", guard(pprof.Trace))
}
