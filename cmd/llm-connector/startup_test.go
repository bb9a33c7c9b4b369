package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/config"
)

// TestVersionAndHelpDoNotServe: --version and --help print and return at
// once (no listener on :8000); help lists every variable of the config
// definition; an unknown argument is an error, not a server start.
func TestVersionAndHelpDoNotServe(t *testing.T) {
	getenv := func(k string) string {
		if k == "LISTEN_ADDR" {
			return "256.0.0.1:1" // a start would fail to listen, not hang
		}
		return ""
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--version"}, []string{"llm-connector 1.0.0"}},
		{[]string{"-v"}, []string{"llm-connector 1.0.0"}},
		{[]string{"--help"}, []string{"keys ...", "healthcheck", "LLM_PROVIDER", "[google]", "GOOGLE_API_KEY_FILE", "DATABASE_CONNECT_TIMEOUT", "CACHE_SAMPLED"}},
		{[]string{"-h"}, []string{"usage:"}},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), tc.args, getenv, &out, &out); err != nil {
			t.Errorf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out.String())
			}
		}
		if tc.args[0] == "--help" {
			for _, v := range config.Variables() {
				if !strings.HasSuffix(v.Name, "_FILE") && !strings.Contains(out.String(), v.Name) {
					t.Errorf("--help does not list %s", v.Name)
				}
			}
		}
	}
	err := run(context.Background(), []string{"--port=9000"}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "unknown argument") {
		t.Errorf("unknown flag: err = %v", err)
	}
}

// TestOpenStoreRetriesDatabase: an unreachable DATABASE_URL is tried
// again with capped backoff until DATABASE_CONNECT_TIMEOUT, each try
// logged without the password; the waits come from a fake clock.
func TestOpenStoreRetriesDatabase(t *testing.T) {
	cfg := &config.Config{DatabaseURL: "postgres://llm:s3cret-pw@127.0.0.1:1/llm?sslmode=disable&password=s3cret-pw",
		DatabaseWait: 20 * time.Second}
	var logs syncBuffer
	log := newLogger(&logs, &config.Config{LogLevel: "info"})
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	_, err := openStore(context.Background(), cfg, log, sleep)
	if err == nil || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("err = %v", err)
	}
	var total time.Duration
	for i, w := range waits {
		total += w
		if w > 5*time.Second || i > 0 && w < waits[i-1] {
			t.Errorf("waits %v: want growing, capped at 5s", waits)
		}
	}
	if len(waits) < 3 || total > cfg.DatabaseWait {
		t.Errorf("waits %v (total %s): want several, at most %s", waits, total, cfg.DatabaseWait)
	}
	if n := strings.Count(logs.String(), "database not reachable yet; retrying"); n != len(waits) {
		t.Errorf("%d retry lines for %d waits", n, len(waits))
	}
	if strings.Contains(logs.String()+err.Error(), "s3cret-pw") {
		t.Errorf("password in the log or error:\n%s\n%v", logs.String(), err)
	}
	// DATABASE_CONNECT_TIMEOUT=0: one try, no wait.
	cfg.DatabaseWait, waits = 0, nil
	if _, err := openStore(context.Background(), cfg, log, sleep); err == nil || len(waits) != 0 {
		t.Errorf("timeout 0: err %v, waits %v", err, waits)
	}
	// The context ends the retries.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg.DatabaseWait = time.Minute
	if _, err := openStore(ctx, cfg, log, sleepCtx); !errors.Is(err, context.Canceled) && err == nil {
		t.Errorf("canceled: err %v", err)
	}
}

// TestStartupLog: one line per component at start, secrets never printed;
// the Google warning only when Google is configured to answer; /health
// stays the seed's "healthy" when the configured route can answer and a
// missing optional key is a configuration fact in its component.
func TestStartupLog(t *testing.T) {
	const adminKey, mlflowPW, dbPW = "admin-secret-123", "mlflow-pw-456", "redis-pw-789"
	tests := []struct {
		name       string
		env        map[string]string
		wantLines  []string // substrings, each in some line
		googleWarn bool
		health     string
	}{
		{name: "ollama only", env: map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none"},
			wantLines: []string{`"role":"primary","name":"ollama"`, `"role":"fallback","name":"none"`},
			health:    "healthy"},
		{name: "seed defaults without a key", env: map[string]string{},
			wantLines:  []string{`"role":"primary","name":"google","model":"gemini-2.5-flash","configured":false,"serving_from":"ollama"`},
			googleWarn: true, health: "healthy"},
		{name: "everything on", env: map[string]string{"LLM_ADMIN_KEY": adminKey, "AUTH_REQUIRED": "true",
			"MLFLOW_TRACKING_URI": "http://bob:" + mlflowPW + "@127.0.0.1:1", "REDIS_URL": "redis://:" + dbPW + "@127.0.0.1:1/0",
			"RATE_LIMIT_RPM": "5", "LLM_PROVIDER": "ollama"},
			wantLines: []string{`"api_keys_required":true,"admin_api":true`, `"uri":"http://127.0.0.1:1"`, `"mode":"auto"`,
				`"msg":"rate limiter","component":"rate_limiter","backend":"redis redis://:`, `@127.0.0.1:1/0"`},
			health: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"OLLAMA_HOST": "127.0.0.1:1", "OLLAMA_MODEL": "tiny"}
			for k, v := range tt.env {
				env[k] = v
			}
			url, logs := startService(t, env)
			out := logs.String()
			for _, c := range []string{`"component":"provider"`, `"msg":"ollama","component":"ollama","url":"http://127.0.0.1:1","model":"tiny"`,
				`"msg":"cache","component":"cache","backend":`, `"component":"rate_limiter"`, `"component":"auth"`,
				`"msg":"ledger","component":"ledger","backend":"sqlite `, `"msg":"mlflow","component":"mlflow"`} {
				if !strings.Contains(out, c) {
					t.Errorf("no start-up line with %s", c)
				}
			}
			for _, w := range tt.wantLines {
				if !strings.Contains(out, w) {
					t.Errorf("no start-up line with %s in\n%s", w, out)
				}
			}
			for _, secret := range []string{adminKey, mlflowPW, dbPW} {
				if strings.Contains(out, secret) {
					t.Errorf("secret %q in the log", secret)
				}
			}
			if got := strings.Contains(out, "GOOGLE_API_KEY is not set"); got != tt.googleWarn {
				t.Errorf("Google warning = %v, want %v", got, tt.googleWarn)
			}
			if tt.health == "" {
				return
			}
			resp, err := http.Get(url + "/health")
			if err != nil {
				t.Fatal(err)
			}
			var h map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h["status"] != tt.health {
				t.Errorf("/health = %v, want status %s", h, tt.health)
			}
			if g, ok := h["components"].(map[string]any)["google"].(map[string]any); ok && g["status"] != "not_configured" {
				t.Errorf("google component = %v, want not_configured", g)
			}
		})
	}
}

// TestRedisLogsAreJSON: go-redis's own lines (dial failures while Redis
// is down) go through the service's JSON log, redacted like the rest.
func TestRedisLogsAreJSON(t *testing.T) {
	var buf syncBuffer
	log := newLogger(&buf, &config.Config{LogLevel: "info", RedisURL: "redis://:hunter22@127.0.0.1:1/0"})
	redisLogger{log}.Printf(context.Background(), "redis: dial %s: connection refused (password %s)", "127.0.0.1:1", "hunter22")
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["component"] != "redis" || !strings.Contains(line["detail"].(string), "connection refused") ||
		strings.Contains(buf.String(), "hunter22") {
		t.Errorf("line = %v", line)
	}
}
