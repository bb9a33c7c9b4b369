package gemini

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fastResponseCases are chunks and bodies as Gemini sends them, and
// inputs at the edges of what the fast path takes.
var fastResponseCases = []struct {
	name string
	data string
	fast bool // the fast path decodes it (else json.Unmarshal does)
}{
	{"text chunk", `{"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":1,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`, true},
	{"last chunk", `{"candidates":[{"content":{"parts":[{"text":" world"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2,"totalTokenCount":12,"promptTokensDetails":[{"modality":"TEXT","tokenCount":10}],"thoughtsTokenCount":7},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`, true},
	{"thought part", `{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"a","thought":false}]},"index":0}]}`, true},
	{"safety ratings and citations skipped", `{"candidates":[{"content":{"parts":[{"text":"x"}]},"safetyRatings":[{"category":"HARM_CATEGORY_HATE_SPEECH","probability":"NEGLIGIBLE"}],"citationMetadata":{"citationSources":[{"startIndex":1,"uri":"u"}]},"avgLogprobs":-0.25,"index":0}]}`, true},
	{"generateContent body, indented", "{\n  \"candidates\": [\n    {\n      \"content\": {\n        \"parts\": [\n          {\n            \"text\": \"Hello there\"\n          }\n        ],\n        \"role\": \"model\"\n      },\n      \"finishReason\": \"STOP\",\n      \"index\": 0\n    }\n  ],\n  \"usageMetadata\": {\n    \"promptTokenCount\": 10,\n    \"candidatesTokenCount\": 2,\n    \"totalTokenCount\": 12\n  },\n  \"modelVersion\": \"gemini-2.5-flash\",\n  \"responseId\": \"r\"\n}\n", true},
	{"no candidates", `{"candidates":[],"usageMetadata":null}`, true},
	{"content and parts null", `{"candidates":[{"content":null,"index":0},{"content":{"parts":null}}]}`, true},
	{"non-ASCII text", `{"candidates":[{"content":{"parts":[{"text":"héllo ✓ 🙂"}]}}]}`, true},

	{"function call", `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}}}]},"index":0}]}`, false},
	{"prompt blocked", `{"promptFeedback":{"blockReason":"SAFETY"}}`, false},
	{"in-band error", `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED"}}`, false},
	{"escaped text", `{"candidates":[{"content":{"parts":[{"text":"line\nbreak"}]}}]}`, false},
	{"duplicate key", `{"modelVersion":"a","modelVersion":"b"}`, false},
	{"case-folded key", `{"ModelVersion":"m"}`, false},
	{"null candidate", `{"candidates":[null]}`, false},
	{"string thought", `{"candidates":[{"content":{"parts":[{"thought":"yes"}]}}]}`, false},
	{"fraction count", `{"usageMetadata":{"promptTokenCount":1.5}}`, false},
	{"truncated", `{"candidates":[{"content":{"parts":[{"text":"x"`, false},
	{"top-level array", `[]`, false},
}

func TestFastResponse(t *testing.T) {
	for _, tc := range fastResponseCases {
		t.Run(tc.name, func(t *testing.T) {
			var fast generateResponse
			if got := fastResponse(tc.data, &fast); got != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", got, tc.fast)
			}
			var ref, got generateResponse
			refErr := json.Unmarshal([]byte(tc.data), &ref)
			err := decodeResponse(tc.data, &got)
			if (err == nil) != (refErr == nil) || !reflect.DeepEqual(got, ref) {
				t.Fatalf("decodeResponse = %+v, %v; encoding/json %+v, %v", got, err, ref, refErr)
			}
		})
	}
}

func FuzzFastResponse(f *testing.F) {
	for _, tc := range fastResponseCases {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var fast generateResponse
		if !fastResponse(data, &fast) {
			return
		}
		var ref generateResponse
		if err := json.Unmarshal([]byte(data), &ref); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", data, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", data, fast, ref)
		}
	})
}

func BenchmarkDecodeResponse(b *testing.B) {
	data := fastResponseCases[0].data
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r generateResponse
			if err := decodeResponse(data, &r); err != nil || len(r.Candidates) != 1 {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r generateResponse
			if err := json.Unmarshal([]byte(data), &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reusedAgrees checks the reuse contract: a response emptied by reuse
// after event a and decoded from b holds what a zero one decoded from b
// holds, but that an absent candidates or parts list may be empty
// rather than nil.
func reusedAgrees(t *testing.T, a, b string) {
	t.Helper()
	var r generateResponse
	_ = decodeResponse(a, &r)
	r.reuse()
	err := decodeResponse(b, &r)
	var ref generateResponse
	refErr := decodeResponse(b, &ref)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("after %q, %q: error %v, afresh %v", a, b, err, refErr)
	}
	if err != nil {
		return
	}
	norm := func(r generateResponse) generateResponse {
		r.spare = nil
		if len(r.Candidates) == 0 {
			r.Candidates = nil
		}
		cs := make([]candidate, len(r.Candidates)) // a copy: r's content objects are shared with reuse
		for i, c := range r.Candidates {
			if c.Content != nil {
				cc := *c.Content
				if len(cc.Parts) == 0 {
					cc.Parts = nil
				}
				c.Content = &cc
			}
			cs[i] = c
		}
		if r.Candidates != nil {
			r.Candidates = cs
		}
		return r
	}
	if got, want := norm(r), norm(ref); !reflect.DeepEqual(got, want) {
		t.Fatalf("after %q, %q:\nreused %+v\nafresh %+v", a, b, got, want)
	}
}

// TestReuseAgrees: every pair of the cases, in both orders.
func TestReuseAgrees(t *testing.T) {
	for _, a := range fastResponseCases {
		for _, b := range fastResponseCases {
			reusedAgrees(t, a.data, b.data)
		}
	}
}

// FuzzReuse: decoding into a reused response agrees with decoding afresh
// whatever came before.
func FuzzReuse(f *testing.F) {
	for i, tc := range fastResponseCases {
		f.Add(tc.data, fastResponseCases[(i+1)%len(fastResponseCases)].data)
	}
	f.Fuzz(reusedAgrees)
}
