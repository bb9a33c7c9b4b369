package main

import (
	"log/slog"
	"net/http"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/config"
)

// wrapGemini authenticates the Gemini-native /v1beta endpoints as /v1:
// the gateway's own key, here also in x-goog-api-key or ?key= (where the
// genai SDKs put it), refusals in Gemini's error shape.
func (a *accounting) wrapGemini(cfg *config.Config, log *slog.Logger) func(http.Handler) http.Handler {
	mw := auth.Middleware(auth.Config{Keys: a.keys, Optional: !cfg.Auth.Required, UserHeader: cfg.Auth.UserHeader,
		WriteError: auth.WriteGeminiError, Logger: log, GoogleKeys: true})
	return chain(mw, allowTargets)
}
