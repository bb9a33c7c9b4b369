package config

import (
	"strconv"
	"strings"
)

// BudgetAlerts is the file's budget_alerts section; set fields replace
// the BUDGET_ALERT_* variables.
type BudgetAlerts struct {
	WebhookURL string    `yaml:"webhook_url"`
	SecretEnv  string    `yaml:"secret_env"` // variable holding the signing secret (never the secret itself)
	Thresholds []float64 `yaml:"thresholds"` // percentages of a budget, e.g. [50, 80, 100]
}

// applyBudgetAlerts lays the file's budget_alerts over the environment's.
func (l *loader) applyBudgetAlerts(c *Config, f *File) {
	if f == nil || f.BudgetAlerts == nil {
		return
	}
	ba := f.BudgetAlerts
	if ba.WebhookURL != "" {
		c.Budget.AlertWebhookURL = ba.WebhookURL
	}
	if ba.SecretEnv != "" {
		c.Budget.AlertSecret = l.secret(ba.SecretEnv, "")
	}
	if len(ba.Thresholds) > 0 {
		parts := make([]string, len(ba.Thresholds))
		for i, t := range ba.Thresholds {
			parts[i] = strconv.FormatFloat(t, 'f', -1, 64)
		}
		c.Budget.AlertThresholds = strings.Join(parts, ",")
	}
}

// validateBudgetAlerts checks the alert settings: an http(s) URL, a
// secret whenever there is a URL (alerts are always signed), and 1..20
// thresholds in (0, 1000].
func (c *Config) validateBudgetAlerts(bad func(string, ...any)) {
	b := c.Budget
	if b.AlertWebhookURL == "" {
		return
	}
	if !strings.HasPrefix(b.AlertWebhookURL, "http://") && !strings.HasPrefix(b.AlertWebhookURL, "https://") {
		bad("BUDGET_ALERT_WEBHOOK_URL: want an http(s) URL")
	}
	if b.AlertSecret == "" {
		bad("BUDGET_ALERT_SECRET (or budget_alerts.secret_env) is required with a webhook URL: alerts are signed")
	}
	n := 0
	for _, part := range strings.Split(b.AlertThresholds, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n++
		if v, err := strconv.ParseFloat(part, 64); err != nil || v <= 0 || v > 1000 {
			bad("BUDGET_ALERT_THRESHOLDS: %q is not a percentage in (0, 1000]", part)
		}
	}
	if n == 0 || n > 20 {
		bad("BUDGET_ALERT_THRESHOLDS: want 1 to 20 percentages, e.g. 50,80,100")
	}
}
