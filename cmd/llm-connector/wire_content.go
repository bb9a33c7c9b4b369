package main

import (
	"log/slog"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/redact"
)

// contentCleaner is the gateway's record hook for MLFLOW_LOG_CONTENT and
// the file's per-caller log_content, or nil when everything is logged in
// full. config.Validate has checked every value.
func contentCleaner(cfg *config.Config, log *slog.Logger) func(*track.Call) {
	p := &redact.Policy{Default: redact.Mode(cfg.MLflow.LogContent)}
	if cfg.File != nil && len(cfg.File.LogContent) > 0 {
		p.ByCaller = make(map[string]redact.Mode, len(cfg.File.LogContent))
		for who, m := range cfg.File.LogContent {
			p.ByCaller[who] = redact.Mode(m)
		}
	}
	if p.ModeFor("", "") == redact.Full && len(p.ByCaller) == 0 {
		return nil
	}
	log.Info("record content", "mode", string(p.ModeFor("", "")), "per_caller", len(p.ByCaller))
	return p.Clean
}
