package cost

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// A segment holds up to segmentRows interaction rows in one database row:
// a JSON array of rows, each a JSON array in segmentFields' order. One
// row per interaction with 25 columns and five page indexes cost the
// SQLite writer 13–35 µs per interaction (modernc.org/sqlite binds and
// records every column, and every index is a b-tree insert); a segment is
// one record per 64 interactions, plus one narrow row per interaction in
// usage_request_ids (the replay check and the look-up by id) and one per
// distinct filter value in usage_segment_keys (the listing's filters).
// The view usage_events reads the segments as the old table's rows, for
// SQL by hand.
const segmentRows = 64

// segmentSpanMS bounds a segment's rows to one minute of start times
// (unix ms / segmentSpanMS is the same for all): the listing's walk by
// ts_max starts one span above its window instead of at the newest
// segment.
const segmentSpanMS = 60_000

// segmentFields names the positions of a segment row (and the view's
// columns). Changing the order changes the stored format: append only.
var segmentFields = []string{"request_id", "ts", "user_id", "key_id", "team", "endpoint", "provider", "model",
	"status", "error_message", "input_tokens", "output_tokens", "thinking_tokens", "cached_input_tokens",
	"cache_write_tokens", "cache_write_1h_tokens", "cost_usd", "cost_known", "price_version", "latency_ms",
	"ttft_ms", "cache_hit", "fallback", "attempts"}

// The filter dimensions of usage_segment_keys. keyErr marks a segment
// holding at least one row whose status is not "ok" (value "1").
const (
	keyUser   = "user"
	keyKey    = "key"
	keyModel  = "model"
	keyStatus = "status"
	keyErr    = "err"
	// An error row's user, key and model also go under these: "the
	// errors of one user" reads only the segments that hold one.
	keyErrUser  = "err_user"
	keyErrKey   = "err_key"
	keyErrModel = "err_model"
)

// segmentKey is one (dimension, value) a segment holds.
type segmentKey struct{ dim, value string }

// appendSegment encodes rows as a segment.
func appendSegment(b []byte, rows []row) []byte {
	b = append(b, '[')
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSegmentRow(b, &rows[i])
	}
	return append(b, ']')
}

func appendSegmentRow(b []byte, r *row) []byte {
	b = append(b, '[')
	b = appendJSONString(b, r.requestID)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.start.UnixMilli(), 10)
	for _, s := range [...]string{r.user, r.keyID, r.team, r.endpoint, r.provider, r.model, r.status, r.errorMessage} {
		b = append(b, ',')
		b = appendJSONString(b, s)
	}
	for _, n := range [...]int{r.input, r.output, r.thinking, r.cached, r.cacheWrite, r.cacheWrite1h} {
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(n), 10)
	}
	b = append(b, ',')
	b = appendJSONFloat(b, r.costUSD)
	b = append(b, ',')
	b = strconv.AppendInt(b, b2i(r.costKnown), 10)
	b = append(b, ',')
	b = appendJSONString(b, r.priceVersion)
	for _, n := range [...]int64{r.latencyMS, r.ttftMS, b2i(r.cacheHit), b2i(r.fallback), int64(r.attempts)} {
		b = append(b, ',')
		b = strconv.AppendInt(b, n, 10)
	}
	return append(b, ']')
}

func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendJSONString appends s as a JSON string. Printable ASCII is copied;
// anything else goes through encoding/json (invalid UTF-8 becomes
// U+FFFD, as everywhere else the gateway writes JSON).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// segmentKeys appends the distinct (dimension, value) pairs of rows.
func segmentKeys(keys []segmentKey, rows []row) []segmentKey {
	keys = keys[:0]
	add := func(k segmentKey) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for i := range rows {
		r := &rows[i]
		add(segmentKey{keyUser, r.user})
		add(segmentKey{keyKey, r.keyID})
		add(segmentKey{keyModel, r.model})
		add(segmentKey{keyStatus, r.status})
		if r.status != "ok" {
			add(segmentKey{keyErr, "1"})
			add(segmentKey{keyErrUser, r.user})
			add(segmentKey{keyErrKey, r.keyID})
			add(segmentKey{keyErrModel, r.model})
		}
	}
	return keys
}

// decodeSegment reads a segment's rows: the format appendSegment writes,
// read by hand (encoding/json's per-field decoding made a dashboard page
// cost milliseconds); a string with an escape goes through encoding/json.
func decodeSegment(data []byte) ([]RequestRow, error) {
	d := segmentDecoder{b: data}
	d.expect('[')
	var out []RequestRow
	for d.err == nil && !d.next(']') {
		if len(out) > 0 {
			d.expect(',')
		}
		out = append(out, d.row())
	}
	if d.err != nil {
		return nil, fmt.Errorf("cost: segment: %w", d.err)
	}
	return out, nil
}

// segmentDecoder reads one segment; the first error sticks.
type segmentDecoder struct {
	b   []byte
	i   int
	err error
}

func (d *segmentDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at byte %d", what, d.i)
	}
}

// ws passes over white space (PostgreSQL's json_agg writes some).
func (d *segmentDecoder) ws() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\n' || d.b[d.i] == '\t' || d.b[d.i] == '\r') {
		d.i++
	}
}

// next consumes c if it comes next.
func (d *segmentDecoder) next(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *segmentDecoder) expect(c byte) {
	if !d.next(c) {
		d.fail(fmt.Sprintf("want %q", c))
	}
}

func (d *segmentDecoder) str() string {
	if d.err != nil || !d.next('"') {
		d.fail("want a string")
		return ""
	}
	start := d.i
	for d.i < len(d.b) && d.b[d.i] != '"' {
		if d.b[d.i] == '\\' {
			d.i++
		}
		d.i++
	}
	if d.i >= len(d.b) {
		d.fail("unterminated string")
		return ""
	}
	d.i++
	raw := d.b[start : d.i-1]
	if !slices.Contains(raw, '\\') {
		return string(raw)
	}
	var s string
	if err := json.Unmarshal(d.b[start-1:d.i], &s); err != nil {
		d.fail(err.Error())
	}
	return s
}

// num reads a JSON number.
func (d *segmentDecoder) num() float64 {
	d.ws()
	start := d.i
	for d.i < len(d.b) && strings.IndexByte("+-.0123456789eE", d.b[d.i]) >= 0 {
		d.i++
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil && d.err == nil {
		d.fail("want a number")
	}
	return f
}

func (d *segmentDecoder) int() int64 {
	f := d.num()
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		d.fail("want an integer")
	}
	return int64(f)
}

// row reads one row in segmentFields' order.
func (d *segmentDecoder) row() RequestRow {
	var r RequestRow
	d.expect('[')
	field := func(i int) {
		if i > 0 {
			d.expect(',')
		}
	}
	strs := []*string{&r.User, &r.KeyID, &r.Team, &r.Endpoint, &r.Provider, &r.Model, &r.Status, &r.ErrorMessage}
	ints := []*int64{&r.InputTokens, &r.OutputTokens, &r.ThinkingTokens, &r.CachedInputTokens,
		&r.CacheWriteTokens, &r.CacheWrite1hTokens}
	r.ID = d.str()
	field(1)
	r.ts = d.int()
	for i, p := range strs {
		field(2 + i)
		*p = d.str()
	}
	for _, p := range ints {
		field(1)
		*p = d.int()
	}
	field(1)
	r.CostUSD = d.num()
	field(1)
	r.CostKnown = d.int() != 0
	field(1)
	r.PriceVersion = d.str()
	var hit, fb int64
	for _, p := range []*int64{&r.LatencyMS, &r.TTFTMS, &hit, &fb, &r.Attempts} {
		field(1)
		*p = d.int()
	}
	for d.err == nil && !d.next(']') { // fields a newer version appended
		d.expect(',')
		d.skip()
	}
	r.Time = time.UnixMilli(r.ts).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	r.CacheHit, r.Fallback = hit != 0, fb != 0
	return r
}

// skip passes over one string or number.
func (d *segmentDecoder) skip() {
	if d.ws(); d.i < len(d.b) && d.b[d.i] == '"' {
		d.str()
		return
	}
	d.num()
}

// rowOf turns a listed row back into a ledger row (pruning rewrites a
// segment with the rows it keeps).
func rowOf(r RequestRow) row {
	return row{requestID: r.ID, user: r.User, keyID: r.KeyID, team: r.Team, endpoint: r.Endpoint,
		provider: r.Provider, model: r.Model, start: time.UnixMilli(r.ts), input: int(r.InputTokens),
		output: int(r.OutputTokens), thinking: int(r.ThinkingTokens), cached: int(r.CachedInputTokens),
		cacheWrite: int(r.CacheWriteTokens), cacheWrite1h: int(r.CacheWrite1hTokens), costUSD: r.CostUSD,
		costKnown: r.CostKnown, priceVersion: r.PriceVersion, latencyMS: r.LatencyMS, ttftMS: r.TTFTMS,
		cacheHit: r.CacheHit, fallback: r.Fallback, attempts: int(r.Attempts), status: r.Status,
		errorMessage: r.ErrorMessage}
}
