package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/server"
)

// backendProbes are the deep checks of what the service depends on
// besides providers: the database, Redis and the MLflow server.
func backendProbes(cfg *config.Config, rdb *redis.Client, acc *accounting, hc *http.Client) map[string]func(context.Context) error {
	p := map[string]func(context.Context) error{
		"database": func(ctx context.Context) error { return acc.db.PingContext(ctx) },
	}
	if rdb != nil {
		p["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	}
	if uri := cfg.MLflow.TrackingURI; uri != "" {
		p["mlflow"] = func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri+"/health", nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
	}
	return p
}

// probeBackends runs the probes at once, each with a short timeout. A
// failing backend degrades the service (it keeps serving: the cache and
// limits degrade, records wait in their queues).
func probeBackends(ctx context.Context, probes map[string]func(context.Context) error, h *server.Health) {
	type result struct {
		name string
		err  error
	}
	out := make(chan result, len(probes))
	for name, probe := range probes {
		go func() {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			out <- result{name, probe(pctx)}
		}()
	}
	for range probes {
		r := <-out
		comp, _ := h.Components[r.name].(map[string]any)
		if comp == nil {
			comp = map[string]any{}
			h.Components[r.name] = comp
		}
		if r.err != nil {
			comp["reachable"], comp["error"] = false, "unreachable"
			if h.Status == server.Healthy {
				h.Status = server.Degraded
			}
			continue
		}
		comp["reachable"] = true
	}
}

// healthOf reports breaker states and configuration problems without I/O,
// and probes providers when deep.
func healthOf(cfg *config.Config, table *route.Table, backends map[string]route.Backend, degraded map[string]func() bool) server.HealthFunc {
	return func(ctx context.Context, deep bool) server.Health {
		h := server.Health{Status: server.Healthy, Components: map[string]any{}}
		states := map[string]router.TargetHealth{}
		for _, th := range table.Breakers().Health() {
			states[th.Name] = th
		}
		usable, providers := 0, 0
		for _, name := range []string{cfg.Provider, cfg.Fallback} {
			if name == "" || name == "none" {
				continue
			}
			comp := providerHealth(ctx, cfg, name, backends, states, deep)
			h.Components[name] = comp
			if comp["status"] == "not_configured" {
				continue // a configuration fact (no key), not a degradation
			}
			providers++
			switch comp["status"] {
			case "ok":
				usable++
			case "degraded": // recent calls failed, but it is still tried
				usable++
				h.Status = server.Degraded
			}
		}
		for name, isDegraded := range degraded {
			if isDegraded() {
				h.Components[name] = map[string]any{"status": "degraded", "reason": "backend unreachable; serving without it"}
				h.Status = server.Degraded
			}
		}
		switch {
		case usable == 0:
			h.Status = server.Unhealthy
		case usable < providers:
			h.Status = server.Degraded
		}
		return h
	}
}

func providerHealth(ctx context.Context, cfg *config.Config, name string, backends map[string]route.Backend,
	states map[string]router.TargetHealth, deep bool) map[string]any {
	model := modelOf(cfg, name)
	comp := map[string]any{"model": model, "status": "ok"}
	b, ok := backends[name]
	if !ok {
		comp["status"], comp["reason"] = "not_configured", "not configured"
		if name == "google" {
			comp["reason"] = "GOOGLE_API_KEY is not set"
		}
		return comp
	}
	if st, ok := states[name+"/"+model]; ok {
		comp["breaker"] = st
		switch {
		case st.State == router.StateOpen:
			comp["status"], comp["reason"] = "unavailable", "circuit open after repeated failures: "+st.LastError
		case st.ConsecutiveFailures > 0:
			comp["status"], comp["reason"] = "degraded", "recent calls failed: "+st.LastError
		}
	}
	if deep {
		if err := probeProvider(ctx, b.P, model); err != nil {
			comp["status"], comp["reason"] = "unavailable", llm.PublicMessage(err)
		}
	}
	return comp
}

// probeProvider is the deep check of one configured provider: that its
// configured model exists and may be used (llm.ModelChecker), else that
// it answers at all (llm.Pinger).
func probeProvider(ctx context.Context, p llm.Provider, model string) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c, ok := llm.As[llm.ModelChecker](p); ok {
		return c.CheckModel(pctx, model)
	}
	if c, ok := llm.As[llm.Pinger](p); ok {
		return c.Ping(pctx)
	}
	return nil
}
