package openai

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fastChunkCases are chunks as OpenAI and compatible servers send them,
// and inputs at the edges of what the fast path takes.
var fastChunkCases = []struct {
	name string
	data string
	fast bool // the fast path decodes it (else json.Unmarshal does)
}{
	{"role chunk", `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`, true},
	{"text delta", `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}`, true},
	{"text delta as OpenAI sends it", `{"id":"chatcmpl-AbCdEf0123456789","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0123456789","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}],"usage":null}`, true},
	{"non-ASCII text", `{"model":"m","choices":[{"index":0,"delta":{"content":"héllo wörld ✓ 🙂"}}]}`, true},
	{"finish chunk", `{"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`, true},
	{"usage chunk", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":100,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":7,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`, true},
	{"usage details null", `{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":null,"completion_tokens_details":null}}`, true},
	{"refusal", `{"choices":[{"index":0,"delta":{"refusal":"I can't"}}]}`, true},
	{"second choice", `{"choices":[{"index":1,"delta":{"content":"b"}},{"index":0,"delta":{"content":"a"}}]}`, true},
	{"whitespace everywhere", " \n{ \"model\" : \"m\" ,\t\"choices\" : [ { \"index\" : 0 , \"delta\" : { \"content\" : \"x\" } } ] }\r\n", true},
	{"skipped values of every kind", `{"x":[1,-2.5e+3,0.1,true,false,null,"a\"b\\c\u00e9\n",{"y":[[]]}],"choices":null}`, true},
	{"empty object", `{}`, true},
	{"delta null", `{"choices":[{"index":0,"delta":null}]}`, true},
	{"negative zero index", `{"choices":[{"index":-0}]}`, true},

	{"tool call", `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}`, false},
	{"in-band error", `{"error":{"message":"overloaded","type":"server_error","code":null}}`, false},
	{"whole completion", `{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}`, true},
	{"whole completion as OpenAI indents it", "{\n  \"id\": \"chatcmpl-1\",\n  \"object\": \"chat.completion\",\n  \"created\": 1730000000,\n  \"model\": \"gpt-4o-mini-2024-07-18\",\n" +
		"  \"choices\": [\n    {\n      \"index\": 0,\n      \"message\": {\n        \"role\": \"assistant\",\n        \"content\": \"Hello there\",\n        \"refusal\": null,\n        \"annotations\": []\n      },\n" +
		"      \"logprobs\": null,\n      \"finish_reason\": \"stop\"\n    }\n  ],\n  \"usage\": {\n    \"prompt_tokens\": 9,\n    \"completion_tokens\": 2,\n    \"total_tokens\": 11,\n" +
		"    \"prompt_tokens_details\": {\"cached_tokens\": 0, \"audio_tokens\": 0},\n    \"completion_tokens_details\": {\"reasoning_tokens\": 0}\n  },\n  \"service_tier\": \"default\",\n  \"system_fingerprint\": null\n}\n", true},
	{"message null", `{"choices":[{"index":0,"message":null,"finish_reason":"stop"}]}`, true},
	{"whole completion with tool calls", `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`, false},
	{"duplicate message", `{"choices":[{"index":0,"message":{"content":"a"},"message":{"refusal":"b"}}]}`, false},
	{"escaped text", `{"choices":[{"index":0,"delta":{"content":"line\nbreak \"quoted\" \u00e9"}}]}`, false},
	{"invalid UTF-8 text", "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\xffb\"}}]}", false},
	{"duplicate key", `{"model":"a","model":"b"}`, false},
	{"case-folded key", `{"Model":"m"}`, false},
	{"key folded through a longer letter", `{"uſage":{"prompt_tokens":1},"choiceſ":[{"index":0}]}`, false}, // ſ folds to s
	{"invalid UTF-8 key", "{\"mod\xffel\":1}", false},
	{"ASCII keys of other lengths are skipped", `{"models":"x","choice":1,"usages":null,"err":0}`, true},
	{"fraction index", `{"choices":[{"index":1.0}]}`, false},
	{"exponent index", `{"choices":[{"index":1e0}]}`, false},
	{"huge index", `{"choices":[{"index":99999999999999999999}]}`, false},
	{"string index", `{"choices":[{"index":"0"}]}`, false},
	{"number model", `{"model":5}`, false},
	{"null choice", `{"choices":[null]}`, false},
	{"top-level null", `null`, false},
	{"top-level array", `[]`, false},
	{"trailing comma", `{"model":"m",}`, false},
	{"trailing data", `{"model":"m"} x`, false},
	{"truncated", `{"choices":[{"index":0,"delta":{"content":"x"`, false},
	{"leading zero", `{"x":01}`, false},
	{"bad escape in skipped value", `{"x":"\q"}`, false},
	{"control character", "{\"model\":\"a\tb\"}", false},
	{"bare word", `{"x":nul}`, false},
}

func TestFastChunkMatchesEncodingJSON(t *testing.T) {
	for _, tc := range fastChunkCases {
		t.Run(tc.name, func(t *testing.T) {
			var fast chunk
			ok := fastChunk(tc.data, &fast)
			if ok != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, tc.fast)
			}
			var ref chunk
			refErr := json.Unmarshal([]byte(tc.data), &ref)
			if ok {
				if refErr != nil {
					t.Fatalf("fast path accepted what encoding/json rejects: %v", refErr)
				}
				if !reflect.DeepEqual(fast, ref) {
					t.Fatalf("fast path decoded\n%+v\nencoding/json decoded\n%+v", fast, ref)
				}
			}
			var got chunk
			err := decodeChunk(tc.data, &got)
			if (err != nil) != (refErr != nil) || !reflect.DeepEqual(got, ref) {
				t.Fatalf("decodeChunk = %+v, %v; encoding/json = %+v, %v", got, err, ref, refErr)
			}
		})
	}
}

// FuzzFastChunk: whatever the fast path accepts, encoding/json accepts
// too and decodes to the same chunk.
func FuzzFastChunk(f *testing.F) {
	for _, tc := range fastChunkCases {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var fast chunk
		if !fastChunk(data, &fast) {
			return
		}
		var ref chunk
		if err := json.Unmarshal([]byte(data), &ref); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", data, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", data, fast, ref)
		}
	})
}

func BenchmarkDecodeChunk(b *testing.B) {
	data := fastChunkCases[2].data // a text delta as OpenAI sends it
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		var ch chunk
		for b.Loop() {
			ch = chunk{Choices: ch.Choices[:0]} // as decodeStream reuses it
			if err := decodeChunk(data, &ch); err != nil || len(ch.Choices) != 1 {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ch chunk
			if err := json.Unmarshal([]byte(data), &ch); err != nil || len(ch.Choices) != 1 {
				b.Fatal(err)
			}
		}
	})
}
