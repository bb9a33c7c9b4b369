package content

import (
	"math"
	"strings"
)

// prefixes are the known API key shapes: a prefix and the least number
// of token bytes that follow it in a real key (so "sk-learn" is a word).
var prefixes = []struct {
	p   string
	min int
}{
	{"sk-", 20},         // OpenAI (sk-proj-…), Anthropic (sk-ant-…), many others
	{"AIza", 30},        // Google API keys
	{"lc-", 20},         // this gateway's keys
	{"ghp_", 30},        // GitHub personal, OAuth, user, server, refresh tokens
	{"gho_", 30},        //
	{"ghu_", 30},        //
	{"ghs_", 30},        //
	{"ghr_", 30},        //
	{"github_pat_", 20}, // GitHub fine-grained tokens
	{"xoxa-", 10},       // Slack
	{"xoxb-", 10},       //
	{"xoxe-", 10},       //
	{"xoxp-", 10},       //
	{"xoxr-", 10},       //
	{"xoxs-", 10},       //
	{"glpat-", 20},      // GitLab
	{"hf_", 30},         // Hugging Face
}

// minOpaque is the length from which an unprefixed token is judged by
// its shape: 32 or more of [A-Za-z0-9_-].
const minOpaque = 32

// secret judges the token s[i:end] (a maximal run of [A-Za-z0-9_-]) and
// what directly follows it: a "Bearer" word masks the credential after
// it, a JWT's header extends over its payload and signature.
func secret(s string, i, end int) (Span, bool) {
	tok := s[i:end]
	if len(tok) == 6 && strings.EqualFold(tok, "bearer") {
		return bearer(s, end)
	}
	if end < len(s) && s[end] == '.' && strings.HasPrefix(tok, "eyJ") {
		if e, ok := jwt(s, end); ok {
			return Span{i, e, Secret}, true
		}
	}
	if len(tok) < 16 {
		return Span{}, false
	}
	for _, p := range prefixes {
		if strings.HasPrefix(tok, p.p) && len(tok)-len(p.p) >= p.min {
			return Span{i, end, Secret}, true
		}
	}
	if len(tok) == 20 && (strings.HasPrefix(tok, "AKIA") || strings.HasPrefix(tok, "ASIA")) && upperDigits(tok) {
		return Span{i, end, Secret}, true // AWS access key ID
	}
	if len(tok) >= minOpaque && opaque(tok) {
		return Span{i, end, Secret}, true
	}
	return Span{}, false
}

func upperDigits(t string) bool {
	for i := 0; i < len(t); i++ {
		if !is(t[i], cUpper|cDigit) {
			return false
		}
	}
	return true
}

// bearer masks the credential after "Bearer" and spaces: an RFC 6750
// b64token ([A-Za-z0-9._~+/-]+ then '='s) of 8 bytes or more.
func bearer(s string, j int) (Span, bool) {
	k := j
	for k < len(s) && s[k] == ' ' && k-j < 8 {
		k++
	}
	if k == j {
		return Span{}, false
	}
	start := k
	for k < len(s) && (is(s[k], cTok) || strings.IndexByte("._~+/", s[k]) >= 0) {
		k++
	}
	for k < len(s) && s[k] == '=' {
		k++
	}
	if k-start < 8 {
		return Span{}, false
	}
	return Span{start, k, Secret}, true
}

// jwt reads ".payload.signature" after a header (the signature may be
// empty for alg "none"); j is at the first dot.
func jwt(s string, j int) (int, bool) {
	p := tokenEnd(s, j+1)
	if p-(j+1) < 4 || p >= len(s) || s[p] != '.' {
		return 0, false
	}
	return tokenEnd(s, p+1), true
}

// opaque judges a long token by its shape. Hex of both digits and
// letters is a key or hash. Otherwise the token is cut into segments
// the way identifiers read (a new one at lower→upper, letter↔digit and
// at '_' or '-'): words ("TestGatewayRecordsRedactedPrompt",
// "this_is_a_long_identifier") make segments of four or more bytes on
// average, random base64 about two; numbers are one segment. Measured on
// random tokens, this flags all but ~0.3% of 32-byte base64 (a token
// with few segments still counts when its entropy is high) and none of
// the identifiers in the tests.
func opaque(t string) bool {
	if hexKey(t) {
		return true
	}
	segs, digits := 1, 0
	var count [256]int
	for i := 0; i < len(t); i++ {
		c := t[i]
		count[c]++
		if is(c, cDigit) {
			digits++
		}
		if i == 0 {
			continue
		}
		p := t[i-1]
		if !is(c, cAlnum) {
			continue
		}
		if !is(p, cAlnum) || (is(p, cLower) && is(c, cUpper)) || is(p, cDigit) != is(c, cDigit) {
			segs++
		}
	}
	h := entropy(&count, len(t))
	if h < 3 {
		return false // "aaaa…", "1-1-1-1…": long but not random
	}
	avg := float64(len(t)) / float64(segs)
	return avg < 3.6 || (avg < 4.5 && digits >= 2 && h >= 4.2)
}

// entropy is the Shannon entropy, in bits per byte, of n bytes counted.
func entropy(count *[256]int, n int) float64 {
	h := 0.0
	for _, k := range count {
		if k > 0 {
			p := float64(k) / float64(n)
			h -= p * math.Log2(p)
		}
	}
	return h
}

// hexKey reports a token of hex digits, one letter case, with both digits
// and letters (a hash, a hex key; not a long number).
func hexKey(t string) bool {
	var lower, upper, digits bool
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case digit(c):
			digits = true
		case c >= 'a' && c <= 'f':
			lower = true
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return false
		}
	}
	return digits && lower != upper
}
