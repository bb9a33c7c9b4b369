package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestStartupErrorsHideCredentials is issue 18 item 3: a bad DATABASE_URL
// (a DSN with password=, or a URL with user:password) and an
// MLFLOW_TRACKING_URI with user:password were printed whole on stderr.
// run's error (what main prints) and the log must hold none of them.
func TestStartupErrorsHideCredentials(t *testing.T) {
	const pw = "pg-secret-pw-9"
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"dsn keywords", map[string]string{"DATABASE_URL": "host=127.0.0.1 port=1 user=app password=" + pw + " dbname=x sslmode=disable connect_timeout=1"}},
		{"dsn quoted", map[string]string{"DATABASE_URL": "host=127.0.0.1 port=1 password='" + pw + " x' dbname=x connect_timeout=1"}},
		{"dsn url", map[string]string{"DATABASE_URL": "postgres://app:" + pw + "@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}},
		{"bad dsn", map[string]string{"DATABASE_URL": "host=127.0.0.1 port=notaport password=" + pw}},
		{"mlflow userinfo", map[string]string{"MLFLOW_TRACKING_URI": "http://ml:" + pw + "@127.0.0.1:1", "MLFLOW_SPOOL_DIR": "/dev/null/x"}},
		{"mlflow bad uri", map[string]string{"MLFLOW_TRACKING_URI": "ftp://ml:" + pw + "@127.0.0.1:1"}},
		{"redis url", map[string]string{"REDIS_URL": "redis://:" + pw + "@127.0.0.1:1/0?dial_timeout=bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir(), "OLLAMA_HOST": "127.0.0.1:1"}
			for k, v := range tt.env {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := run(ctx, nil, func(k string) string { return env[k] }, &stdout, &stderr)
			if err == nil {
				t.Fatal("the service started; every case here must fail at start")
			}
			for what, s := range map[string]string{"error": err.Error(), "log": stdout.String(), "stderr": stderr.String()} {
				if strings.Contains(s, "pg-secret") {
					t.Errorf("%s holds the password: %s", what, s)
				}
			}
		})
	}
}
