package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/track/mlflow"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// openTracker starts MLflow tracking, or returns nil when
// MLFLOW_TRACKING_URI is empty.
func openTracker(cfg *config.Config, log *slog.Logger) (*mlflow.Tracker, error) {
	if cfg.MLflow.TrackingURI == "" {
		log.Info("MLflow tracking disabled (MLFLOW_TRACKING_URI is empty)")
		return nil, nil
	}
	mode, err := mlflow.ParseMode(cfg.MLflow.Mode)
	if err != nil {
		return nil, err
	}
	policy, err := spool.ParsePolicy(cfg.MLflow.SpoolFull)
	if err != nil {
		return nil, err
	}
	mc := mlflow.ConfigFromEnv(func(string) string { return "" })
	m := cfg.MLflow
	mc.TrackingURI, mc.ExperimentName = m.TrackingURI, m.ExperimentName
	mc.Token, mc.Username, mc.Password = m.Token, m.Username, m.Password
	mc.S3EndpointURL, mc.S3AccessKey, mc.S3SecretKey, mc.S3Region = m.S3EndpointURL, m.AWSAccessKey, m.AWSSecretKey, m.AWSRegion
	mc.Mode, mc.SpoolDir, mc.SpoolMaxBytes, mc.FullPolicy, mc.Workers = mode, m.SpoolDir, m.SpoolMaxBytes, policy, m.Workers
	mc.SpoolSync = m.SpoolSync
	mc.Window = mlflow.WindowOptions{Size: m.WindowSize, Interval: m.WindowInterval}
	mc.Logger = log
	if err := os.MkdirAll(m.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("MLFLOW_SPOOL_DIR: %w", err)
	}
	t, err := mlflow.Open(mc)
	if errors.Is(err, mlflow.ErrDisabled) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mlflow tracking: %w", err)
	}
	st := t.Stats()
	log.Info("MLflow tracking enabled", "experiment", m.ExperimentName, "mode", string(mode),
		"spool", m.SpoolDir, "backlog", st.Backlog)
	return t, nil
}

// trackingHealth is the tracking component of /health: degraded from the
// first failed delivery (with the redacted error) until one succeeds, or
// while the oldest waiting record is over a minute old.
func trackingHealth(t *mlflow.Tracker) map[string]any {
	st := t.Stats()
	chans := map[string]any{}
	for name, c := range st.Channels {
		chans[name] = map[string]any{"backlog": c.Backlog, "oldest_age_sec": c.OldestAge.Seconds(), "shipped": c.Shipped, "dropped": c.Dropped}
	}
	comp := map[string]any{
		"status":         "ok",
		"mode":           string(st.Mode),
		"backlog":        st.Backlog,
		"backlog_bytes":  st.BacklogBytes,
		"oldest_age_sec": st.OldestAge.Seconds(),
		"shipped":        st.Shipped,
		"dropped":        st.Dropped + st.Rejected,
		"channels":       chans,
	}
	if st.Mode == mlflow.ModeAuto {
		comp["runs_skipped"] = st.Skipped
	}
	switch {
	case st.Failing:
		comp["status"] = "degraded"
		comp["last_error"] = st.LastError
		comp["last_error_time"] = st.LastErrorTime
		comp["reason"] = "MLflow deliveries are failing; records are kept in the queue and shipped when it answers"
	case st.Backlog > 0 && st.OldestAge >= time.Minute:
		comp["status"] = "degraded"
		comp["reason"] = "MLflow is behind; records are kept in the queue"
	}
	return comp
}
