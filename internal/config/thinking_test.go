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
