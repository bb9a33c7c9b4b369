package content

import (
	"testing"

	"github.com/llm-connector/llm-connector/internal/track"
)

func TestPolicyModeFor(t *testing.T) {
	p := &Policy{Default: Redacted, ByCaller: map[string]Mode{"key_1": None, "alice": Full, "key_2": Redacted}}
	for _, tt := range []struct {
		keyID, user string
		want        Mode
	}{
		{"", "", Redacted},           // global
		{"key_9", "bob", Redacted},   // no entry
		{"key_1", "bob", None},       // the key's entry
		{"", "alice", Full},          // the user's entry, looser than the global mode
		{"key_2", "alice", Redacted}, // the key's entry wins over its user's
		{"key_9", "alice", Full},     // the user's entry for another key of hers
		{"alice", "", Full},          // open mode: no key, user named by header
	} {
		if got := p.ModeFor(tt.keyID, tt.user); got != tt.want {
			t.Errorf("ModeFor(%q, %q) = %q, want %q", tt.keyID, tt.user, got, tt.want)
		}
	}
	if got := (&Policy{}).ModeFor("k", "u"); got != Full {
		t.Errorf("zero policy = %q, want full", got)
	}
}

func TestApply(t *testing.T) {
	base := track.Call{ID: "r1", User: "u", System: "sys a@b.co", Prompt: "I am a@b.co", Response: "ok a@b.co",
		ErrorMessage: "quota of a@b.co", CostUSD: 0.5}
	base.Usage.TotalTokens = 7
	for _, tt := range []struct {
		mode                             Mode
		system, prompt, response, errMsg string
		content                          string
	}{
		{Full, "sys a@b.co", "I am a@b.co", "ok a@b.co", "quota of a@b.co", ""},
		{Redacted, "sys [email]", "I am [email]", "ok [email]", "quota of [email]", track.ContentRedacted},
		{None, "", "", "", "quota of [email]", track.ContentNone},
	} {
		c := base
		Apply(&c, tt.mode)
		if c.System != tt.system || c.Prompt != tt.prompt || c.Response != tt.response || c.ErrorMessage != tt.errMsg || c.Content != tt.content {
			t.Errorf("%s: got %+v", tt.mode, c)
		}
		if c.Usage.TotalTokens != 7 || c.CostUSD != 0.5 || c.ID != "r1" || c.User != "u" {
			t.Errorf("%s: metadata changed: %+v", tt.mode, c)
		}
	}
}
