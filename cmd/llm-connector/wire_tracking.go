package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/track/mlflow"
	"github.com/llm-connector/llm-connector/internal/track/pgqueue"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// openTracker starts MLflow tracking, or returns nil when
// MLFLOW_TRACKING_URI is empty. With MLFLOW_QUEUE=postgres the records
// wait in a PostgreSQL queue any instance ships from; closeDB (nil
// otherwise) closes its database after the tracker.
func openTracker(ctx context.Context, cfg *config.Config, log *slog.Logger) (t *mlflow.Tracker, closeDB func(context.Context) error, err error) {
	if cfg.MLflow.TrackingURI == "" {
		log.Info("MLflow tracking disabled (MLFLOW_TRACKING_URI is empty)")
		return nil, nil, nil
	}
	mode, err := mlflow.ParseMode(cfg.MLflow.Mode)
	if err != nil {
		return nil, nil, err
	}
	policy, err := spool.ParsePolicy(cfg.MLflow.SpoolFull)
	if err != nil {
		return nil, nil, err
	}
	mc := mlflow.ConfigFromEnv(func(string) string { return "" })
	m := cfg.MLflow
	mc.TrackingURI, mc.ExperimentName = m.TrackingURI, m.ExperimentName
	mc.Token, mc.Username, mc.Password = m.Token, m.Username, m.Password
	mc.S3EndpointURL, mc.S3AccessKey, mc.S3SecretKey, mc.S3Region = m.S3EndpointURL, m.AWSAccessKey, m.AWSSecretKey, m.AWSRegion
	mc.Mode, mc.SpoolDir, mc.SpoolMaxBytes, mc.FullPolicy, mc.Workers = mode, m.SpoolDir, m.SpoolMaxBytes, policy, m.Workers
	mc.SpoolSync = m.SpoolSync
	mc.Window = mlflow.WindowOptions{Size: m.WindowSize, MaxAge: m.WindowInterval}
	mc.Logger = log
	if err := os.MkdirAll(m.SpoolDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("MLFLOW_SPOOL_DIR: %w", err)
	}
	var db *store.DB
	if m.Queue == "postgres" {
		if db, err = store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, MaxOpenConns: 12}); err != nil {
			return nil, nil, fmt.Errorf("MLFLOW_QUEUE=postgres: %w", err)
		}
		closeDB = func(context.Context) error { return db.Close() }
		mc.OpenQueue = func(channel string) (mlflow.Queue, error) {
			return pgqueue.Open(ctx, db, pgqueue.Options{Channel: channel, MaxBytes: m.SpoolMaxBytes, Policy: policy, Logger: log})
		}
	}
	t, err = mlflow.Open(mc)
	if err == nil {
		st := t.Stats()
		log.Info("MLflow tracking enabled", "experiment", m.ExperimentName, "mode", string(mode), "queue", m.Queue,
			"spool", m.SpoolDir, "backlog", st.Backlog)
		return t, closeDB, nil
	}
	if db != nil {
		db.Close()
	}
	if errors.Is(err, mlflow.ErrDisabled) {
		return nil, nil, nil
	}
	return nil, nil, fmt.Errorf("mlflow tracking: %w", err)
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
	if st.TraceAPI != "" {
		comp["trace_api"] = st.TraceAPI
		comp["trace_sample_rate"] = st.TraceSampleRate
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
