package main

import (
	"log/slog"
	"strings"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/route"
)

// embeddingChain is EMBEDDING_MODEL without the targets whose provider
// is not configured (as for aliases: logged, not fatal), unless none is.
func embeddingChain(cfg *config.Config, backends map[string]route.Backend, log *slog.Logger) []string {
	var out []string
	for _, t := range cfg.EmbeddingModel {
		prov, _, _ := strings.Cut(t, "/")
		if _, ok := backends[prov]; !ok {
			log.Warn("EMBEDDING_MODEL target skipped: its provider is not configured", "target", t)
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return cfg.EmbeddingModel // EmbedResolver names the missing provider
	}
	return out
}
