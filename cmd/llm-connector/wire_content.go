package main

import (
	"log/slog"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/content"
)

// contentCleaner is the gateway's record hook for MLFLOW_LOG_CONTENT and
// the file's per-caller log_content, or nil when everything is logged in
// full. config.Validate has checked every value.
func contentCleaner(cfg *config.Config, log *slog.Logger) func(*track.Call) {
	p := &content.Policy{Default: content.Mode(cfg.MLflow.LogContent)}
	if cfg.File != nil && len(cfg.File.LogContent) > 0 {
		p.ByCaller = make(map[string]content.Mode, len(cfg.File.LogContent))
		for who, m := range cfg.File.LogContent {
			p.ByCaller[who] = content.Mode(m)
		}
	}
	if p.ModeFor("", "") == content.Full && len(p.ByCaller) == 0 {
		return nil
	}
	log.Info("record content", "mode", string(p.ModeFor("", "")), "per_caller", len(p.ByCaller))
	return p.Clean
}
