// Package jsonscan is a small JSON reader for the fast decoders of the
// providers' hot events (OpenAI chat.completion chunks, Gemini
// GenerateContentResponse chunks): no reflection, no allocation beyond
// what the caller keeps, strings shared with the input. Every method
// reports false when the input is outside what it reads exactly as
// encoding/json would (escaped strings, duplicate or case-folded keys,
// numbers that are not plain integers, bad syntax); the caller then
// decodes with encoding/json, which stays the reference (each user
// fuzzes its fast path against it).
package jsonscan

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Scanner reads JSON from s at i. Every method reports false when the
// input is outside what the fast path decodes exactly like
// encoding/json; the caller then gives up.
type Scanner struct {
	s     string
	i     int
	depth int
	// key is the key Object last handed to a member, keyASCII whether
	// it is all ASCII (Other's case folding).
	key      string
	keyASCII bool
}

// New returns a scanner at the start of s.
func New(s string) Scanner { return Scanner{s: s} }

// AtEnd reports whether only white space is left.
func (p *Scanner) AtEnd() bool {
	p.WS()
	return p.i == len(p.s)
}

// maxSkipDepth bounds the nesting of skipped values; deeper input goes
// to json.Unmarshal.
const maxSkipDepth = 64

// WS passes over white space. Compact JSON has none: one comparison
// (every byte above the space is not white space) is all it costs then.
func (p *Scanner) WS() {
	for p.i < len(p.s) && p.s[p.i] <= ' ' {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *Scanner) Byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *Scanner) Literal(lit string) bool {
	if strings.HasPrefix(p.s[p.i:], lit) {
		p.i += len(lit)
		return true
	}
	return false
}

func (p *Scanner) Null() bool { return p.Literal("null") }

// NoField is what a member function returns for a key it skipped.
const NoField = -1

// object reads {"key": value, ...}, calling member with the scanner at
// each value; member returns the number of the field it decoded (or
// NoField) and whether it could. A field seen twice fails: encoding/json
// merges repeated keys in ways not worth copying. Keys are plain strings
// (no escapes).
func (p *Scanner) Object(member func(key string) (field int, ok bool)) bool {
	if !p.Byte('{') {
		return false
	}
	var seen uint64 // fields are numbered 0..63
	p.WS()
	if p.Byte('}') {
		return true
	}
	for {
		p.WS()
		key, ascii, ok := p.plainString()
		p.key, p.keyASCII = key, ascii
		if !ok {
			return false
		}
		p.WS()
		if !p.Byte(':') {
			return false
		}
		p.WS()
		field, ok := member(key)
		if !ok {
			return false
		}
		if field != NoField {
			if seen&(1<<field) != 0 {
				return false
			}
			seen |= 1 << field
		}
		p.WS()
		if p.Byte(',') {
			continue
		}
		return p.Byte('}')
	}
}

// Other skips the value of a key we do not keep, unless the key would
// match one we keep under encoding/json's case-insensitive matching.
// The kept keys are ASCII: a key of another length can then fold to
// one only through a non-ASCII letter (the Kelvin sign is k), so an
// ASCII key is compared with the kept keys of its own length alone.
func (p *Scanner) Other(key string, kept ...string) bool {
	ascii := p.keyASCII // Object found out, for the key it handed over
	if key != p.key {
		ascii = isASCII(key)
	}
	for _, k := range kept {
		if (len(k) == len(key) || !ascii) && strings.EqualFold(key, k) {
			return false
		}
	}
	return p.Skip()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// plainByte holds the bytes a plain string runs over without a second
// look: printable ASCII but the quote and the backslash.
// stringByte holds the bytes any string runs over: plainByte and the
// non-ASCII bytes.
var plainByte, stringByte = func() (plain, str [256]bool) {
	for c := 0x20; c < 256; c++ {
		str[c] = c != '"' && c != '\\'
		plain[c] = str[c] && c < utf8.RuneSelf
	}
	return plain, str
}()

// PlainString reads a string without escapes or control characters,
// valid UTF-8, and returns its contents (sharing s's memory).
func (p *Scanner) PlainString() (string, bool) {
	v, _, ok := p.plainString()
	return v, ok
}

// plainString is PlainString that also tells whether the string is all
// ASCII.
func (p *Scanner) plainString() (v string, ascii, ok bool) {
	if !p.Byte('"') {
		return "", false, false
	}
	s, i := p.s, p.i
	start := i
	ascii = true
	for {
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		if i >= len(s) {
			return "", false, false
		}
		switch c := s[i]; {
		case c == '"':
			p.i = i + 1
			v := s[start:i]
			return v, ascii, ascii || utf8.ValidString(v)
		case c >= utf8.RuneSelf:
			ascii = false
			i++
		default: // a backslash or a control character
			return "", false, false
		}
	}
}

// str reads a string into *out; null leaves *out as it is.
func (p *Scanner) Str(out *string) bool {
	if p.Null() {
		return true
	}
	v, ok := p.PlainString()
	*out = v
	return ok
}

// int reads a plain integer (no fraction, no exponent) into *out; null
// leaves *out as it is.
func (p *Scanner) Int(out *int) bool {
	if p.Null() {
		return true
	}
	start := p.i
	p.Byte('-')
	digits := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || (p.s[digits] == '0' && p.i-digits > 1) {
		return false
	}
	if p.i < len(p.s) && (p.s[p.i] == '.' || p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		return false
	}
	n, err := strconv.Atoi(p.s[start:p.i])
	*out = n
	return err == nil
}

// skip validates and passes over any JSON value.
func (p *Scanner) Skip() bool {
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		return p.skipString()
	case c == '{', c == '[':
		if p.depth >= maxSkipDepth {
			return false
		}
		p.depth++
		defer func() { p.depth-- }()
		if c == '{' {
			return p.Object(func(string) (int, bool) { return NoField, p.Skip() })
		}
		p.i++
		p.WS()
		if p.Byte(']') {
			return true
		}
		for {
			p.WS()
			if !p.Skip() {
				return false
			}
			p.WS()
			if p.Byte(',') {
				continue
			}
			return p.Byte(']')
		}
	case c == 't':
		return p.Literal("true")
	case c == 'f':
		return p.Literal("false")
	case c == 'n':
		return p.Null()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.skipNumber()
	}
	return false
}

// skipString passes over a string, escapes included.
func (p *Scanner) skipString() bool {
	s, i := p.s, p.i+1 // past the opening quote
	for {
		for i < len(s) && stringByte[s[i]] {
			i++
		}
		if i >= len(s) || s[i] < 0x20 {
			return false
		}
		if s[i] == '"' {
			p.i = i + 1
			return true
		}
		if i = skipEscape(s, i); i < 0 {
			return false
		}
	}
}

// skipEscape returns the index past the escape at s[i] (a backslash),
// or -1 if it is not one JSON allows.
func skipEscape(s string, i int) int {
	i++
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 1
	case 'u':
		if i+5 > len(s) {
			return -1
		}
		for _, h := range []byte(s[i+1 : i+5]) {
			if !isHex(h) {
				return -1
			}
		}
		return i + 5
	}
	return -1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipNumber passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *Scanner) skipNumber() bool {
	p.Byte('-')
	digits := func() int {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		return p.i - start
	}
	start := p.i
	n := digits()
	if n == 0 || (p.s[start] == '0' && n > 1) {
		return false
	}
	if p.Byte('.') && digits() == 0 {
		return false
	}
	if p.Byte('e') || p.Byte('E') {
		if !p.Byte('+') {
			p.Byte('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// Bool reads true or false into *out; null leaves *out as it is.
func (p *Scanner) Bool(out *bool) bool {
	switch {
	case p.Literal("true"):
		*out = true
	case p.Literal("false"):
		*out = false
	case p.Null():
	default:
		return false
	}
	return true
}

// Array reads [elem, ...] calling elem with the scanner at each element;
// null is an empty array here (the caller sets its slice to nil first).
func (p *Scanner) Array(elem func() bool) bool {
	if p.Null() {
		return true
	}
	if !p.Byte('[') {
		return false
	}
	p.WS()
	if p.Byte(']') {
		return true
	}
	for {
		p.WS()
		if !elem() {
			return false
		}
		p.WS()
		if p.Byte(',') {
			continue
		}
		return p.Byte(']')
	}
}

// Pos is the offset in s the scanner is at: where the next value
// starts, after WS.
func (p *Scanner) Pos() int { return p.i }

// Number reads a JSON number and returns its text.
func (p *Scanner) Number() (string, bool) {
	start := p.i
	if p.i >= len(p.s) || p.s[p.i] != '-' && (p.s[p.i] < '0' || p.s[p.i] > '9') {
		return "", false
	}
	if !p.skipNumber() {
		return "", false
	}
	return p.s[start:p.i], true
}
