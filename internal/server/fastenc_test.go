package server

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
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
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.buf = e.appendOADelta(e.buf[:0], "", "tick ")
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			content := "tick "
			e.buf, _ = json.Marshal(oaCompletion{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
				Choices: []oaChoice{{Delta: &oaMsgOut{Content: &content}}}})
		}
	})
}
