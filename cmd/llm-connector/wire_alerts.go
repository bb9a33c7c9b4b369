package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/cost"
	"github.com/llm-connector/llm-connector/internal/store"
)

// openAlerts starts the budget alert sender when a webhook is configured.
// The log names the receiver's host only: a URL may carry a token.
func openAlerts(ctx context.Context, cfg *config.Config, db *store.DB, log *slog.Logger) (*cost.Alerts, error) {
	b := cfg.Budget
	if b.AlertWebhookURL == "" {
		return nil, nil
	}
	thresholds, err := cost.ParseThresholds(b.AlertThresholds)
	if err != nil {
		return nil, err
	}
	a, err := cost.NewAlerts(ctx, cost.AlertConfig{DB: db, URL: b.AlertWebhookURL, Secret: b.AlertSecret,
		Thresholds: thresholds, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("budget alerts: %w", err)
	}
	host := ""
	if u, err := url.Parse(b.AlertWebhookURL); err == nil {
		host = u.Host
	}
	log.Info("budget alerts on", "receiver_host", host, "thresholds", thresholds)
	return a, nil
}
