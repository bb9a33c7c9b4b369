// Package redact removes secrets from text that leaves the process: error
// messages shown to clients, log lines, /health, the tracking spool and
// MLflow. It is the one redactor every package uses; it imports only the
// standard library.
//
// Two passes, in this order:
//
//   - Configured secrets (API keys, passwords, tokens): every occurrence,
//     and every piece of one that is at least MinPrefix bytes long and
//     starts where the secret starts (a message cut in the middle of a
//     key), is replaced. Matching is plain byte comparison, never word
//     boundaries, so a key glued to a letter is found too.
//   - Shapes of credentials that were not configured: URL userinfo
//     ("scheme://user:pass@"), key=value pairs named password, token,
//     secret, key... (DSNs, query strings), Authorization header values,
//     Bearer and Basic credentials, and well-known API key prefixes.
//
// Callers that must bound a text redact first, then cut (Cut does both),
// so that a cut can never leave a piece of a secret that redaction would
// have recognised whole.
package redact

import (
	"encoding/base64"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Mask replaces what is removed.
const Mask = "[REDACTED]"

// MinPrefix is the shortest piece of a configured secret that is removed
// when the whole secret is not there.
const MinPrefix = 8

// MinSecret is the shortest configured secret taken into account: shorter
// ones would redact ordinary words.
const MinSecret = 6

// patterns are the credential shapes. A pattern runs only when its
// needle (lower case) is in the lower-cased text, so that ordinary text
// (a path, a request ID) costs a few substring scans, not regexps.
var patterns = []struct {
	needle string
	re     *regexp.Regexp
	repl   string
}{
	// URL userinfo: keep the scheme and user, drop the password.
	{"://", regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/?#\s:@]*):[^/?#\s@]*@`), "${1}:" + Mask + "@"},
	// Authorization header values, whatever the scheme.
	{"authorization", regexp.MustCompile(`(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:[A-Za-z]+\s+)?[^\s"',;]+`), "${1}" + Mask},
	// Bearer tokens anywhere.
	{"bearer", regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}`), "${1}" + Mask},
	// key=value and "key": "value" pairs naming a credential (DSNs,
	// query strings, JSON). A quoted DSN value may hold spaces.
	{"=", regexp.MustCompile(`(?i)((?:api[_-]?key|access[_-]?key|secret[_-]?key|key|token|password|passwd|pwd|secret|signature|sig)\s*=\s*)(?:'[^']*'|"[^"]*"|[^&\s"',;]+)`), "${1}" + Mask},
	{`"`, regexp.MustCompile(`(?i)("(?:api[_-]?key|password|passwd|token|secret|access_token|refresh_token)"\s*:\s*)"[^"]*"`), `${1}"` + Mask + `"`},
	// Well-known key shapes, with no word boundary: a key glued to a
	// letter is still a key.
	{"sk-", regexp.MustCompile(`sk-[A-Za-z0-9_-]{16,}`), Mask},   // OpenAI / Anthropic
	{"aiza", regexp.MustCompile(`AIza[0-9A-Za-z_-]{20,}`), Mask}, // Google
	{"akia", regexp.MustCompile(`AKIA[0-9A-Z]{16}`), Mask},       // AWS access key IDs
	{"lc-", regexp.MustCompile(`lc-[A-Za-z0-9_-]{16,}`), Mask},   // this service's API keys
}

// basic finds "Basic <base64>"; the token is removed when it decodes to
// "user:password", so that the word "basic" in prose is left alone.
var basic = regexp.MustCompile(`(?i)basic\s+([A-Za-z0-9+/]{4,}={0,2})`)

// String returns s with every configured secret (and every piece of one
// of MinPrefix bytes or more starting at its beginning) and every
// credential-shaped text replaced by Mask.
func String(s string, secrets ...string) string {
	if s == "" {
		return s
	}
	for _, sec := range secrets {
		s = secret(s, sec)
	}
	lower := strings.ToLower(s)
	for _, p := range patterns {
		if strings.Contains(lower, p.needle) {
			s = p.re.ReplaceAllString(s, p.repl)
		}
	}
	if !strings.Contains(lower, "basic") {
		return s
	}
	s = basic.ReplaceAllStringFunc(s, func(m string) string {
		sub := basic.FindStringSubmatch(m)
		raw, err := base64.StdEncoding.DecodeString(sub[1])
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(sub[1], "="))
		}
		if err != nil || !strings.Contains(string(raw), ":") {
			return m
		}
		return m[:len(m)-len(sub[1])] + Mask
	})
	return s
}

// secret removes sec and its pieces of MinPrefix bytes or more from s.
func secret(s, sec string) string {
	if len(sec) < MinSecret {
		return s
	}
	if len(sec) < MinPrefix {
		return strings.ReplaceAll(s, sec, Mask)
	}
	head := sec[:MinPrefix]
	if !strings.Contains(s, head) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, head)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		n := MinPrefix
		for n < len(sec) && i+n < len(s) && s[i+n] == sec[n] {
			n++
		}
		b.WriteString(s[:i])
		b.WriteString(Mask)
		s = s[i+n:]
	}
}

// Cut redacts s, then bounds it to at most max bytes (valid UTF-8, "..."
// appended when something was cut). max <= 0 means no bound.
func Cut(s string, max int, secrets ...string) string {
	s = String(s, secrets...)
	if max <= 0 || len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// Set is a fixed list of configured secrets, for callers that redact many
// texts with the same secrets. The zero Set still removes credential
// shapes.
type Set struct{ secrets []string }

// NewSet keeps the secrets of at least MinSecret bytes, longest first (so
// that a secret containing another is removed whole).
func NewSet(secrets ...string) *Set {
	out := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if len(s) >= MinSecret {
			out = append(out, s)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return &Set{secrets: out}
}

// String redacts s with the set's secrets.
func (st *Set) String(s string) string {
	if st == nil {
		return String(s)
	}
	return String(s, st.secrets...)
}

// Cut redacts s with the set's secrets, then bounds it as Cut does.
func (st *Set) Cut(s string, max int) string {
	if st == nil {
		return Cut(s, max)
	}
	return Cut(s, max, st.secrets...)
}

// Secrets returns the set's secrets (for tests and wiring).
func (st *Set) Secrets() []string {
	if st == nil {
		return nil
	}
	return append([]string(nil), st.secrets...)
}
