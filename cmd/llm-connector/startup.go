package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/route"
	"github.com/llm-connector/llm-connector/internal/store"
)

// version is the service's version (the seed's /info says 1.0.0); a
// release build may set it with -ldflags "-X main.version=...".
var version = "1.0.0"

// printVersion writes one line: version, VCS revision when known, Go.
func printVersion(w io.Writer) {
	line := "llm-connector " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				line += " (" + s.Value[:12] + ")"
			}
		}
		line += " " + bi.GoVersion
	}
	fmt.Fprintln(w, line)
}

// printHelp writes the usage and every environment variable with its
// default, generated from the configuration's one definition
// (config.Variables), so the list cannot drift from what Load reads.
func printHelp(w io.Writer) {
	fmt.Fprintln(w, usage)
	fmt.Fprintln(w, "\nenvironment (default in brackets; a *_FILE variant reads the value from a file):")
	for _, v := range config.Variables() {
		if strings.HasSuffix(v.Name, "_FILE") && v.Default == "" {
			continue // the NAME_FILE twin of a secret: said once above
		}
		def := v.Default
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(w, "  %-28s [%s]\n", v.Name, def)
	}
	fmt.Fprintln(w, "\nSee README.md for what each one does.")
}

// openStore opens the ledger database. An unreachable DATABASE_URL is
// tried again with capped exponential backoff for up to wait (a first
// PostgreSQL start in compose takes a while), one log line per failed try;
// SQLite is tried once. sleep waits (tests pass a fake clock).
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger,
	sleep func(context.Context, time.Duration) error) (*store.DB, error) {
	scfg := store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir}
	if cfg.DatabaseURL == "" {
		return store.Open(ctx, scfg)
	}
	delay, waited := 500*time.Millisecond, time.Duration(0)
	for try := 1; ; try++ {
		db, err := store.Open(ctx, scfg)
		if err == nil {
			return db, nil
		}
		if waited+delay > cfg.DatabaseWait {
			return nil, fmt.Errorf("gave up after %d tries in %s (DATABASE_CONNECT_TIMEOUT=%s): %w",
				try, waited, cfg.DatabaseWait, err)
		}
		log.Warn("database not reachable yet; retrying", "component", "ledger", "database", redactURL(cfg.DatabaseURL),
			"try", try, "retry_in", delay.String(), "gives_up_after", cfg.DatabaseWait.String(), "err", err)
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
		waited += delay
		delay = min(2*delay, 5*time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// redactURL keeps scheme, user, host and path; drops the password and the
// query (which may carry one).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// logStartup writes one line per component: what this instance will use.
// No secret is printed: keys only as set/unset, URLs redacted.
func logStartup(log *slog.Logger, cfg *config.Config, backends map[string]route.Backend, primary string) {
	for _, role := range []struct{ name, provider string }{{"primary", cfg.Provider}, {"fallback", cfg.Fallback}} {
		if role.provider == "" || role.provider == "none" {
			log.Info("provider", "component", "provider", "role", role.name, "name", "none")
			continue
		}
		_, ok := backends[role.provider]
		attrs := []any{"component", "provider", "role", role.name, "name", role.provider,
			"model", modelOf(cfg, role.provider), "configured", ok}
		if role.name == "primary" && primary != cfg.Provider {
			attrs = append(attrs, "serving_from", primary)
		}
		log.Info("provider", attrs...)
	}
	log.Info("ollama", "component", "ollama", "url", redactURL(ollamaURL(cfg.Ollama.Host)), "model", cfg.Ollama.Model)
	backend := func(on bool) string {
		switch {
		case !on:
			return "off"
		case cfg.RedisURL != "":
			return "redis " + redactURL(cfg.RedisURL)
		}
		return "memory"
	}
	cacheMode := "deterministic requests only (temperature 0, or X-LLM-Cache: on)"
	if cfg.Cache.Sampled {
		cacheMode = "every request (CACHE_SAMPLED=true)"
	}
	log.Info("cache", "component", "cache", "backend", backend(cfg.Cache.Enabled), "ttl", cfg.Cache.TTL.String(), "caches", cacheMode)
	// Always on: keys may carry limits in every mode (a presented key is
	// always checked); with no limit for a caller it answers at once.
	log.Info("rate limiter", "component", "rate_limiter", "backend", backend(true),
		"rpm", cfg.RateLimit.RPM, "tpm", cfg.RateLimit.TPM, "key", cfg.RateLimit.Key)
	log.Info("auth", "component", "auth", "api_keys_required", cfg.Auth.Required, "admin_api", cfg.Auth.AdminKey != "")
	ledger := "sqlite " + cfg.DataDir
	if cfg.DatabaseURL != "" {
		ledger = "postgresql " + redactURL(cfg.DatabaseURL)
	}
	log.Info("ledger", "component", "ledger", "backend", ledger)
	if cfg.MLflow.TrackingURI == "" {
		log.Info("mlflow", "component", "mlflow", "tracking", false, "reason", "MLFLOW_TRACKING_URI is empty")
	} else {
		log.Info("mlflow", "component", "mlflow", "tracking", true, "uri", redactUserinfo(cfg.MLflow.TrackingURI),
			"mode", cfg.MLflow.Mode, "queue", cfg.MLflow.Queue, "experiment", cfg.MLflow.ExperimentName)
	}
}

// ollamaURL gives OLLAMA_HOST a scheme, as Ollama's CLI does.
func ollamaURL(host string) string {
	if strings.Contains(host, "://") {
		return host
	}
	return "http://" + host
}

// redactUserinfo drops user and password from a URL entirely.
func redactUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}
