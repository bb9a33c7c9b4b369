package server

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/jsonscan"
	"github.com/llm-connector/llm-connector/internal/llm"
)

var jsonStringCases = []string{
	"", "tick ", "Hello, world", `quote " backslash \ slash /`, "<b>&amp;</b>", "tab\tnl\nret\rbs\bff\f",
	"\x00\x01\x1f\x7f", "héllo wörld", "日本語のテキスト", "emoji 🎉👍", "\u2028line\u2029para",
	"bad \xff\xfe utf8", "truncated \xe6\x97", "\xed\xa0\x80 surrogate",
}

func TestFastEncodersMatchJSON(t *testing.T) {
	for _, s := range jsonStringCases {
		want, _ := json.Marshal(s)
		if got := jsonscan.AppendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("jsonscan.AppendString(%q) = %s, want %s", s, got, want)
		}
		want, _ = json.Marshal(struct {
			Text string `json:"text"`
		}{s})
		if got := appendChatDelta(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendChatDelta(%q) = %s, want %s", s, got, want)
		}
		for _, role := range []string{"", "assistant"} {
			e := &oaEvents{id: "chatcmpl-" + s, created: 1733000000, model: "gpt-4o-mini" + s}
			content := s
			want, _ = json.Marshal(oaCompletion{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
				Choices: []oaChoice{{Delta: &oaMsgOut{Role: role, Content: &content}}}})
			if got := e.appendOADelta(nil, role, s); !bytes.Equal(got, want) {
				t.Errorf("appendOADelta(%q, %q) =\n%s\nwant\n%s", role, s, got, want)
			}
		}
	}
}

// TestFastStreamEndMatchesJSON: the finish and usage chunks are what
// json.Marshal writes for their typed shapes.
func TestFastStreamEndMatchesJSON(t *testing.T) {
	for i, s := range jsonStringCases {
		e := &oaEvents{id: "chatcmpl-" + s, created: int64(i) * 1733000000, model: "gpt-4o-mini" + s}
		fr := jsonStringCases[(i+3)%len(jsonStringCases)]
		want, _ := json.Marshal(oaCompletion{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
			Choices: []oaChoice{{Delta: &oaMsgOut{}, FinishReason: &fr}}})
		if got := e.appendOAFinish(nil, fr); !bytes.Equal(got, want) {
			t.Errorf("appendOAFinish(%q) =\n%s\nwant\n%s", fr, got, want)
		}
		u := oaUsage(llm.Usage{InputTokens: i * 1000, OutputTokens: -i, CachedInputTokens: i * 7, ThinkingTokens: 1 << (i * 4)})
		want, _ = json.Marshal(oaCompletion{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
			Choices: []oaChoice{}, Usage: u})
		if got := e.appendOAUsage(nil, u); !bytes.Equal(got, want) {
			t.Errorf("appendOAUsage(%+v) =\n%s\nwant\n%s", u, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := jsonscan.AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("jsonscan.AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func BenchmarkStreamChunkEncode(b *testing.B) {
	e := &oaEvents{id: "chatcmpl-0123456789", created: 1733000000, model: "gpt-4o-mini", started: true}
	var buf []byte
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = e.appendOADelta(buf[:0], "", "tick ")
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			content := "tick "
			buf, _ = json.Marshal(oaCompletion{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
				Choices: []oaChoice{{Delta: &oaMsgOut{Content: &content}}}})
		}
	})
}

// fastBodyResult is a gateway result with every field the non-stream
// bodies show set from the arguments.
func fastBodyResult(text, model, tool string, cost float64, n int, cached bool) *gateway.Result {
	res := &gateway.Result{Start: time.Unix(int64(n)*1000003, 0), Duration: time.Duration(n) * time.Microsecond,
		Cached: cached, CostUSD: cost, CostKnown: n%2 == 0,
		Response: llm.Response{Text: text, Model: model, Provider: tool, FinishReason: text,
			Usage: llm.Usage{InputTokens: n, OutputTokens: -n / 3, CachedInputTokens: n / 2, ThinkingTokens: n / 5}}}
	if n%3 == 0 {
		res.Response.ToolCalls = []llm.ToolCall{{ID: "call_" + tool, Name: tool, Arguments: text}, {Name: model}}
	}
	if n%4 == 0 {
		res.Response.Others = []llm.Choice{{Text: model, FinishReason: tool}, {ToolCalls: res.Response.ToolCalls}}
	}
	return res
}

// checkFastBodies compares the fast non-stream bodies of res with
// json.Marshal of their typed shapes.
func checkFastBodies(t *testing.T, id string, res *gateway.Result) {
	t.Helper()
	want, _ := json.Marshal(completion(id, res))
	if got := appendCompletion(nil, id, res); !bytes.Equal(got, want) {
		t.Errorf("appendCompletion =\n%s\nwant\n%s", got, want)
	}
	want, wantErr := json.Marshal(chatResponse(res, id))
	got, ok := appendChatResponse(nil, res, id)
	if ok != (wantErr == nil) || ok && !bytes.Equal(got, want) {
		t.Errorf("appendChatResponse = %s, %v\nwant %s, %v", got, ok, want, wantErr)
	}
}

func TestFastBodiesMatchJSON(t *testing.T) {
	costs := []float64{0, 1, 0.000123, 1e-7, 3.5e-12, 1e21, 123456789.125, 1e20, -2.5e-8, math.Copysign(0, -1),
		math.NaN(), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64, math.MaxFloat64}
	for i, s := range jsonStringCases {
		for n := range 12 {
			res := fastBodyResult(s, "gemini-2.5-flash"+s, jsonStringCases[(i+n)%len(jsonStringCases)], costs[(i+n)%len(costs)], n*7919, n%5 == 1)
			checkFastBodies(t, "chatcmpl-"+s, res)
			checkFastBodies(t, "", res)
		}
	}
	checkFastBodies(t, "x", &gateway.Result{})
}

// FuzzFastBodies: the fast non-stream bodies are byte for byte what
// json.Marshal writes for their typed shapes.
func FuzzFastBodies(f *testing.F) {
	for i, s := range jsonStringCases {
		f.Add(s, "gpt-4o-mini", "openai", "req-"+s, float64(i)*1.5e-7, i*41, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, text, model, tool, id string, cost float64, n int, cached bool) {
		checkFastBodies(t, id, fastBodyResult(text, model, tool, cost, n, cached))
	})
}

// plainStringCases are content values at the edges of plainJSONString.
var plainStringCases = []struct {
	raw  string
	fast bool
}{
	{`"What is MLOps?"`, true}, {`""`, true}, {`"héllo 日本 🎉"`, true}, {`"<b>&</b>"`, true},
	{`"line\nbreak"`, false}, {`"quote \" inside"`, false}, {`"\u00e9"`, false}, {"\"tab\there\"", false},
	{"\"bad \xff utf8\"", false}, {`"`, false}, {`"unterminated`, false}, {`"a" "b"`, false},
	{`123`, false}, {`null`, false}, {`[{"type":"text","text":"hi"}]`, false}, {` "padded"`, false},
}

func TestPlainJSONString(t *testing.T) {
	for _, tc := range plainStringCases {
		got, ok := plainJSONString([]byte(tc.raw))
		if ok != tc.fast {
			t.Errorf("plainJSONString(%q) took it: %v, want %v", tc.raw, ok, tc.fast)
		}
		var want string
		if ok && (json.Unmarshal([]byte(tc.raw), &want) != nil || got != want) {
			t.Errorf("plainJSONString(%q) = %q, encoding/json %q", tc.raw, got, want)
		}
	}
}

// FuzzPlainJSONString: whatever plainJSONString decodes, json.Unmarshal
// decodes to the same string.
func FuzzPlainJSONString(f *testing.F) {
	for _, tc := range plainStringCases {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := plainJSONString([]byte(raw))
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil || got != want {
			t.Fatalf("plainJSONString(%q) = %q; encoding/json %q, %v", raw, got, want, err)
		}
	})
}

// BenchmarkNonStreamBody is the non-stream /v1 and /chat bodies, fast
// and through encoding/json.
func BenchmarkNonStreamBody(b *testing.B) {
	res := fastBodyResult("MLOps combines machine learning with DevOps practices to deploy, monitor and maintain models.", "gpt-4o-mini", "openai", 0.000123, 1001, false)
	for _, c := range []struct {
		name string
		enc  func() []byte
	}{
		{"v1-fast", func() []byte {
			return appendCompletion(make([]byte, 0, bodyCap(res, completionFixed)), "chatcmpl-1", res)
		}},
		{"v1-encoding-json", func() []byte { b, _ := json.Marshal(completion("chatcmpl-1", res)); return b }},
		{"chat-fast", func() []byte {
			b, _ := appendChatResponse(make([]byte, 0, bodyCap(res, chatFixed)), res, "req-1")
			return b
		}},
		{"chat-encoding-json", func() []byte { b, _ := json.Marshal(chatResponse(res, "req-1")); return b }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(c.enc()) == 0 {
					b.Fatal("empty")
				}
			}
		})
	}
}

// A recycled body buffer is written whole and then reused: a short answer
// after a long one carries nothing of it, and the long one stays as sent.
func TestPooledBodyReuse(t *testing.T) {
	long := `{"response":"` + strings.Repeat("x", 5000) + `"}`
	var recs []*httptest.ResponseRecorder
	for _, body := range []string{long, `{"response":"hi"}`, long, `{}`} {
		p := bodyBuf(len(body))
		p.b = append(p.b, body...)
		rec := httptest.NewRecorder()
		writeJSON(rec, http.StatusOK, p)
		recs = append(recs, rec)
	}
	for i, want := range []string{long, `{"response":"hi"}`, long, `{}`} {
		if got := recs[i].Body.String(); got != want+"\n" {
			t.Errorf("answer %d: %d bytes, want %d", i, len(got), len(want)+1)
		}
		if cl := recs[i].Header().Get("Content-Length"); cl != strconv.Itoa(len(want)+1) {
			t.Errorf("answer %d: Content-Length %s, want %d", i, cl, len(want)+1)
		}
	}
}
