package spool

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
)

// decodeCall reads the JSON appendCall (and json.Marshal, byte for byte
// the same) writes: the keys in their order, optional ones omitted when
// empty, no white space, no null. It reports false for anything else
// (records of a future version with more fields, escapes appendCall
// never writes, invalid UTF-8); readCall then uses json.Unmarshal, which
// stays the reference: FuzzDecodeCall checks that whatever decodeCall
// accepts, json.Unmarshal decodes into the same struct. Strings share s.
func decodeCall(s string) (track.Call, bool) {
	d := dec{s: s}
	var c track.Call
	if !decObject(&d, &c, callFields) || d.i != len(d.s) {
		return track.Call{}, false
	}
	return c, true
}

type field[T any] struct {
	key string // `"name":`
	opt bool   // omitempty: may be absent
	dec func(d *dec, v *T) bool
}

// decObject reads {fields...} with every present key in the order of fs.
func decObject[T any](d *dec, v *T, fs []field[T]) bool {
	if !d.lit("{") {
		return false
	}
	first := true
	for _, f := range fs {
		sep := ","
		if first {
			sep = ""
		}
		if !d.has(sep, f.key) {
			if f.opt {
				continue
			}
			return false
		}
		d.i += len(sep) + len(f.key)
		if !f.dec(d, v) {
			return false
		}
		first = false
	}
	return d.lit("}")
}

func str[T any](key string, opt bool, get func(*T) *string) field[T] {
	return field[T]{key, opt, func(d *dec, v *T) bool { return d.str(get(v)) }}
}

func integer[T any, N int | int64 | time.Duration](key string, opt bool, get func(*T) *N) field[T] {
	return field[T]{key, opt, func(d *dec, v *T) bool {
		n, ok := d.int()
		*get(v) = N(n)
		return ok && int64(N(n)) == n
	}}
}

func boolean[T any](key string, opt bool, get func(*T) *bool) field[T] {
	return field[T]{key, opt, func(d *dec, v *T) bool { return d.bool(get(v)) }}
}

func timestamp[T any](key string, get func(*T) *time.Time) field[T] {
	return field[T]{key, false, func(d *dec, v *T) bool { return d.time(get(v)) }}
}

var usageFields = []field[llm.Usage]{
	integer("\"input_tokens\":", false, func(u *llm.Usage) *int { return &u.InputTokens }),
	integer("\"output_tokens\":", false, func(u *llm.Usage) *int { return &u.OutputTokens }),
	integer("\"thinking_tokens\":", true, func(u *llm.Usage) *int { return &u.ThinkingTokens }),
	integer("\"cached_input_tokens\":", true, func(u *llm.Usage) *int { return &u.CachedInputTokens }),
	integer("\"tool_use_input_tokens\":", true, func(u *llm.Usage) *int { return &u.ToolUseInputTokens }),
	integer("\"cache_write_tokens\":", true, func(u *llm.Usage) *int { return &u.CacheWriteTokens }),
	integer("\"cache_write_1h_tokens\":", true, func(u *llm.Usage) *int { return &u.CacheWrite1hTokens }),
	integer("\"total_tokens\":", false, func(u *llm.Usage) *int { return &u.TotalTokens }),
}

var attemptFields = []field[track.Attempt]{
	str("\"provider\":", true, func(a *track.Attempt) *string { return &a.Provider }),
	str("\"model\":", true, func(a *track.Attempt) *string { return &a.Model }),
	timestamp("\"start\":", func(a *track.Attempt) *time.Time { return &a.Start }),
	integer("\"duration_ns\":", false, func(a *track.Attempt) *time.Duration { return &a.Duration }),
	str("\"error_kind\":", true, func(a *track.Attempt) *string { return &a.ErrorKind }),
	str("\"error_message\":", true, func(a *track.Attempt) *string { return &a.ErrorMessage }),
}

var callFields []field[track.Call]

func init() { // in a function for the short alias C
	type C = track.Call
	callFields = []field[C]{
		str("\"id\":", false, func(c *C) *string { return &c.ID }),
		str("\"user\":", true, func(c *C) *string { return &c.User }),
		str("\"key_id\":", true, func(c *C) *string { return &c.KeyID }),
		str("\"team\":", true, func(c *C) *string { return &c.Team }),
		str("\"endpoint\":", false, func(c *C) *string { return &c.Endpoint }),
		str("\"requested_model\":", true, func(c *C) *string { return &c.RequestedModel }),
		str("\"provider\":", true, func(c *C) *string { return &c.Provider }),
		str("\"model\":", true, func(c *C) *string { return &c.Model }),
		{"\"temperature\":", true, func(d *dec, c *C) bool {
			f, ok := d.float()
			c.Temperature = &f
			return ok
		}},
		integer("\"max_tokens\":", true, func(c *C) *int { return &c.MaxTokens }),
		str("\"system\":", true, func(c *C) *string { return &c.System }),
		str("\"prompt\":", false, func(c *C) *string { return &c.Prompt }),
		str("\"response\":", false, func(c *C) *string { return &c.Response }),
		{"\"usage\":", false, func(d *dec, c *C) bool { return decObject(d, &c.Usage, usageFields) }},
		{"\"cost_usd\":", false, func(d *dec, c *C) bool {
			var ok bool
			c.CostUSD, ok = d.float()
			return ok
		}},
		boolean("\"cost_known\":", false, func(c *C) *bool { return &c.CostKnown }),
		str("\"price_version\":", true, func(c *C) *string { return &c.PriceVersion }),
		timestamp("\"start\":", func(c *C) *time.Time { return &c.Start }),
		integer("\"duration_ns\":", false, func(c *C) *time.Duration { return &c.Duration }),
		integer("\"ttft_ns\":", true, func(c *C) *time.Duration { return &c.TTFT }),
		integer("\"attempts\":", false, func(c *C) *int { return &c.Attempts }),
		boolean("\"fallback\":", true, func(c *C) *bool { return &c.Fallback }),
		boolean("\"cached\":", true, func(c *C) *bool { return &c.Cached }),
		boolean("\"streamed\":", true, func(c *C) *bool { return &c.Streamed }),
		boolean("\"success\":", false, func(c *C) *bool { return &c.Success }),
		str("\"error_kind\":", true, func(c *C) *string { return &c.ErrorKind }),
		str("\"error_message\":", true, func(c *C) *string { return &c.ErrorMessage }),
		str("\"content\":", true, func(c *C) *string { return &c.Content }),
		{"\"tries\":", true, decTries},
	}
}

func decTries(d *dec, c *track.Call) bool {
	if !d.lit("[") {
		return false
	}
	if d.lit("]") {
		c.Tries = []track.Attempt{}
		return true
	}
	for {
		c.Tries = append(c.Tries, track.Attempt{})
		if !decObject(d, &c.Tries[len(c.Tries)-1], attemptFields) {
			return false
		}
		if d.lit("]") {
			return true
		}
		if !d.lit(",") {
			return false
		}
	}
}

// dec reads s from i.
type dec struct {
	s string
	i int
}

func (d *dec) lit(l string) bool {
	if strings.HasPrefix(d.s[d.i:], l) {
		d.i += len(l)
		return true
	}
	return false
}

func (d *dec) has(sep, key string) bool {
	r := d.s[d.i:]
	return strings.HasPrefix(r, sep) && strings.HasPrefix(r[len(sep):], key)
}

func (d *dec) bool(out *bool) bool {
	switch {
	case d.lit("true"):
		*out = true
	case d.lit("false"):
		*out = false
	default:
		return false
	}
	return true
}

// number returns the JSON number at i:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; integral is false if
// it has a fraction or an exponent.
func (d *dec) number() (tok string, integral, ok bool) {
	start := d.i
	d.lit("-")
	n := d.digits()
	if n == 0 || (d.s[d.i-n] == '0' && n > 1) {
		return "", false, false
	}
	integral = true
	if d.lit(".") {
		integral = false
		if d.digits() == 0 {
			return "", false, false
		}
	}
	if d.lit("e") || d.lit("E") {
		integral = false
		if !d.lit("+") {
			d.lit("-")
		}
		if d.digits() == 0 {
			return "", false, false
		}
	}
	return d.s[start:d.i], integral, true
}

func (d *dec) digits() int {
	start := d.i
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}

func (d *dec) int() (int64, bool) {
	tok, integral, ok := d.number()
	if !ok || !integral {
		return 0, false
	}
	n, err := strconv.ParseInt(tok, 10, 64)
	return n, err == nil
}

func (d *dec) float() (float64, bool) {
	tok, _, ok := d.number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(tok, 64)
	return f, err == nil
}

// time reads a string as time.Time.UnmarshalJSON does (by calling it).
func (d *dec) time(out *time.Time) bool {
	start := d.i
	if !d.lit(`"`) {
		return false
	}
	end := strings.IndexByte(d.s[d.i:], '"')
	if end < 0 || end > 64 {
		return false
	}
	d.i += end + 1
	var buf [66]byte
	return out.UnmarshalJSON(append(buf[:0], d.s[start:d.i]...)) == nil
}

// str reads a string. Without escapes it shares s; with the escapes
// appendCall writes it is unescaped as encoding/json does; a \u escape of
// a UTF-16 surrogate, \' or invalid UTF-8 report false.
func (d *dec) str(out *string) bool {
	if !d.lit(`"`) {
		return false
	}
	start := d.i
	ascii := true
	for ; d.i < len(d.s); d.i++ {
		switch c := d.s[d.i]; {
		case c == '"':
			v := d.s[start:d.i]
			d.i++
			*out = v
			return ascii || utf8.ValidString(v)
		case c == '\\':
			d.i = start
			return d.escaped(out)
		case c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return false
}

func (d *dec) escaped(out *string) bool {
	b := make([]byte, 0, 64)
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(b) {
				return false
			}
			*out = string(b)
			return true
		case c < 0x20:
			return false
		case c != '\\':
			b = append(b, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.s) {
			return false
		}
		e := d.s[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if d.i+4 > len(d.s) {
				return false
			}
			r, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 16)
			if err != nil || utf16.IsSurrogate(rune(r)) {
				return false
			}
			d.i += 4
			b = utf8.AppendRune(b, rune(r))
		default:
			return false
		}
	}
	return false
}
