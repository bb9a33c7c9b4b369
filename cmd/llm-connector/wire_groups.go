package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/anthropic"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
	"github.com/llm-connector/llm-connector/internal/provider/ollama"
	"github.com/llm-connector/llm-connector/internal/provider/openai"
	"github.com/llm-connector/llm-connector/internal/ratelimit"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/router"
	"github.com/llm-connector/llm-connector/internal/server"
)

// groups is what the deployment groups need after wiring: their shared
// state (for /health) and names.
type groups struct {
	state  router.State
	redis  *router.RedisState // nil without REDIS_URL
	byName map[string]*router.Group
	model  map[string]string // group → default model
}

// wireGroups adds a backend per group of the configuration file and,
// when GOOGLE_API_KEY holds several keys, makes "google" a group of one
// deployment per key (google#1, google#2, …; provider_limits.google is
// then each key's budget). Every deployment has its own adapter, its own
// outbound budget (FailFast: the router moves to another deployment) and
// breaker. With Redis, in-flight counts, cooldowns, latencies and budgets
// are shared by every instance.
func wireGroups(cfg *config.Config, rdb *redis.Client, hc *http.Client, backends map[string]route.Backend, log *slog.Logger) (*groups, error) {
	gs := &groups{byName: map[string]*router.Group{}, model: map[string]string{}}
	var lim ratelimit.Limiter
	mem := ratelimit.NewMemory()
	lim = mem
	if rdb != nil {
		gs.redis = router.NewRedisState(rdb, cfg.RedisPrefix)
		gs.redis.LeaseTTL = cfg.RequestTimeout + 30*time.Second
		gs.state = gs.redis
		lim = ratelimit.WithFallback(ratelimit.NewRedis(rdb, cfg.RedisPrefix+"rl:"), mem, ratelimit.FailOpen, log)
	} else {
		gs.state = router.NewMemoryState()
	}
	mk := func(name string, spec config.DeploymentSpec) (router.Deployment, error) {
		p, err := deploymentProvider(cfg, spec, hc)
		if err != nil {
			return router.Deployment{}, fmt.Errorf("deployment %s: %w", name, err)
		}
		l := ratelimit.Limits{RPM: spec.RPM, TPM: spec.TPM}
		key := ratelimit.OutboundKey(name, "", false)
		d := router.Deployment{Name: name, Weight: spec.Weight, MaxInFlight: spec.MaxInFlight, RPM: spec.RPM, TPM: spec.TPM,
			UsageKey: cfg.RedisPrefix + "rl:" + key,
			P:        ratelimit.Outbound(p, lim, ratelimit.OutboundConfig{Name: name, Limits: l, Mode: ratelimit.FailFast})}
		if !l.Unlimited() {
			d.Remaining = func() float64 { return remaining(mem, key, l) }
		}
		return d, nil
	}
	if cfg.File != nil {
		for _, name := range sortedNames(cfg.File.Groups) {
			g := cfg.File.Groups[name]
			strategy, err := router.ParseStrategy(g.Strategy)
			if err != nil {
				return nil, fmt.Errorf("group %s: %w", name, err)
			}
			rg := &router.Group{Strategy: strategy, State: gs.state, AuthCooldown: g.AuthCooldown}
			for i, spec := range g.Deployments {
				dn := fmt.Sprintf("%s#%d", name, i+1)
				if hosted[spec.Provider] && spec.APIKey == "" {
					log.Warn("deployment skipped: its key is not set", "deployment", dn, "api_key_env", spec.APIKeyEnv)
					continue
				}
				d, err := mk(dn, spec)
				if err != nil {
					return nil, err
				}
				rg.Deployments = append(rg.Deployments, d)
			}
			if len(rg.Deployments) == 0 {
				log.Warn("group skipped: none of its deployments has a key", "group", name)
				continue
			}
			backends[name] = route.Backend{P: rg.Deployments[0].P, DefaultModel: g.Model, Models: g.Models, Group: rg,
				Provider: providerType(cfg, g.Deployments[0].Provider)}
			gs.byName[name], gs.model[name] = rg, g.Model
		}
	}
	if keys := cfg.Google.GoogleKeys(); len(keys) > 1 {
		pl := providerLimit(cfg, "google")
		rg := &router.Group{Strategy: router.Weighted, State: gs.state}
		for i, k := range keys {
			d, err := mk(fmt.Sprintf("google#%d", i+1), config.DeploymentSpec{Provider: "google", APIKey: k, RPM: pl.RPM, TPM: pl.TPM})
			if err != nil {
				return nil, err
			}
			rg.Deployments = append(rg.Deployments, d)
		}
		if pl.RPM > 0 || pl.TPM > 0 {
			rg.Strategy = router.Usage
		}
		b := backends["google"]
		b.P, b.Group = rg.Deployments[0].P, rg
		backends["google"] = b
		gs.byName["google"], gs.model["google"] = rg, cfg.Google.Model
		log.Info("GOOGLE_API_KEY holds several keys: one deployment each", "deployments", len(keys), "strategy", string(rg.Strategy))
	}
	return gs, nil
}

// hosted are the built-in providers that need a key.
var hosted = map[string]bool{"google": true, "openai": true, "anthropic": true}

func remaining(m *ratelimit.Memory, key string, l ratelimit.Limits) float64 {
	req, tok := m.Peek(key, l)
	f := 1.0
	if req.Limit > 0 {
		f = min(f, float64(req.Remaining)/float64(req.Limit))
	}
	if tok.Limit > 0 {
		f = min(f, float64(tok.Remaining)/float64(tok.Limit))
	}
	return f
}

func providerLimit(cfg *config.Config, name string) config.ProviderLimit {
	if cfg.File == nil {
		return config.ProviderLimit{}
	}
	return cfg.File.ProviderLimits[name]
}

// providerType is the adapter name of a deployment's provider (an extra
// provider keeps its own name, as its prices do).
func providerType(_ *config.Config, provider string) string { return provider }

// deploymentProvider builds the adapter of one deployment: the built-in
// provider's settings (or an extra provider's) with the deployment's own
// key and base URL.
func deploymentProvider(cfg *config.Config, d config.DeploymentSpec, hc *http.Client) (llm.Provider, error) {
	switch d.Provider {
	case "google":
		return gemini.New(gemini.Config{BaseURL: cmp.Or(d.BaseURL, cfg.Google.BaseURL), APIKey: d.APIKey,
			ThinkingBudget: cfg.Google.ThinkingBudget, HTTPClient: hc}), nil
	case "openai":
		return openai.New(openai.Config{BaseURL: cmp.Or(d.BaseURL, cfg.OpenAI.BaseURL), APIKey: d.APIKey, HTTPClient: hc}), nil
	case "anthropic":
		return anthropic.New(anthropic.Config{BaseURL: cmp.Or(d.BaseURL, cfg.Anthropic.BaseURL), APIKey: d.APIKey,
			Version: cfg.Anthropic.Version, HTTPClient: hc}), nil
	case "ollama":
		return ollama.New(ollama.Config{Host: cmp.Or(d.BaseURL, cfg.Ollama.Host), HTTPClient: hc})
	}
	if cfg.File != nil {
		if spec, ok := cfg.File.Providers[d.Provider]; ok {
			spec.BaseURL, spec.APIKey = cmp.Or(d.BaseURL, spec.BaseURL), d.APIKey
			return extraProvider(d.Provider, spec, hc)
		}
	}
	return nil, fmt.Errorf("unknown provider %q", d.Provider)
}

// health adds the deployments component: each deployment's breaker (a
// cooldown shows as open with its reason) and, with Redis, the cooldowns
// every instance sees. A deployment out makes the service degraded (it
// still serves from the others); the group's provider component is
// unavailable when every deployment is out.
func (gs *groups) health(ctx context.Context, table *route.Table, h *server.Health) {
	if len(gs.byName) == 0 {
		return
	}
	states := map[string]router.TargetHealth{}
	for _, th := range table.Breakers().Health() {
		states[th.Name] = th
	}
	comp := map[string]any{}
	for _, name := range sortedNames(gs.byName) {
		g := gs.byName[name]
		names := make([]string, len(g.Deployments))
		for i, d := range g.Deployments {
			names[i] = d.Name
		}
		var shared map[string]router.Cooldown
		if gs.redis != nil {
			shared = gs.redis.Cooling(ctx, names)
		}
		list := make([]map[string]any, 0, len(g.Deployments))
		for _, d := range g.Deployments {
			e := map[string]any{"name": d.Name, "status": "ok"}
			if st, ok := states[router.DeploymentTarget(d.Name, gs.model[name])]; ok && st.State != router.StateClosed {
				e["status"], e["reason"], e["until"] = "cooling_down", st.LastError, st.OpenUntil
			}
			if c, ok := shared[d.Name]; ok {
				e["status"], e["shared_reason"], e["left"] = "cooling_down", c.Reason, c.Left.Round(time.Second).String()
			}
			list = append(list, e)
		}
		comp[name] = map[string]any{"strategy": string(g.Strategy), "deployments": list}
		out := 0
		for _, e := range list {
			if e["status"] != "ok" {
				out++
			}
		}
		if out == 0 {
			continue
		}
		if h.Status == server.Healthy {
			h.Status = server.Degraded
		}
		if pc, ok := h.Components[name].(map[string]any); ok && out == len(list) {
			pc["status"], pc["reason"] = "unavailable", "every deployment is cooling down"
		}
	}
	h.Components["deployments"] = comp
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cappedLimiter adds max_in_flight per API key and per user to the
// gateway's limiter: a request over a cap is refused with 429,
// Retry-After: 1 and a message naming the cap; the slot is freed when the
// gateway settles the request. With Redis the slots are leases shared by
// every instance (expiring after the request deadline, so a crashed
// instance cannot keep them).
type cappedLimiter struct {
	next      gateway.Limiter
	in        ratelimit.InFlight
	key, user int
	log       *slog.Logger

	mu      sync.Mutex
	pending map[string][]func() // limit key → releases of admitted requests
}

func withInFlightCaps(next gateway.Limiter, cfg *config.Config, rdb *redis.Client, log *slog.Logger) gateway.Limiter {
	if cfg.File == nil || (cfg.File.MaxInFlight.Key <= 0 && cfg.File.MaxInFlight.User <= 0) {
		return next
	}
	ttl := cfg.RequestTimeout + 30*time.Second
	var in ratelimit.InFlight = ratelimit.NewMemoryInFlight(ttl)
	if rdb != nil {
		in = ratelimit.NewRedisInFlight(rdb, cfg.RedisPrefix+"inflight:", ttl)
	}
	return &cappedLimiter{next: next, in: in, key: cfg.File.MaxInFlight.Key, user: cfg.File.MaxInFlight.User, log: log,
		pending: map[string][]func(){}}
}

// Admit implements gateway.Limiter.
func (c *cappedLimiter) Admit(ctx context.Context, key string, tokens int) (gateway.Admission, error) {
	ad, err := c.next.Admit(ctx, key, tokens)
	if err != nil || !ad.Allowed {
		return ad, err
	}
	id := auth.FromContext(ctx)
	var held []func()
	release := func() {
		for _, f := range held {
			f()
		}
	}
	for _, cp := range []struct {
		what, name string
		max        int
	}{{"key", id.KeyID, c.key}, {"user", id.User, c.user}} {
		if cp.max <= 0 || cp.name == "" {
			continue
		}
		f, ok, err := c.in.Acquire(ctx, cp.what+":"+cp.name, cp.max)
		if err != nil {
			c.log.Warn("in-flight caps unavailable; not enforced", "err", err)
			continue // fail open, as the outbound limiter does
		}
		if !ok {
			release()
			c.next.Reconcile(ctx, key, tokens, 0)
			h := map[string]string{"Retry-After": "1"}
			return gateway.Admission{Allowed: false, Which: "max_in_flight_" + cp.what, RetryAfter: time.Second, Headers: h,
				Message: fmt.Sprintf("max_in_flight per %s reached: %d requests of this %s are in flight; retry in 1s", apiWord(cp.what), cp.max, apiWord(cp.what))}, nil
		}
		held = append(held, f)
	}
	if len(held) > 0 {
		c.mu.Lock()
		c.pending[key] = append(c.pending[key], release)
		c.mu.Unlock()
	}
	return ad, nil
}

func apiWord(what string) string {
	if what == "key" {
		return "API key"
	}
	return what
}

// Reconcile implements gateway.Limiter; it also frees one slot of key.
func (c *cappedLimiter) Reconcile(ctx context.Context, key string, reserved, actual int) {
	c.next.Reconcile(ctx, key, reserved, actual)
	c.mu.Lock()
	var f func()
	if l := c.pending[key]; len(l) > 0 {
		f = l[len(l)-1]
		if len(l) == 1 {
			delete(c.pending, key)
		} else {
			c.pending[key] = l[:len(l)-1]
		}
	}
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

// fallbacksOf is the alias's fallbacks: rules with targets whose provider
// is not configured here left out (with a warning), as in chains; a rule
// left empty that was not empty in the file is dropped, not "nowhere".
func fallbacksOf(alias string, a config.Alias, backends map[string]route.Backend, log *slog.Logger) map[string][]string {
	if len(a.Fallbacks) == 0 {
		return nil
	}
	out := map[string][]string{}
	for cause, chain := range a.Fallbacks {
		kept := []string{}
		for _, t := range chain {
			prov, _, _ := strings.Cut(t, "/")
			if _, ok := backends[prov]; !ok {
				log.Warn("fallback target skipped: its provider is not configured", "alias", alias, "cause", cause, "target", t)
				continue
			}
			kept = append(kept, t)
		}
		if len(kept) == 0 && len(chain) > 0 {
			continue
		}
		out[cause] = kept
	}
	return out
}
