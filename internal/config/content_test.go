package config

import (
	"strings"
	"testing"
)

func TestLogContentEnv(t *testing.T) {
	for _, tt := range []struct {
		val, want string
		ok        bool
	}{
		{"", "full", true}, {"full", "full", true}, {"Redacted", "redacted", true}, {"none", "none", true},
		{"off", "", false}, {"partial", "", false},
	} {
		c, err := Load(env(map[string]string{"GOOGLE_API_KEY_FILE": "", "MLFLOW_LOG_CONTENT": tt.val}))
		if !tt.ok {
			if err == nil || !strings.Contains(err.Error(), "MLFLOW_LOG_CONTENT") || !strings.Contains(err.Error(), LogContentValues) {
				t.Errorf("MLFLOW_LOG_CONTENT=%q: err %v, want one naming the variable and listing %s", tt.val, err, LogContentValues)
			}
			continue
		}
		if err != nil || c.MLflow.LogContent != tt.want {
			t.Errorf("MLFLOW_LOG_CONTENT=%q: %q, %v; want %q", tt.val, c.MLflow.LogContent, err, tt.want)
		}
	}
}

func TestLogContentFile(t *testing.T) {
	f, err := ParseFile("ok.yaml", []byte("log_content:\n  key_abc: none\n  alice: full\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.LogContent["key_abc"] != "none" || f.LogContent["alice"] != "full" {
		t.Errorf("log_content = %v", f.LogContent)
	}
	_, err = ParseFile("bad.yaml", []byte("log_content:\n  bob: hidden\n"))
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:2:") || !strings.Contains(err.Error(), LogContentValues) {
		t.Errorf("bad log_content: err %v, want its line and the allowed values", err)
	}
}
