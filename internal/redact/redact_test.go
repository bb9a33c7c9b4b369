package redact

import (
	"strings"
	"testing"
)

const geminiKey = "AI" + "zaSyD-0123456789abcdefghijklmnopqrstu" // 39 bytes, the shape of a Google key

func TestString(t *testing.T) {
	tests := []struct {
		name, in string
		secrets  []string
		gone     []string // none of these may remain
		keep     []string // these must remain
	}{
		{name: "key glued to a letter", in: "pppp" + geminiKey + "qq", secrets: []string{geminiKey},
			gone: []string{geminiKey[:8]}, keep: []string{"pppp", "qq"}},
		{name: "prefix of a configured key", in: "bad key " + geminiKey[:20], secrets: []string{geminiKey},
			gone: []string{geminiKey[:8]}, keep: []string{"bad key "}},
		{name: "unconfigured google key glued", in: "xAI" + "zaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", gone: []string{"AIzaSyAAAA"}},
		{name: "short prefix kept", in: "AIzaSyD is a word", secrets: []string{geminiKey}, keep: []string{"AIzaSyD"}},
		{name: "dsn password", in: `failed to connect to host=db user=app password=pg-secret-pw dbname=x`,
			gone: []string{"pg-secret-pw"}, keep: []string{"host=db", "user=app"}},
		{name: "quoted dsn password", in: `host=db password='pg secret pw' sslmode=disable`,
			gone: []string{"pg secret pw", "secret"}, keep: []string{"sslmode=disable"}},
		{name: "url userinfo", in: `Get "https://ml:hunter22pw@mlflow.example:5000/api": refused`,
			gone: []string{"hunter22pw"}, keep: []string{"https://ml:", "@mlflow.example:5000/api"}},
		{name: "redis url", in: `dial redis://:r3dis-pass@10.0.0.1:6379/0`, gone: []string{"r3dis-pass"}},
		{name: "basic header echoed", in: `401: request had Authorization: Basic bWw6aHVudGVyMjI= header`,
			gone: []string{"bWw6aHVudGVyMjI="}, keep: []string{"header"}},
		{name: "bare basic credentials", in: `auth Basic bWw6aHVudGVyMjI= refused`, gone: []string{"bWw6aHVudGVyMjI="}, keep: []string{"refused"}},
		{name: "basic in prose", in: "basic authentication failed", keep: []string{"basic authentication failed"}},
		{name: "bearer", in: "sent bearer abcdef123456789 to upstream", gone: []string{"abcdef123456789"}, keep: []string{"to upstream"}},
		{name: "query key", in: "GET /v1beta/models?key=AIzaXYZ&alt=sse", gone: []string{"AIzaXYZ"}, keep: []string{"alt=sse"}},
		{name: "json password", in: `{"password": "hunter2", "user": "x"}`, gone: []string{"hunter2"}, keep: []string{`"user": "x"`}},
		{name: "plain text untouched", in: "429 RESOURCE_EXHAUSTED: quota exceeded for max_tokens=500",
			keep: []string{"429 RESOURCE_EXHAUSTED: quota exceeded for max_tokens=500"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := String(tt.in, tt.secrets...)
			for _, g := range tt.gone {
				if strings.Contains(got, g) {
					t.Errorf("String(%q) = %q: still holds %q", tt.in, got, g)
				}
			}
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("String(%q) = %q: lost %q", tt.in, got, k)
				}
			}
		})
	}
}

// TestCutRedactsFirst is issue 18's Gemini case: 475 bytes of text then
// the key, cut to 512 bytes, must not keep 37 of the key's 39 bytes.
func TestCutRedactsFirst(t *testing.T) {
	in := strings.Repeat("p", 475) + geminiKey
	got := Cut(in, 512, geminiKey)
	if strings.Contains(got, geminiKey[:MinPrefix]) {
		t.Fatalf("Cut kept a piece of the key: %q", got[470:])
	}
	if len(got) > 512+len("...") {
		t.Fatalf("Cut returned %d bytes, want at most %d", len(got), 515)
	}
	// The other order is the bug: cutting first leaves 37 bytes of the key.
	if cutFirst := in[:512]; !strings.Contains(cutFirst, geminiKey[:37]) {
		t.Fatal("test input does not reproduce the issue")
	}
}

func TestSetLongestFirst(t *testing.T) {
	s := NewSet("abc", "secret-one", "secret-one-longer")
	if got := s.Secrets(); len(got) != 2 || got[0] != "secret-one-longer" {
		t.Fatalf("Secrets() = %q, want the two long ones, longest first", got)
	}
	if got := s.String("x secret-one-longer y"); strings.Contains(got, "longer") {
		t.Fatalf("String = %q: the longer secret was cut in two", got)
	}
}

// FuzzString checks that no piece of MinPrefix bytes or more of a
// configured secret (keys are [A-Za-z0-9_-]) survives, whatever
// surrounds it, and that Cut stays within its bound.
func FuzzString(f *testing.F) {
	f.Add("pppp", geminiKey, "qq", 512)
	f.Add("", "sk-ant-0123456789abcdef", "", 10)
	f.Add("password=", "abcdefgh", "abcdefg", 3)
	f.Fuzz(func(t *testing.T, before, sec, after string, max int) {
		sec = keyChars(sec)
		if len(sec) < MinPrefix {
			return
		}
		for _, in := range []string{before + sec + after, before + sec[:MinPrefix] + after, before + sec + sec[1:] + after} {
			out := String(in, sec)
			if strings.Contains(out, sec[:MinPrefix]) {
				t.Fatalf("String(%q, %q) = %q keeps a piece of the secret", in, sec, out)
			}
			max = max % 4096
			cut := Cut(in, max, sec)
			if strings.Contains(cut, sec[:MinPrefix]) {
				t.Fatalf("Cut(%q, %d) = %q keeps a piece of the secret", in, max, cut)
			}
			if max > 0 && len(cut) > max+3 {
				t.Fatalf("Cut(%q, %d) is %d bytes", in, max, len(cut))
			}
		}
	})
}

func keyChars(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}

func BenchmarkStringPlain(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		String("/v1/chat/completions", geminiKey, "sk-ant-0123456789abcdef")
	}
}
