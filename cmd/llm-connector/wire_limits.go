package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cache"
	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/ratelimit"
	"github.com/llm-connector/llm-connector/internal/route"
)

// redisClient returns the shared Redis client, or nil when REDIS_URL is
// unset. Its timeouts are short: a hung Redis must never hold a request.
func redisClient(cfg *config.Config) (*redis.Client, error) {
	if cfg.RedisURL == "" {
		return nil, nil
	}
	opts, err := ratelimit.RedisOptions(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: invalid URL")
	}
	return redis.NewClient(opts), nil
}

// limiterAdapter fits a ratelimit.Limiter to the gateway's interface,
// looking up per-caller overrides.
type limiterAdapter struct {
	l      ratelimit.Limiter
	policy ratelimit.Policy
}

// limits picks the caller's limits and the counter they are kept under:
// the API key's own limits; else an override from the configuration file
// for the limiter key's ID ("k1" of "key:k1"); else an override for the
// key's user, counted under "user:<name>" so that every key of the user
// shares it; else the default, under key.
func (a limiterAdapter) limits(ctx context.Context, key string) (string, ratelimit.Limits) {
	id := auth.FromContext(ctx)
	if id.RPM > 0 || id.TPM > 0 {
		return key, ratelimit.Limits{RPM: id.RPM, TPM: id.TPM}
	}
	kind, name, _ := strings.Cut(key, ":") // "user:alice", "key:k1", "ip:1.2.3.4"
	if l, ok := a.policy.Overrides[name]; ok {
		return key, l
	}
	if kind == "key" && id.User != "" {
		if l, ok := a.policy.Overrides[id.User]; ok {
			return "user:" + id.User, l
		}
	}
	return key, a.policy.Default
}

func (a limiterAdapter) Admit(ctx context.Context, key string, tokens int) (gateway.Admission, error) {
	key, lim := a.limits(ctx, key)
	if lim.Unlimited() {
		return gateway.Admission{Allowed: true}, nil
	}
	d, err := a.l.Admit(ctx, key, lim, tokens)
	if err != nil {
		return gateway.Admission{}, err
	}
	h := http.Header{}
	ratelimit.Headers(h, d)
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[k] = v[0]
	}
	return gateway.Admission{Allowed: d.Allowed, Which: d.Limit, RetryAfter: d.RetryAfter, Headers: m}, nil
}

func (a limiterAdapter) Reconcile(ctx context.Context, key string, reserved, actual int) {
	key, lim := a.limits(ctx, key)
	if lim.Unlimited() {
		return
	}
	_ = a.l.Reconcile(ctx, key, lim, reserved, actual)
}

// wireLimits sets the inbound limiter and the response cache, and wraps
// backends with outbound budgets. It returns what /health should watch.
func wireLimits(cfg *config.Config, rdb *redis.Client, gw *gateway.Gateway, log *slog.Logger) (degraded map[string]func() bool) {
	degraded = map[string]func() bool{}
	policy := ratelimit.Policy{Default: ratelimit.Limits{RPM: cfg.RateLimit.RPM, TPM: cfg.RateLimit.TPM}}
	if cfg.File != nil && len(cfg.File.RateLimits) > 0 {
		policy.Overrides = map[string]ratelimit.Limits{}
		for k, v := range cfg.File.RateLimits {
			policy.Overrides[k] = ratelimit.Limits{RPM: v.RPM, TPM: v.TPM}
		}
	}
	// Keys may carry their own limits and may exist in every mode (a
	// presented key is always checked), so the limiter is always on; with
	// no limit for a caller it answers at once.
	var lim ratelimit.Limiter = ratelimit.NewMemory()
	if rdb != nil {
		fp := ratelimit.FailOpen
		if !cfg.RateLimit.FailOpen {
			fp = ratelimit.FailClosed
		}
		fb := ratelimit.WithFallback(ratelimit.NewRedis(rdb, cfg.RedisPrefix+"rl:"), ratelimit.NewMemory(), fp, log)
		degraded["rate_limiter"] = fb.Degraded
		lim = fb
	}
	gw.Limiter = withInFlightCaps(limiterAdapter{l: lim, policy: policy}, cfg, rdb, log)
	if cfg.Cache.Enabled {
		var c cache.Cache = cache.NewMemory(cfg.Cache.Size, cfg.Cache.TTL)
		if rdb != nil {
			c = cache.NewRedis(rdb, cfg.RedisPrefix+"cache:")
		}
		t := cache.NewTolerant(c, log)
		degraded["cache"] = t.Degraded
		gw.Cache, gw.CacheKey, gw.CacheTTL = t, cache.Key, cfg.Cache.TTL
		gw.CacheSampled = cfg.Cache.Sampled
	}
	gw.EstimateTokens = ratelimit.EstimateTokens
	return degraded
}

// outbound wraps providers that have a budget in the configuration file.
func outbound(cfg *config.Config, rdb *redis.Client, backends map[string]route.Backend, log *slog.Logger) {
	if cfg.File == nil || len(cfg.File.ProviderLimits) == 0 {
		return
	}
	var lim ratelimit.Limiter = ratelimit.NewMemory()
	if rdb != nil {
		lim = ratelimit.WithFallback(ratelimit.NewRedis(rdb, cfg.RedisPrefix+"rl:"), ratelimit.NewMemory(), ratelimit.FailOpen, log)
	}
	for name, pl := range cfg.File.ProviderLimits {
		b, ok := backends[name]
		if !ok || b.Group != nil {
			continue // a group's deployments carry their own budgets
		}
		mode := ratelimit.FailFast
		if pl.Queue {
			mode = ratelimit.Queue
		}
		b.P = ratelimit.Outbound(b.P, lim, ratelimit.OutboundConfig{Name: name, Limits: ratelimit.Limits{RPM: pl.RPM, TPM: pl.TPM}, Mode: mode, PerModel: pl.PerModel})
		backends[name] = b
	}
}
