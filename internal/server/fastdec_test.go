package server

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fastOACases are /v1 bodies as the SDKs send them, and bodies at the
// edges of what the fast path takes.
var fastOACases = []struct {
	name, body string
	fast       bool
}{
	{"minimal", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is MLOps?"}]}`, true},
	{"every fast field", `{"model":"openai/gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi\nthere \"x\"","name":"bob"},{"role":"tool","content":null,"tool_call_id":"c1"}],` +
		`"max_tokens":100,"max_completion_tokens":200,"temperature":0.5,"top_p":1,"n":2,"user":"u","stream":true,"stream_options":{"include_usage":true},` +
		`"presence_penalty":0,"frequency_penalty":-0.0,"logprobs":false,"parallel_tool_calls":true,"reasoning_effort":"low","provider":"openai"}`, true},
	{"content parts", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:,x"}}]}]}`, true},
	{"nulls", `{"model":null,"messages":null,"max_tokens":null,"temperature":null,"stream":null,"stream_options":null,"logprobs":null,"user":null}`, true},
	{"empty messages", `{"model":"m","messages":[]}`, true},
	{"unknown keys skipped", `{"metadata":{"a":[1,2,{"b":null}]},"model":"m","store":false,"messages":[{"role":"user","content":"x","refusal":null}]}`, true},
	{"whitespace", " \n{ \"model\" : \"m\" , \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"x\" } ] }\n", true},
	{"float forms", `{"temperature":1e-3,"top_p":0.25E+1,"presence_penalty":-2,"frequency_penalty":12345678901234567890}`, true},
	{"empty", `{}`, true},

	{"tools", `{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}]}`, false},
	{"stop", `{"model":"m","stop":"x"}`, false},
	{"seed", `{"seed":1}`, false},
	{"response_format", `{"response_format":{"type":"json_object"}}`, false},
	{"tool calls", `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, false},
	{"escaped model", `{"model":"gpt\u002d4o"}`, false},
	{"duplicate key", `{"model":"a","model":"b"}`, false},
	{"duplicate late key", `{"provider":"a","provider":"b"}`, false},
	{"case-folded key", `{"Model":"m"}`, false},
	{"case-folded unknown kept key", `{"TOOLS":[]}`, false},
	{"case-folded message key", `{"messages":[{"Role":"user"}]}`, false},
	{"fraction int", `{"max_tokens":1.5}`, false},
	{"exponent int", `{"max_tokens":1e2}`, false},
	{"huge int", `{"n":99999999999999999999}`, false},
	{"huge float", `{"temperature":1e400}`, false},
	{"string number", `{"temperature":"0.5"}`, false},
	{"number model", `{"model":5}`, false},
	{"null message", `{"messages":[null]}`, false},
	{"string stream", `{"stream":"true"}`, false},
	{"not an object", `[]`, false},
}

func TestFastOARequestMatchesEncodingJSON(t *testing.T) {
	for _, tc := range fastOACases {
		t.Run(tc.name, func(t *testing.T) {
			if !json.Valid([]byte(tc.body)) {
				t.Fatalf("not valid JSON: %s", tc.body)
			}
			var fast oaRequest
			ok := fastOARequest([]byte(tc.body), &fast)
			if ok != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, tc.fast)
			}
			checkFastOA(t, tc.body, ok, &fast)
		})
	}
}

// checkFastOA: what the fast path took, unmarshalObject decodes alike.
func checkFastOA(t *testing.T, body string, ok bool, fast *oaRequest) {
	t.Helper()
	if !ok {
		return
	}
	var ref oaRequest
	if e := unmarshalObject([]byte(body), &ref); e != nil {
		t.Fatalf("fast path accepted %q, encoding/json: %+v", body, e)
	}
	if !reflect.DeepEqual(*fast, ref) {
		t.Fatalf("%q:\nfast          %+v\nencoding/json %+v", body, *fast, ref)
	}
}

// FuzzFastOARequest: whatever valid body the fast path accepts,
// encoding/json accepts too and decodes to the same request.
func FuzzFastOARequest(f *testing.F) {
	for _, tc := range fastOACases {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return // readBody answers 400 before decoding
		}
		var fast oaRequest
		checkFastOA(t, body, fastOARequest([]byte(body), &fast), &fast)
	})
}

// fastChatCases are /chat bodies at the edges of the fast path.
var fastChatCases = []struct {
	name, body string
	fast       bool
}{
	{"seed shape", `{"prompt":"Explica Machine Learning en 50 palabras","context":"Estamos hablando de modelos RandomForest","max_tokens":100,"temperature":0.5}`, true},
	{"every field", `{"prompt":"p","context":"c","max_tokens":1,"temperature":2,"stream":true,"model":"gemini-2.5-flash","provider":"google"}`, true},
	{"nulls", `{"prompt":null,"context":null,"max_tokens":null,"temperature":null,"stream":null,"model":null,"provider":null}`, true},
	{"unknown keys", `{"x":{"y":[1,"\n"]},"prompt":"p"}`, true},
	{"empty", `{}`, true},
	{"escaped prompt", `{"prompt":"line\nbreak"}`, false},
	{"duplicate", `{"prompt":"a","prompt":"b"}`, false},
	{"case-folded", `{"Prompt":"a"}`, false},
	{"number prompt", `{"prompt":5}`, false},
	{"fraction max_tokens", `{"max_tokens":1.5}`, false},
	{"huge temperature", `{"temperature":1e999}`, false},
	{"string stream", `{"stream":"yes"}`, false},
	{"trailing data", `{"prompt":"a"} {}`, false},
	{"not an object", `"prompt"`, false},
}

func TestFastChatRequestMatchesEncodingJSON(t *testing.T) {
	for _, tc := range fastChatCases {
		t.Run(tc.name, func(t *testing.T) {
			var fast ChatRequest
			ok := fastChatRequest([]byte(tc.body), &fast)
			if ok != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, tc.fast)
			}
			checkFastChat(t, tc.body, ok, &fast)
		})
	}
}

func checkFastChat(t *testing.T, body string, ok bool, fast *ChatRequest) {
	t.Helper()
	if !ok {
		return
	}
	var ref ChatRequest
	if err := json.Unmarshal([]byte(body), &ref); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json: %v", body, err)
	}
	if !reflect.DeepEqual(*fast, ref) {
		t.Fatalf("%q:\nfast          %+v\nencoding/json %+v", body, *fast, ref)
	}
}

// FuzzFastChatRequest: whatever the fast path accepts, encoding/json
// accepts too and decodes to the same request.
func FuzzFastChatRequest(f *testing.F) {
	for _, tc := range fastChatCases {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var fast ChatRequest
		checkFastChat(t, body, fastChatRequest([]byte(body), &fast), &fast)
	})
}
