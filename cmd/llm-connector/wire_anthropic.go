package main

import (
	"log/slog"
	"net/http"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/server"
)

// wrapAnthropic is the /v1 authentication (x-api-key or Bearer, the
// same keys and allow-lists) answering refusals in Anthropic's error
// shape, for /v1/messages.
func (a *accounting) wrapAnthropic(cfg *config.Config, log *slog.Logger) func(http.Handler) http.Handler {
	wrap := auth.Middleware(auth.Config{Keys: a.keys, Optional: !cfg.Auth.Required, UserHeader: cfg.Auth.UserHeader,
		WriteError: server.WriteAnthropicAuthError, Logger: log})
	return chain(wrap, allowTargets)
}
