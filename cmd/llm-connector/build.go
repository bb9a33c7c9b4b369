package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-connector/llm-connector/internal/admin"
	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/metrics"
	"github.com/llm-connector/llm-connector/internal/openapi"
	"github.com/llm-connector/llm-connector/internal/provider/anthropic"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
	"github.com/llm-connector/llm-connector/internal/provider/ollama"
	"github.com/llm-connector/llm-connector/internal/provider/openai"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/server"
	"github.com/llm-connector/llm-connector/internal/tracing"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/ui"
)

// app is the wired service.
type app struct {
	handler http.Handler
	closers []func(context.Context) error
	routes  *route.Table
	// closeTimeout bounds flushing queues (tracking, ledger) when no
	// shutdown deadline was set (a failed start).
	closeTimeout time.Duration
	// stopStreams ends the requests still running (server.Server.Stopping).
	stopStreams context.CancelFunc
}

// close flushes and closes every component by deadline (the shutdown's
// one deadline; zero: closeTimeout from now).
func (a *app) close(log *slog.Logger, deadline time.Time) {
	if deadline.IsZero() {
		deadline = time.Now().Add(a.closeTimeout)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if a.stopStreams != nil {
		a.stopStreams()
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](ctx); err != nil {
			log.Error("shutdown step failed", "err", err)
		}
	}
}

// build wires every component from cfg.
// tcfg is read from the same environment (tracing.ConfigFromEnv).
func build(ctx context.Context, cfg *config.Config, tcfg tracing.Config, log *slog.Logger) (*app, error) {
	a := &app{closeTimeout: cfg.ShutdownTimeout}
	stopping, stopStreams := context.WithCancel(context.Background())
	a.stopStreams = stopStreams
	tcfg.Log = log
	tracer, err := tracing.Setup(ctx, tcfg)
	if err != nil {
		return nil, err
	}
	// First in, so it runs last: spans of drained requests still leave.
	a.closers = append(a.closers, tracer.Shutdown)
	hc := providerHTTPClient(cfg)
	hc.Transport = tracer.Transport(hc.Transport)
	backends, err := buildBackends(cfg, hc, log)
	if err != nil {
		return nil, err
	}
	rdb, err := redisClient(cfg)
	if err != nil {
		return nil, err
	}
	if rdb != nil {
		redis.SetLogger(redisLogger{log})
		a.closers = append(a.closers, func(context.Context) error { return rdb.Close() })
	}
	outbound(cfg, rdb, backends, log)
	groups, err := wireGroups(cfg, rdb, hc, backends, log)
	if err != nil {
		return nil, err
	}
	if cfg.Google.APIKey == "" && cfg.Provider == "google" {
		log.Warn("GOOGLE_API_KEY is not set: Gemini is disabled and requests go to the fallback",
			"fallback", cfg.Fallback)
	}
	primary := cfg.Provider
	if _, ok := backends[primary]; !ok {
		if cfg.Fallback == "" || cfg.Fallback == "none" {
			return nil, fmt.Errorf("primary provider %q has no credentials and there is no fallback", primary)
		}
		primary = cfg.Fallback
	}
	logStartup(log, cfg, backends, primary)
	table, err := route.New(route.Config{
		Backends:      backends,
		Primary:       primary,
		Fallback:      cfg.Fallback,
		Aliases:       aliasesOf(cfg, backends, log),
		Policy:        policyOf(cfg),
		Breakers:      router.NewBreakers(router.BreakerConfig{Failures: cfg.Retry.BreakerFailures, Cooldown: cfg.Retry.BreakerCooldown}),
		ContextWindow: route.ContextWindow,
	})
	if err != nil {
		return nil, err
	}
	a.routes = table
	gw := &gateway.Gateway{Routes: table, Log: log}
	if gw.EmbedRoutes, err = table.EmbedResolver(embeddingChain(cfg, backends, log)); err != nil {
		return nil, err
	}
	gw.Images = imagePolicy(cfg, log)
	degraded := wireLimits(cfg, rdb, gw, log)
	if groups.redis != nil {
		degraded["deployment_state"] = groups.redis.Degraded
	}
	acc, err := openAccounting(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, acc.close)
	wrapChat, wrapV1 := acc.wire(cfg, gw, log)
	tracker, closeQueueDB, err := openTracker(ctx, cfg, log)
	if err != nil {
		a.close(log, time.Time{})
		return nil, err
	}
	if closeQueueDB != nil { // closers run last first: the database after the tracker
		a.closers = append(a.closers, closeQueueDB)
	}
	var known []string
	for _, m := range table.Models() {
		known = append(known, m.ID)
	}
	met := metrics.New(metrics.WithCache(cfg.Cache.Enabled), metrics.WithModels(known...))
	sinks := track.Multi{met, acc.ledger}
	if tracker != nil {
		sinks = append(sinks, tracker)
		a.closers = append(a.closers, tracker.Close)
		met.RegisterTracking(func() metrics.TrackingStats {
			st := tracker.Stats()
			rate := -1.0
			if st.TraceAPI != "" {
				rate = st.TraceSampleRate
			}
			return metrics.TrackingStats{Backlog: st.Backlog, OldestAge: st.OldestAge,
				Dropped: st.Dropped + st.Rejected, ShipErrors: st.Failures, Shipped: st.Shipped, TraceSampleRate: rate}
		})
	}
	met.RegisterBreakers(func() []metrics.BreakerHealth {
		hs := table.Breakers().Health()
		out := make([]metrics.BreakerHealth, len(hs))
		for i, h := range hs {
			out[i] = metrics.BreakerHealth{Target: h.Name, State: h.State}
		}
		return out
	})
	gw.Sink, gw.Observer = sinks, met
	gw.Clean = contentCleaner(cfg, log)
	if tracer.Enabled() {
		gw.Tracer = tracer
	}
	srv := &server.Server{
		GW:         gw,
		Info:       infoOf(cfg, backends),
		Log:        log,
		BodyLimit:  cfg.BodyLimit,
		Heartbeat:  cfg.Heartbeat,
		Stopping:   stopping,
		UserHeader: cfg.Auth.UserHeader,
		Identify:   identify,
		WrapChat:   wrapChat,
		WrapV1:     wrapV1,
		WrapGemini: acc.wrapGemini(cfg, log),
		Observe:    met.ObserveHTTP,
		Trace:      tracer.Middleware,
		Extra: func(mux *http.ServeMux) {
			admin.Register(mux, acc.deps)
			ui.Register(mux) // the dashboard at /ui/
			openapi.Register(mux, apiTypes(), infoOf(cfg, backends).Version)
			mux.Handle("GET /metrics", met.Handler())
			registerPprof(mux, cfg.Auth.AdminKey)
		},
		LimitByIP: cfg.RateLimit.Key == "ip",
		AllowModel: func(ctx context.Context, model string) bool {
			return auth.FromContext(ctx).AllowsModel(model)
		},
		Models: func() []server.ModelInfo {
			var out []server.ModelInfo
			for _, m := range table.Models() {
				out = append(out, server.ModelInfo{ID: m.ID, OwnedBy: m.OwnedBy})
			}
			return out
		},
	}
	srv.WrapAnthropic = acc.wrapAnthropic(cfg, log) // /v1/messages: the same keys, refusals in Anthropic's shape
	health := healthOf(cfg, table, backends, degraded)
	probes := backendProbes(cfg, rdb, acc, hc)
	srv.Health = func(ctx context.Context, deep bool) server.Health {
		h := health(ctx, deep)
		groups.health(ctx, table, &h)
		if tracker != nil {
			comp := trackingHealth(tracker)
			h.Components["tracking"] = comp
			if comp["status"] != "ok" && h.Status == server.Healthy {
				h.Status = server.Degraded
			}
		}
		if deep {
			probeBackends(ctx, probes, &h)
		}
		return h
	}
	acc.deps.Providers = providersStatus(cfg, srv.Health, table, acc.ledger, met, degraded)
	a.handler = srv.Handler()
	return a, nil
}

// providerHTTPClient is shared by all adapters: bounded connect and TLS
// handshake, pooled connections, no overall timeout (streams are long;
// the request context bounds each call).
func providerHTTPClient(cfg *config.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: cfg.Retry.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 0
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: tr}
}

func buildBackends(cfg *config.Config, hc *http.Client, log *slog.Logger) (map[string]route.Backend, error) {
	b := map[string]route.Backend{}
	if cfg.Google.APIKey != "" {
		b["google"] = route.Backend{
			P:            gemini.New(gemini.Config{BaseURL: cfg.Google.BaseURL, APIKey: cfg.Google.APIKey, ThinkingBudget: cfg.Google.ThinkingBudget, ThinkingLevel: cfg.Google.ThinkingLevel, HTTPClient: hc}),
			DefaultModel: cfg.Google.Model,
		}
	}
	oc, err := ollama.New(ollama.Config{Host: cfg.Ollama.Host, HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("OLLAMA_HOST: %w", err)
	}
	b["ollama"] = route.Backend{P: oc, DefaultModel: cfg.Ollama.Model}
	if cfg.OpenAI.APIKey != "" || cfg.Provider == "openai" || cfg.Fallback == "openai" {
		b["openai"] = route.Backend{
			P:            openai.New(openai.Config{BaseURL: cfg.OpenAI.BaseURL, APIKey: cfg.OpenAI.APIKey, HTTPClient: hc}),
			DefaultModel: cfg.OpenAI.Model,
		}
	}
	if cfg.Anthropic.APIKey != "" {
		b["anthropic"] = route.Backend{
			P: anthropic.New(anthropic.Config{BaseURL: cfg.Anthropic.BaseURL, APIKey: cfg.Anthropic.APIKey,
				Version: cfg.Anthropic.Version, HTTPClient: hc}),
			DefaultModel: cfg.Anthropic.Model,
		}
	}
	if cfg.File != nil {
		for name, spec := range cfg.File.Providers {
			p, err := extraProvider(name, spec, hc)
			if err != nil {
				return nil, err
			}
			b[name] = route.Backend{P: p, DefaultModel: spec.Model, Models: spec.Models}
		}
	}
	return b, nil
}

func extraProvider(name string, spec config.ProviderSpec, hc *http.Client) (llm.Provider, error) {
	key := spec.APIKey
	switch spec.Type {
	case "openai":
		return openai.New(openai.Config{Name: name, BaseURL: spec.BaseURL, APIKey: key, HTTPClient: hc, ExtraHeaders: spec.Headers}), nil
	case "anthropic":
		return anthropic.New(anthropic.Config{BaseURL: spec.BaseURL, APIKey: key, HTTPClient: hc}), nil
	case "google":
		return gemini.New(gemini.Config{BaseURL: spec.BaseURL, APIKey: key, HTTPClient: hc,
			ThinkingBudget: spec.ThinkingBudget, ThinkingLevel: spec.ThinkingLevel}), nil
	case "ollama":
		return ollama.New(ollama.Config{Host: spec.BaseURL, HTTPClient: hc})
	}
	return nil, fmt.Errorf("provider %q: unknown type %q", name, spec.Type)
}

// aliasesOf builds the file's aliases. A target whose provider is not
// configured here (Gemini without a key) is left out of its chain with a
// warning, so one file serves machines with and without every key; an
// alias left with no target is an error at start.
func aliasesOf(cfg *config.Config, backends map[string]route.Backend, log *slog.Logger) map[string]route.Alias {
	if cfg.File == nil {
		return nil
	}
	out := map[string]route.Alias{}
	for name, a := range cfg.File.Aliases {
		targets := make([]string, 0, len(a.Targets))
		for _, t := range a.Targets {
			prov, _, _ := strings.Cut(t, "/")
			if _, ok := backends[prov]; !ok {
				log.Warn("alias target skipped: its provider is not configured", "alias", name, "target", t)
				continue
			}
			targets = append(targets, t)
		}
		if len(targets) == 0 {
			targets = a.Targets // route.New names the missing provider
		}
		out[name] = route.Alias{Targets: targets, Retries: a.Retries, Timeout: a.Timeout, Fallbacks: fallbacksOf(name, a, backends, log)}
	}
	return out
}

func policyOf(cfg *config.Config) router.Policy {
	return router.Policy{
		Retries:        cfg.Retry.Retries,
		BaseDelay:      cfg.Retry.BaseDelay,
		MaxDelay:       cfg.Retry.MaxDelay,
		Deadline:       cfg.RequestTimeout,
		TTFT:           cfg.Retry.FirstToken,
		CollectRate:    cfg.Retry.CollectRate,
		Idle:           cfg.Retry.StreamIdle,
		FallbackOnAuth: cfg.Retry.FallbackOnAuth,
	}
}

func infoOf(cfg *config.Config, backends map[string]route.Backend) server.Info {
	fb := cfg.Fallback
	if fb == "" {
		fb = "none"
	}
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	info := server.Info{
		Provider:      cfg.Provider,
		Model:         modelOf(cfg, cfg.Provider),
		Fallback:      fb,
		FallbackModel: modelOf(cfg, fb),
		MLflowEnabled: cfg.MLflow.TrackingURI != "",
		GoogleKey:     cfg.Google.APIKey != "",
		Providers:     names,
	}
	return info
}

func modelOf(cfg *config.Config, provider string) string {
	switch provider {
	case "google":
		return cfg.Google.Model
	case "ollama":
		return cfg.Ollama.Model
	case "openai":
		return cfg.OpenAI.Model
	case "anthropic":
		return cfg.Anthropic.Model
	}
	if cfg.File != nil {
		return cfg.File.Providers[provider].Model
	}
	return ""
}
