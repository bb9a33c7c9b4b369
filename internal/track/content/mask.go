// Package redact cleans the content of a tracking record before it leaves
// the process (MLFLOW_LOG_CONTENT): it masks e-mail addresses, phone and
// payment card numbers, IBANs and anything that looks like an API key or
// secret, or withholds the content altogether.
//
// The masker is one hand-written left-to-right pass over the bytes, with
// no regular expressions and no backtracking: every byte is looked at a
// bounded number of times, so the cost is linear in the input (a 2 KB
// prompt takes a few microseconds; see BenchmarkMask).
package content

import "strings"

// Kind is what a masked span was.
type Kind uint8

// The kinds of detected items.
const (
	Email Kind = iota + 1
	Phone
	Card
	IBAN
	Secret
)

// Placeholder is the text a span of kind k is replaced with.
func (k Kind) Placeholder() string {
	switch k {
	case Email:
		return "[email]"
	case Phone:
		return "[phone]"
	case Card:
		return "[card]"
	case IBAN:
		return "[iban]"
	case Secret:
		return "[secret]"
	}
	return "[redacted]"
}

// Span is one detected item: s[Start:End] is its original text.
type Span struct {
	Start, End int
	Kind       Kind
}

// Mask returns s with every detected item replaced by its placeholder
// ("[email]", "[phone]", "[card]", "[iban]", "[secret]"). It returns s
// itself, without allocating, when nothing is found.
func Mask(s string) string {
	var buf [8]Span
	spans := find(s, buf[:0])
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.Start])
		b.WriteString(sp.Kind.Placeholder())
		last = sp.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// Find returns the items Mask would replace, in order, not overlapping.
func Find(s string) []Span { return find(s, nil) }

// Byte classes, one table lookup per byte on the hot path.
const (
	cLower = 1 << iota // a-z
	cUpper             // A-Z
	cDigit             // 0-9
	cTok               // [A-Za-z0-9_-]: a token (key, word, number) byte
	cLocal             // an e-mail local-part byte: [A-Za-z0-9._%+-]
)

var classes = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLower | cTok | cLocal
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cUpper | cTok | cLocal
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit | cTok | cLocal
	}
	t['_'] = cTok | cLocal
	t['-'] = cTok | cLocal
	for _, c := range "._%+" {
		t[c] |= cLocal
	}
	return t
}()

func is(c byte, class uint8) bool { return classes[c]&class != 0 }

const cAlnum = cLower | cUpper | cDigit

// find appends the detected spans of s to out. The loop moves forward
// over whole tokens; each detector looks ahead a bounded distance or over
// the token it is given, so the pass is linear in len(s).
func find(s string, out []Span) []Span {
	for i := 0; i < len(s); {
		c := s[i]
		if !is(c, cTok) {
			switch c {
			case '@':
				if sp, ok := email(s, i, lastEnd(out)); ok {
					out = append(out, sp)
					i = sp.End
					continue
				}
			case '+', '(':
				end, k := number(s, i)
				if k != 0 {
					out = append(out, Span{i, end, k})
				}
				if k != 0 || end > i+1 {
					i = end
					continue
				}
			}
			i++
			continue
		}
		// i starts a token: the byte before it, if any, is not a token byte.
		if is(c, cDigit) {
			end, k := number(s, i)
			if k != 0 {
				out = append(out, Span{i, end, k})
			}
			if k != 0 || end > i+1 {
				i = end // a number, or a sequence not to re-read from its middle
				continue
			}
		}
		if is(c, cUpper) {
			if end, ok := iban(s, i); ok {
				out = append(out, Span{i, end, IBAN})
				i = end
				continue
			}
		}
		end := tokenEnd(s, i)
		if sp, ok := secret(s, i, end); ok {
			out = append(out, sp)
			end = sp.End
		}
		i = end
	}
	return out
}

func lastEnd(out []Span) int {
	if len(out) == 0 {
		return 0
	}
	return out[len(out)-1].End
}

func tokenEnd(s string, i int) int {
	for i < len(s) && is(s[i], cTok) {
		i++
	}
	return i
}

// maxLocal bounds the local part of an address (RFC 5321: 64 octets).
const maxLocal = 64

// maxDomain bounds the domain of an address (RFC 1035: 253 octets).
const maxDomain = 253

// email reports an address around the '@' at at: a local part of
// [A-Za-z0-9._%+-] before it (at most 64 bytes, not reaching back into
// the span that ended at floor), then a domain of at least two
// dot-separated labels whose last is two or more letters. Anchoring on
// '@' looks back at most 64 bytes per '@', so the pass stays linear.
func email(s string, at, floor int) (Span, bool) {
	i := at
	for i > floor && at-i < maxLocal && is(s[i-1], cLocal) {
		i--
	}
	if i == at {
		return Span{}, false
	}
	j, labels, lastEnd, tldLetters := at+1, 0, 0, false
	for j < len(s) && j-at <= maxDomain {
		k := j
		letters := true
		for k < len(s) && k-at <= maxDomain && (is(s[k], cAlnum) || s[k] == '-') {
			if !is(s[k], cLower|cUpper) {
				letters = false
			}
			k++
		}
		if k == j {
			break
		}
		labels++
		lastEnd, tldLetters = k, letters && k-j >= 2
		if k+1 < len(s) && s[k] == '.' && is(s[k+1], cAlnum) {
			j = k + 1
			continue
		}
		break
	}
	if labels < 2 || !tldLetters {
		return Span{}, false
	}
	return Span{i, lastEnd, Email}, true
}
