package openai

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// shapeDelta is a text delta as OpenAI sends it, with the random
// "obfuscation" padding, and holes to fill: text, id, padding.
func shapeDelta(text, id, pad string) string {
	return `{"id":"` + id + `","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini-2024-07-18",` +
		`"service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"` + text +
		`"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"` + pad + `"}`
}

// checkShape decodes next after learned with one shape and checks that
// it gives what decodeChunk gives, and reports whether the shape matched.
func checkShape(t *testing.T, learned, next string) bool {
	t.Helper()
	sh := newShape()
	var ch chunk
	if err := sh.decode([]byte(learned), &ch); err != nil {
		t.Fatalf("learned chunk: %v", err)
	}
	var got, want chunk
	_, matched := sh.match([]byte(next))
	sh.misses = 0
	gotErr := sh.decode([]byte(next), &got)
	wantErr := decodeChunk(next, &want)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s: decode error %v, decodeChunk error %v", next, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%s:\nshape   %s\ndecoded %s", next, g, w)
	}
	return matched
}

// TestShape: a text delta that differs from the learned one only in its
// text, its id or its padding is read by the shape; anything else (a
// finish, usage, tool calls, an escape, another model, more keys) is not
// and is decoded as before; both give what decodeChunk gives.
func TestShape(t *testing.T) {
	learned := shapeDelta("Hello", "chatcmpl-1", "abc")
	cases := []struct {
		name  string
		next  string
		match bool
	}{
		{"next delta", shapeDelta(" world", "chatcmpl-1", "abc"), true},
		{"other padding and id", shapeDelta(" world", "chatcmpl-2", "x9"), true},
		{"empty padding", shapeDelta("a", "chatcmpl-1", ""), true},
		{"non-ASCII text", shapeDelta("héllo ✓ 🙂", "chatcmpl-1", "abc"), true},
		{"empty text", shapeDelta("", "chatcmpl-1", "abc"), true},
		{"escaped text", shapeDelta(`a\"b`, "chatcmpl-1", "abc"), false},
		{"newline escape", shapeDelta(`a\nb`, "chatcmpl-1", "abc"), false},
		{"control byte", shapeDelta("a\x01b", "chatcmpl-1", "abc"), false},
		{"invalid UTF-8 text", shapeDelta("a\xffb", "chatcmpl-1", "abc"), false},
		{"invalid UTF-8 padding", shapeDelta("a", "chatcmpl-1", "\xff"), true},
		{"escaped padding", shapeDelta("a", "chatcmpl-1", `\u0041`), false},
		{"other model", strings.Replace(shapeDelta("a", "chatcmpl-1", "abc"), "gpt-4o-mini-2024-07-18", "gpt-4o", 1), false},
		{"finish chunk", strings.Replace(shapeDelta("a", "chatcmpl-1", "abc"), `"finish_reason":null`, `"finish_reason":"stop"`, 1), false},
		{"usage", strings.Replace(shapeDelta("a", "chatcmpl-1", "abc"), `"usage":null`, `"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}`, 1), false},
		{"other created", strings.Replace(shapeDelta("a", "chatcmpl-1", "abc"), "1730000000", "1730000001", 1), false},
		{"trailing bytes", shapeDelta("a", "chatcmpl-1", "abc") + " ", false},
		{"cut short", shapeDelta("a", "chatcmpl-1", "abc")[:60], false},
		{"quote closes the text early", shapeDelta(`a","x":"`, "chatcmpl-1", "abc"), false},
		{"refusal instead of content", strings.Replace(shapeDelta("a", "chatcmpl-1", "abc"), `"content"`, `"refusal"`, 1), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := checkShape(t, learned, c.next); got != c.match {
				t.Errorf("matched %v, want %v", got, c.match)
			}
		})
	}
}

// TestShapeLearnsOnlyPlainDeltas: a role chunk, a finish chunk, a usage
// chunk or a tool call teaches no shape; a stream whose deltas never
// match stops learning.
func TestShapeLearnsOnlyPlainDeltas(t *testing.T) {
	for _, data := range []string{
		`{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
		`{"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}`,
		`{"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`,
		`{"model":"m","choices":[{"index":1,"delta":{"content":"a"}}]}`,
		`{"model":"m","choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}}]}`,
		`{"model":"m","choices":[{"index":0,"delta":{"content":"a\"b"}}]}`, // json.Unmarshal's: no substring to learn from
	} {
		sh := newShape()
		var ch chunk
		if err := sh.decode([]byte(data), &ch); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if sh.text >= 0 {
			t.Errorf("%s taught a shape", data)
		}
	}
	sh := newShape()
	var d string
	for i := range shapeGiveUp + 2 {
		var ch chunk
		d = strings.Replace(shapeDelta("a", "c", "p"), "1730000000", strings.Repeat("1", i+1), 1)
		if err := sh.decode([]byte(d), &ch); err != nil {
			t.Fatal(err)
		}
	}
	if string(sh.buf) == d {
		t.Errorf("after %d deltas that never matched, the shape still learns", shapeGiveUp+1)
	}
}

// FuzzShape: whatever the shape reads, it reads as decodeChunk does.
func FuzzShape(f *testing.F) {
	f.Add(shapeDelta("Hello", "chatcmpl-1", "abc"), shapeDelta(" world", "chatcmpl-2", "q"))
	f.Add(`{"model":"m","choices":[{"index":0,"delta":{"content":"x"}}]}`, `{"model":"m","choices":[{"index":0,"delta":{"content":"yy"}}]}`)
	f.Add(`{"x":"1","choices":[{"index":0,"delta":{"content":"x"}}],"y":"2"}`, `{"x":"","choices":[{"index":0,"delta":{"content":""}}],"y":"\"}`)
	f.Fuzz(func(t *testing.T, learned, next string) {
		sh := newShape()
		var ch chunk
		if sh.decode([]byte(learned), &ch) != nil || sh.text < 0 {
			return
		}
		text, ok := sh.match([]byte(next))
		if !ok {
			return
		}
		var want chunk
		if err := decodeChunk(next, &want); err != nil {
			t.Fatalf("the shape of %q read %q, which decodeChunk refuses: %v", learned, next, err)
		}
		got := chunk{Model: sh.model, Choices: []chunkChoice{{Delta: delta{Content: text}}}}
		if want.Choices == nil || !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Fatalf("the shape of %q read %q as\n%s, decodeChunk as\n%s", learned, next, g, w)
		}
	})
}
