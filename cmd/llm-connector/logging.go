package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/llm-connector/llm-connector/internal/config"
)

// newLogger returns a JSON logger that redacts every configured secret
// from every string attribute, as a last line of defence: code should
// never log a secret in the first place.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	secrets := secretsOf(cfg)
	opts := &slog.HandlerOptions{Level: level}
	if len(secrets) > 0 {
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindString {
				v := a.Value.String()
				for _, s := range secrets {
					if strings.Contains(v, s) {
						v = strings.ReplaceAll(v, s, "[REDACTED]")
					}
				}
				a.Value = slog.StringValue(v)
			} else if a.Value.Kind() == slog.KindAny {
				if err, ok := a.Value.Any().(error); ok {
					v := err.Error()
					for _, s := range secrets {
						v = strings.ReplaceAll(v, s, "[REDACTED]")
					}
					a.Value = slog.StringValue(v)
				}
			}
			return a
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func secretsOf(cfg *config.Config) []string {
	var out []string
	for _, s := range []string{cfg.Google.APIKey, cfg.OpenAI.APIKey, cfg.Anthropic.APIKey, cfg.MLflow.Token,
		cfg.MLflow.Password, cfg.MLflow.AWSSecretKey, cfg.Auth.AdminKey} {
		if len(s) >= 6 { // shorter strings would redact ordinary words
			out = append(out, s)
		}
	}
	for _, raw := range []string{cfg.DatabaseURL, cfg.RedisURL} { // passwords inside URLs
		if u, err := url.Parse(raw); err == nil {
			if pw, ok := u.User.Password(); ok && len(pw) >= 6 {
				out = append(out, pw)
			}
		}
	}
	if cfg.File != nil {
		for _, p := range cfg.File.Providers {
			if len(p.APIKey) >= 6 {
				out = append(out, p.APIKey)
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
