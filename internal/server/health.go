package server

import (
	"context"
	"net/http"
	"time"
)

// Health is the body of GET /health. The seed's two fields come first;
// the rest says why the service is degraded, per component.
type Health struct {
	Status  string `json:"status"` // healthy | degraded | unhealthy
	Service string `json:"service"`
	// Components maps a component (a provider, "tracking", "redis") to
	// its state; values are JSON objects.
	Components map[string]any `json:"components,omitempty"`
}

// Health statuses.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// HealthFunc reports the service's health. deep asks it to probe
// providers and backends (with short timeouts); otherwise it must answer
// from memory, without I/O.
type HealthFunc func(ctx context.Context, deep bool) Health

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	deep := r.URL.Query().Get("deep") != "" && r.URL.Query().Get("deep") != "0"
	s.writeHealth(w, r, deep)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) { s.writeHealth(w, r, true) }

func (s *Server) writeHealth(w http.ResponseWriter, r *http.Request, deep bool) {
	h := Health{Status: Healthy, Service: "llm-service"}
	if s.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		h = s.Health(ctx, deep)
		h.Service = "llm-service"
	}
	status := http.StatusOK
	if h.Status == Unhealthy {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, h)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	info := s.Info
	if info.Service == "" {
		info.Service = "llm-service"
	}
	if info.Version == "" {
		info.Version = "1.0.0"
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) bodyLimit() int64 {
	if s.BodyLimit > 0 {
		return s.BodyLimit
	}
	return 1 << 20
}
