package openai

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeChunk decodes one chat.completion.chunk (or an in-band error
// event). Almost every chunk of a stream has the same small shape — the
// role chunk, text deltas, the finish chunk, the usage chunk — and
// decoding those with encoding/json was a tenth of the service's CPU on
// /v1/chat/completions. fastChunk reads that shape without reflection,
// and the one chat.completion of a "stream": false call too; whatever it
// does not handle exactly as encoding/json does (tool calls, errors,
// escaped or invalid UTF-8 strings, duplicate or case-folded keys,
// numbers that are not plain integers, bad syntax) it leaves to
// json.Unmarshal, which stays the reference: FuzzFastChunk
// checks that both agree on every input the fast path accepts.
func decodeChunk(data string, ch *chunk) error {
	if fastChunk(data, ch) {
		return nil
	}
	*ch = chunk{}
	return json.Unmarshal([]byte(data), ch)
}

// fastChunk decodes data into ch (which must be zero) and reports
// whether it could; on false ch holds garbage.
func fastChunk(data string, ch *chunk) bool {
	p := scanner{s: data}
	p.ws()
	ok := p.object(func(key string) (int, bool) {
		switch key {
		case "model":
			return 0, p.str(&ch.Model)
		case "choices":
			return 1, p.choices(&ch.Choices)
		case "usage":
			return 2, p.usage(&ch.Usage)
		case "error":
			return 3, p.null() // an error event: json.Unmarshal reads it
		}
		return noField, p.other(key, "model", "choices", "usage", "error")
	})
	p.ws()
	return ok && p.i == len(p.s)
}

func (p *scanner) choices(out *[]chunkChoice) bool {
	if p.null() {
		*out = nil
		return true
	}
	if !p.byte('[') {
		return false
	}
	*out = (*out)[:0]
	p.ws()
	if p.byte(']') {
		if *out == nil {
			*out = []chunkChoice{}
		}
		return true
	}
	for {
		p.ws()
		var c chunkChoice
		if !p.choice(&c) {
			return false
		}
		*out = append(*out, c)
		p.ws()
		if p.byte(',') {
			continue
		}
		return p.byte(']')
	}
}

func (p *scanner) choice(c *chunkChoice) bool {
	return p.object(func(key string) (int, bool) {
		switch key {
		case "index":
			return 0, p.int(&c.Index)
		case "delta":
			return 1, p.delta(&c.Delta)
		case "finish_reason":
			return 2, p.str(&c.FinishReason)
		case "message": // a whole completion ("stream": false)
			if p.null() {
				c.Message = nil
				return 3, true
			}
			c.Message = &delta{}
			return 3, p.delta(c.Message)
		}
		return noField, p.other(key, "index", "delta", "finish_reason", "message")
	})
}

func (p *scanner) delta(d *delta) bool {
	if p.null() {
		return true // null into a struct changes nothing
	}
	return p.object(func(key string) (int, bool) {
		switch key {
		case "content":
			return 0, p.str(&d.Content)
		case "refusal":
			return 1, p.str(&d.Refusal)
		case "tool_calls":
			return 2, p.null() // tool calls: json.Unmarshal reads them
		}
		return noField, p.other(key, "content", "refusal", "tool_calls")
	})
}

func (p *scanner) usage(out **usage) bool {
	if p.null() {
		*out = nil
		return true
	}
	u := &usage{}
	*out = u
	return p.object(func(key string) (int, bool) {
		switch key {
		case "prompt_tokens":
			return 0, p.int(&u.PromptTokens)
		case "completion_tokens":
			return 1, p.int(&u.CompletionTokens)
		case "total_tokens":
			return 2, p.int(&u.TotalTokens)
		case "prompt_tokens_details":
			if p.null() {
				u.PromptTokensDetails = nil
				return 3, true
			}
			u.PromptTokensDetails = &struct {
				CachedTokens int `json:"cached_tokens"`
			}{}
			return 3, p.details("cached_tokens", &u.PromptTokensDetails.CachedTokens)
		case "completion_tokens_details":
			if p.null() {
				u.CompletionTokensDetails = nil
				return 4, true
			}
			u.CompletionTokensDetails = &struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			}{}
			return 4, p.details("reasoning_tokens", &u.CompletionTokensDetails.ReasoningTokens)
		}
		return noField, p.other(key, "prompt_tokens", "completion_tokens", "total_tokens",
			"prompt_tokens_details", "completion_tokens_details")
	})
}

// details reads an object with one integer field we keep.
func (p *scanner) details(name string, n *int) bool {
	return p.object(func(key string) (int, bool) {
		if key == name {
			return 0, p.int(n)
		}
		return noField, p.other(key, name)
	})
}

// scanner reads JSON from s at i. Every method reports false when the
// input is outside what the fast path decodes exactly like
// encoding/json; the caller then gives up.
type scanner struct {
	s     string
	i     int
	depth int
}

// maxSkipDepth bounds the nesting of skipped values; deeper input goes
// to json.Unmarshal.
const maxSkipDepth = 64

func (p *scanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *scanner) literal(lit string) bool {
	if strings.HasPrefix(p.s[p.i:], lit) {
		p.i += len(lit)
		return true
	}
	return false
}

func (p *scanner) null() bool { return p.literal("null") }

// noField is what a member function returns for a key it skipped.
const noField = -1

// object reads {"key": value, ...}, calling member with the scanner at
// each value; member returns the number of the field it decoded (or
// noField) and whether it could. A field seen twice fails: encoding/json
// merges repeated keys in ways not worth copying. Keys are plain strings
// (no escapes).
func (p *scanner) object(member func(key string) (field int, ok bool)) bool {
	if !p.byte('{') {
		return false
	}
	var seen uint8
	p.ws()
	if p.byte('}') {
		return true
	}
	for {
		p.ws()
		key, ok := p.plainString()
		if !ok {
			return false
		}
		p.ws()
		if !p.byte(':') {
			return false
		}
		p.ws()
		field, ok := member(key)
		if !ok {
			return false
		}
		if field != noField {
			if seen&(1<<field) != 0 {
				return false
			}
			seen |= 1 << field
		}
		p.ws()
		if p.byte(',') {
			continue
		}
		return p.byte('}')
	}
}

// other skips the value of a key we do not keep, unless the key would
// match one we keep under encoding/json's case-insensitive matching.
func (p *scanner) other(key string, kept ...string) bool {
	for _, k := range kept {
		if strings.EqualFold(key, k) {
			return false
		}
	}
	return p.skip()
}

// plainString reads a string without escapes or control characters,
// valid UTF-8, and returns its contents (sharing s's memory).
func (p *scanner) plainString() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			return v, ascii || utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// str reads a string into *out; null leaves *out as it is.
func (p *scanner) str(out *string) bool {
	if p.null() {
		return true
	}
	v, ok := p.plainString()
	*out = v
	return ok
}

// int reads a plain integer (no fraction, no exponent) into *out; null
// leaves *out as it is.
func (p *scanner) int(out *int) bool {
	if p.null() {
		return true
	}
	start := p.i
	p.byte('-')
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
func (p *scanner) skip() bool {
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
			return p.object(func(string) (int, bool) { return noField, p.skip() })
		}
		p.i++
		p.ws()
		if p.byte(']') {
			return true
		}
		for {
			p.ws()
			if !p.skip() {
				return false
			}
			p.ws()
			if p.byte(',') {
				continue
			}
			return p.byte(']')
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.null()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.skipNumber()
	}
	return false
}

// skipString passes over a string, escapes included.
func (p *scanner) skipString() bool {
	p.i++ // the opening quote
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			p.i++
			if p.i >= len(p.s) {
				return false
			}
			switch p.s[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if p.i+5 > len(p.s) {
					return false
				}
				for _, h := range []byte(p.s[p.i+1 : p.i+5]) {
					if !isHex(h) {
						return false
					}
				}
				p.i += 5
			default:
				return false
			}
		default:
			p.i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipNumber passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *scanner) skipNumber() bool {
	p.byte('-')
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
	if p.byte('.') && digits() == 0 {
		return false
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
