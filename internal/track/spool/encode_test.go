package spool

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
)

// checkAppendCall checks that appendCall writes exactly what json.Marshal
// writes (or refuses what it refuses), and that json.Unmarshal of it gives
// back the struct the reflection path gives back.
func checkAppendCall(t *testing.T, c track.Call) {
	t.Helper()
	want, wantErr := json.Marshal(c)
	got, ok := appendCall([]byte("prefix"), &c)
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("appendCall dropped what was in the buffer: %q", got)
	}
	got = got[len("prefix"):]
	if ok != (wantErr == nil) {
		t.Fatalf("appendCall ok=%v, json.Marshal err=%v\ngot  %s", ok, wantErr, got)
	}
	if !ok {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendCall differs from json.Marshal\ngot  %s\nwant %s", got, want)
	}
	var a, b track.Call
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("decode: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("decoded structs differ\n%+v\n%+v", a, b)
	}
	if !checkDecodeCall(t, string(got)) {
		t.Fatalf("decodeCall refused what appendCall wrote: %s", got)
	}
}

func fullCall() track.Call {
	temp := 0.7
	start := time.Date(2026, 12, 2, 4, 13, 41, 123456789, time.UTC)
	return track.Call{
		ID: "req-1", User: "alice", KeyID: "key-7", Team: "t", Endpoint: "/v1/chat/completions",
		RequestedModel: "gpt-4o", Provider: "openai", Model: "gpt-4o-2024", Temperature: &temp, MaxTokens: 256,
		System: "be terse", Prompt: "hi", Response: "hello",
		Usage: llm.Usage{InputTokens: 1, OutputTokens: 2, ThinkingTokens: 3, CachedInputTokens: 4,
			ToolUseInputTokens: 5, CacheWriteTokens: 6, CacheWrite1hTokens: 7, TotalTokens: 28},
		CostUSD: 0.00042, CostKnown: true, PriceVersion: "2026-11",
		Start: start, Duration: 812 * time.Millisecond, TTFT: 120 * time.Millisecond,
		Attempts: 2, Fallback: true, Cached: true, Streamed: true,
		Success: false, ErrorKind: "upstream", ErrorMessage: "boom", Content: track.ContentRedacted,
		Tries: []track.Attempt{
			{Provider: "openai", Model: "gpt-4o", Start: start, Duration: time.Second, ErrorKind: "timeout", ErrorMessage: "slow"},
			{Start: start.Add(time.Second), Duration: 2},
			{Model: "only-model", Start: start},
			{Provider: "only-provider", Start: start, ErrorMessage: "x"},
		},
	}
}

// trickyCalls are fullCall with one thing changed each.
func trickyCalls() []track.Call {
	zero, negZero, tiny, huge := 0.0, math.Copysign(0, -1), 1e-7, 1e21
	nan, inf := math.NaN(), math.Inf(1)
	tricky := []func(c *track.Call){
		func(c *track.Call) { *c = track.Call{} },
		func(c *track.Call) { c.Tries = []track.Attempt{} },
		func(c *track.Call) {
			c.Prompt = "héllo ✓ 日本語 😀 \u2028\u2029 <a href=\"x\">&amp;</a> \\ / \x7f"
		},
		func(c *track.Call) { c.Response = "\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x1e" },
		func(c *track.Call) { c.System = "bad \xff\xfe utf-8 \xc3 and a cut rune \xe2\x82" },
		func(c *track.Call) { c.ID = strings.Repeat("x", 70000) },
		func(c *track.Call) { c.MaxTokens, c.Attempts, c.Usage.TotalTokens = math.MaxInt, math.MinInt, -1 },
		func(c *track.Call) { c.Duration, c.TTFT = math.MaxInt64, math.MinInt64 },
		func(c *track.Call) { c.CostUSD = 1e-7 },
		func(c *track.Call) { c.CostUSD = 123456789012345678901234.0 },
		func(c *track.Call) { c.CostUSD = -0.1 + 0.3 },
		func(c *track.Call) { c.CostUSD = math.SmallestNonzeroFloat64 },
		func(c *track.Call) { c.CostUSD = math.MaxFloat64 },
		func(c *track.Call) { c.CostUSD = 1e20 },
		func(c *track.Call) { c.CostUSD = 1e-6 },
		func(c *track.Call) { c.Temperature = &zero },
		func(c *track.Call) { c.Temperature = &negZero },
		func(c *track.Call) { c.Temperature = &tiny },
		func(c *track.Call) { c.Temperature = &huge },
		func(c *track.Call) { c.Temperature = &nan },
		func(c *track.Call) { c.CostUSD = inf },
		func(c *track.Call) { c.CostUSD = math.Inf(-1) },
		func(c *track.Call) { c.Start = time.Time{} },
		func(c *track.Call) { c.Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 5*3600+30*60)) },
		func(c *track.Call) { c.Start = time.Date(2026, 1, 2, 3, 4, 5, 100, time.FixedZone("x", -7*3600)) },
		func(c *track.Call) { c.Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("odd", 3600+17)) },
		func(c *track.Call) { c.Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("far", 24*3600)) },
		func(c *track.Call) { c.Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("far", -25*3600)) },
		func(c *track.Call) { c.Start = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		func(c *track.Call) { c.Start = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		func(c *track.Call) { c.Start = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) },
		func(c *track.Call) { c.Start = time.Now() }, // monotonic reading and Local zone
		func(c *track.Call) { c.Tries[1].Start = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		func(c *track.Call) { c.Tries[0].ErrorMessage = "\"quoted\"\n\ttab <script>" },
	}
	out := make([]track.Call, len(tricky))
	for i, mod := range tricky {
		out[i] = fullCall()
		mod(&out[i])
	}
	return out
}

func TestAppendCallMatchesEncodingJSON(t *testing.T) {
	for i, c := range trickyCalls() {
		if !t.Run("", func(t *testing.T) { checkAppendCall(t, c) }) {
			t.Logf("case %d", i)
		}
	}
}

// TestAppendCallKnowsEveryField fails when a field is added to a struct
// appendCall writes: add it there (and to fullCall) first.
func TestAppendCallKnowsEveryField(t *testing.T) {
	for typ, n := range map[reflect.Type]int{
		reflect.TypeFor[track.Call]():    29,
		reflect.TypeFor[track.Attempt](): 6,
		reflect.TypeFor[llm.Usage]():     8,
	} {
		if typ.NumField() != n {
			t.Errorf("%v has %d fields, appendCall writes %d", typ, typ.NumField(), n)
		}
	}
	// Every field of fullCall is set, so json.Marshal writes every key.
	b, _ := json.Marshal(fullCall())
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil || len(keys) != 29 {
		t.Fatalf("fullCall sets %d of 29 fields (%v)", len(keys), err)
	}
}

func FuzzAppendCall(f *testing.F) {
	f.Add("req-1", "héllo <x> \u2028", "\xff\x00 resp", "/chat", int64(812), 0.7, 1.5e-9, int64(1764648821123456789), 3600, true, 2)
	f.Add("", "", "", "", int64(0), 0.0, 0.0, int64(0), 0, false, 0)
	f.Fuzz(func(t *testing.T, id, prompt, response, endpoint string, dur int64, temp, cost float64, unixNS int64, zoneSec int, flag bool, tries int) {
		c := fullCall()
		c.ID, c.Prompt, c.Response, c.Endpoint, c.System = id, prompt, response, endpoint, prompt+response
		c.ErrorMessage, c.User, c.Model = response, id, endpoint
		c.Duration, c.TTFT, c.MaxTokens = time.Duration(dur), time.Duration(-dur), int(dur)
		c.Temperature, c.CostUSD = &temp, cost
		c.Start = time.Unix(0, unixNS).In(time.FixedZone("z", zoneSec%(30*3600)))
		c.Streamed, c.Success, c.CostKnown = flag, !flag, flag
		c.Tries = c.Tries[:max(0, min(tries, len(c.Tries)))]
		if len(c.Tries) > 0 {
			c.Tries[0].Provider, c.Tries[0].ErrorKind = prompt, id
		}
		if flag {
			c.Temperature = nil
		}
		checkAppendCall(t, c)
	})
}

func TestLineHeaderExtremes(t *testing.T) {
	for _, tc := range []struct {
		seq uint64
		at  int64
	}{{0, 0}, {1, -1}, {math.MaxUint64, math.MinInt64}, {math.MaxUint64, math.MaxInt64}} {
		line := encodeLine(tc.seq, tc.at, []byte(`{"id":"x"}`))
		if line[len(line)-1] != '\n' {
			t.Fatalf("%q: no newline", line)
		}
		seq, at, body, ok := parseLine(line[:len(line)-1])
		if !ok || seq != tc.seq || at != tc.at || string(body) != `{"id":"x"}` {
			t.Fatalf("%q: parsed %d %d %q %v", line, seq, at, body, ok)
		}
	}
}

// checkDecodeCall checks that whatever decodeCall accepts, json.Unmarshal
// decodes into the same struct.
func checkDecodeCall(t *testing.T, in string) bool {
	t.Helper()
	got, ok := decodeCall(in)
	if !ok {
		return false
	}
	var want track.Call
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatalf("decodeCall accepted what json.Unmarshal refuses (%v): %q", err, in)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeCall differs from json.Unmarshal on %q\ngot  %+v\nwant %+v", in, got, want)
	}
	return true
}

func TestDecodeCallMatchesEncodingJSON(t *testing.T) {
	for i, c := range trickyCalls() {
		b, err := json.Marshal(c)
		if err != nil {
			continue // NaN, bad times: never written
		}
		if !checkDecodeCall(t, string(b)) {
			t.Errorf("case %d: the fast path refused what json.Marshal wrote: %s", i, b)
		}
	}
	// What it leaves to json.Unmarshal (which still decodes them).
	for _, in := range []string{
		`{"id":"a","endpoint":"/chat","prompt":"","response":"","usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0},"cost_usd":0,"cost_known":false,"start":"0001-01-01T00:00:00Z","duration_ns":0,"attempts":0,"success":false,"future_field":1}`,
		`{"endpoint":"/chat","id":"a","prompt":"","response":"","usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0},"cost_usd":0,"cost_known":false,"start":"0001-01-01T00:00:00Z","duration_ns":0,"attempts":0,"success":false}`,
		`{"id":"\ud83d\ude00","endpoint":"/chat","prompt":"","response":"","usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0},"cost_usd":0,"cost_known":false,"start":"0001-01-01T00:00:00Z","duration_ns":0,"attempts":0,"success":false}`,
		`{"id": "a","endpoint":"/chat","prompt":"","response":"","usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0},"cost_usd":0,"cost_known":false,"start":"0001-01-01T00:00:00Z","duration_ns":0,"attempts":0,"success":false}`,
		"{\"id\":\"\xff\",\"endpoint\":\"/chat\",\"prompt\":\"\",\"response\":\"\",\"usage\":{\"input_tokens\":0,\"output_tokens\":0,\"total_tokens\":0},\"cost_usd\":0,\"cost_known\":false,\"start\":\"0001-01-01T00:00:00Z\",\"duration_ns\":0,\"attempts\":0,\"success\":false}",
	} {
		if _, ok := decodeCall(in); ok {
			t.Errorf("fast path took %s", in)
		}
		var c track.Call
		if err := json.Unmarshal([]byte(in), &c); err != nil || c.ID == "" {
			t.Errorf("json.Unmarshal: %v %+v", err, c)
		}
	}
}

func FuzzDecodeCall(f *testing.F) {
	for _, c := range trickyCalls() {
		if b, err := json.Marshal(c); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, in string) { checkDecodeCall(t, in) })
}
