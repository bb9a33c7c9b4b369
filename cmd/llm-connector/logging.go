package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/redact"
)

// newLogger returns a JSON logger that redacts every configured secret
// (and any piece of one of 8 bytes or more) and every credential-shaped
// text from every string attribute, as a last line of defence: code
// should never log a secret in the first place.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	set := redact.NewSet(secretsOf(cfg)...)
	opts := &slog.HandlerOptions{Level: level}
	opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			a.Value = slog.StringValue(set.String(a.Value.String()))
		case slog.KindAny:
			if err, ok := a.Value.Any().(error); ok {
				a.Value = slog.StringValue(set.String(err.Error()))
			}
		}
		return a
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// secretsOf lists the configured secrets: API keys, tokens, and the
// passwords inside DATABASE_URL, REDIS_URL and MLFLOW_TRACKING_URI.
func secretsOf(cfg *config.Config) []string {
	out := append(cfg.Google.GoogleKeys(), cfg.Google.APIKey, cfg.OpenAI.APIKey, cfg.Anthropic.APIKey, cfg.MLflow.Token,
		cfg.MLflow.Password, cfg.MLflow.AWSSecretKey, cfg.Auth.AdminKey,
		urlPassword(cfg.DatabaseURL), urlPassword(cfg.RedisURL), urlPassword(cfg.MLflow.TrackingURI))
	if cfg.File != nil {
		for _, p := range cfg.File.Providers {
			out = append(out, p.APIKey)
		}
		for _, g := range cfg.File.Groups {
			for _, d := range g.Deployments {
				out = append(out, d.APIKey)
			}
		}
	}
	return out
}

// redisLogger routes go-redis's own log lines (dial failures, pool
// notices) into the service's JSON log instead of plain text on stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "component", "redis", "detail", fmt.Sprintf(format, v...))
}

// envSecrets is secretsOf for when the configuration did not load: the
// raw values of the variables that hold secrets.
func envSecrets(getenv func(string) string) []string {
	var out []string
	for _, k := range []string{"GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MLFLOW_TRACKING_TOKEN",
		"MLFLOW_TRACKING_PASSWORD", "AWS_SECRET_ACCESS_KEY", "LLM_ADMIN_KEY"} {
		out = append(out, getenv(k))
	}
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "MLFLOW_TRACKING_URI"} {
		out = append(out, urlPassword(getenv(k)))
	}
	return out
}

// urlPassword returns the password of a URL ("scheme://user:pw@host") or
// of a keyword DSN ("host=... password=pw"), or "".
func urlPassword(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	for _, f := range strings.Fields(raw) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			return strings.Trim(v, `'`)
		}
	}
	return ""
}
