package mlflow

import (
	"regexp"
	"strings"
	"testing"
)

// serverKeyRE is the server's key rule as a regexp, the reference for
// keyChars.
var serverKeyRE = regexp.MustCompile(`^[/\p{L}\p{N}_.\- ]*$`)

// FuzzKeyChars: keyChars accepts exactly what the server's rule does.
func FuzzKeyChars(f *testing.F) {
	for _, k := range []string{"model", "a/b c-d", "ünïcode", "bad;key", "x\xff", "\uFFFD", "٣٤", "Ⅻ", "tab\t", "日本語_1.2"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if got, want := keyChars(k), serverKeyRE.MatchString(k); got != want {
			t.Fatalf("keyChars(%q) = %v, the server's rule says %v", k, got, want)
		}
	})
}

func TestValidKey(t *testing.T) {
	for k, want := range map[string]bool{
		"model": true, "tokens_used": true, "mlflow.source.name": true, "a/b c-d": true,
		strings.Repeat("k", 250): true, strings.Repeat("k", 251): false,
		"": false, "../bad": false, "/abs": false, "a/../b": false, "bad;key": false, "ünïcode": true,
	} {
		if got := validKey(k); got != want {
			t.Errorf("validKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"no secrets here", "no secrets here"},
		{"key sk-proj-abcdEFGH1234_xyz was refused", "key [REDACTED] was refused"},
		{"Authorization: Bearer abc.def-123456", "Authorization: [REDACTED]"},
		{"https://x/v1beta/models?key=AIzaSyDUMMYDUMMYDUMMYDUMMY12&alt=sse", "https://x/v1beta/models?key=[REDACTED]&alt=sse"},
		{"aws AKIAABCDEFGHIJKLMNOP denied", "aws [REDACTED] denied"},
		{"token=hunter2 password=pw", "token=[REDACTED] password=[REDACTED]"},
		{"configured secret my-own-token leaked", "configured secret [REDACTED] leaked"},
	}
	for _, c := range cases {
		if got := Redact(c.in, "my-own-token"); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestBuildRunKeepsTextOutOfParamsAndTags: prompts and responses go to
// artifacts only; long values are cut before MLflow would cut them.
func TestBuildRunKeepsTextOutOfParamsAndTags(t *testing.T) {
	c := sampleCall(1)
	c.Prompt = "PROMPT-TEXT " + strings.Repeat("p", 10000)
	c.Response = "RESPONSE-TEXT"
	c.System = "SYSTEM-TEXT"
	c.Model = strings.Repeat("m", 7000)
	c.Success = false
	c.ErrorKind = "upstream"
	c.ErrorMessage = strings.Repeat("e", 3000)
	d := buildRun(c, "llm-connector", nil)
	for _, list := range [][]kv{d.params, d.tags, d.create} {
		for _, p := range list {
			if !validKey(p.Key) {
				t.Errorf("invalid key %q", p.Key)
			}
			for _, text := range []string{"PROMPT-TEXT", "RESPONSE-TEXT", "SYSTEM-TEXT"} {
				if strings.Contains(p.Value, text) {
					t.Errorf("%s carries %s", p.Key, text)
				}
			}
			if len([]rune(p.Value)) > maxParamValue {
				t.Errorf("%s is %d long", p.Key, len(p.Value))
			}
		}
	}
	for _, p := range d.tags {
		if p.Key == TagErrorMessage && len(p.Value) != maxErrorMsgLen {
			t.Errorf("error_message length %d", len(p.Value))
		}
	}
	if len(d.name) > maxRunName || d.status != "FAILED" {
		t.Errorf("name %d, status %s", len(d.name), d.status)
	}
	if len(d.params) > 100 || len(d.tags) > 100 || len(d.metrics)+len(d.params)+len(d.tags) > 1000 {
		t.Error("batch over MLflow's limits")
	}
}

func TestTruncateRunes(t *testing.T) {
	if got := truncateRunes("héllo", 2); got != "hé" {
		t.Fatalf("got %q", got)
	}
	if got := truncateRunes("abc", 5); got != "abc" {
		t.Fatalf("got %q", got)
	}
}
