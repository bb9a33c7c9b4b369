package config

import (
	"strings"
	"testing"
)

func TestThinkingLevel(t *testing.T) {
	c, err := Load(env(map[string]string{"GOOGLE_THINKING_LEVEL": "HIGH"}))
	if err != nil || c.Google.ThinkingLevel != "high" {
		t.Fatalf("level %q, err %v", c.Google.ThinkingLevel, err)
	}
	if _, err := Load(env(map[string]string{"GOOGLE_THINKING_LEVEL": "max"})); err == nil || !strings.Contains(err.Error(), "GOOGLE_THINKING_LEVEL") {
		t.Errorf("bad level: err %v", err)
	}
	good := "providers:\n  g3:\n    type: google\n    base_url: https://example.com\n    thinking_level: low\n"
	f, err := ParseFile("t.yaml", []byte(good))
	if err != nil || f.Providers["g3"].ThinkingLevel != "low" {
		t.Fatalf("file: %+v %v", f, err)
	}
	bad := strings.Replace(good, "thinking_level: low", "thinking_level: max", 1)
	if _, err := ParseFile("t.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "thinking_level") {
		t.Errorf("bad file level: err %v", err)
	}
}

func TestBudgetAlertConfig(t *testing.T) {
	c, err := Load(env(map[string]string{"BUDGET_ALERT_WEBHOOK_URL": "https://hooks.example.com/x", "BUDGET_ALERT_SECRET": "s3cr3t-value"}))
	if err != nil || c.Budget.AlertThresholds != "50,80,100" || c.Budget.AlertSecret != "s3cr3t-value" {
		t.Fatalf("%+v %v", c.Budget, err)
	}
	for name, e := range map[string]map[string]string{
		"no secret":     {"BUDGET_ALERT_WEBHOOK_URL": "https://hooks.example.com/x"},
		"bad url":       {"BUDGET_ALERT_WEBHOOK_URL": "hooks", "BUDGET_ALERT_SECRET": "s3cr3t-value"},
		"bad threshold": {"BUDGET_ALERT_WEBHOOK_URL": "https://h/x", "BUDGET_ALERT_SECRET": "s3cr3t-value", "BUDGET_ALERT_THRESHOLDS": "50,lots"},
	} {
		_, err := Load(env(e))
		if err == nil || !strings.Contains(err.Error(), "BUDGET_ALERT") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: %v", name, err)
		}
	}
	f, err := ParseFile("a.yaml", []byte("budget_alerts:\n  webhook_url: https://h/x\n  secret_env: HOOK_SECRET\n  thresholds: [75, 100]\n"))
	if err != nil || f.BudgetAlerts.SecretEnv != "HOOK_SECRET" || len(f.BudgetAlerts.Thresholds) != 2 {
		t.Fatalf("file: %+v %v", f, err)
	}
}
