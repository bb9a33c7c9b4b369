package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// TestDecodeResponses: what each accepted body becomes, and what each
// refused one names.
func TestDecodeResponses(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		check      func(t *testing.T, r *llm.Request)
		param      string // a refused body: the param named
	}{
		{name: "string input", body: `{"model":"m","input":"hi","instructions":"be brief","max_output_tokens":50,"temperature":0}`,
			check: func(t *testing.T, r *llm.Request) {
				if len(r.Messages) != 1 || r.Messages[0].Content != "hi" || r.System != "be brief" || r.MaxTokens != 50 || *r.Temperature != 0 {
					t.Errorf("%+v", r)
				}
			}},
		{name: "items", body: `{"model":"m","instructions":"i","input":[
			{"role":"developer","content":"d"},
			{"type":"message","role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]},
			{"type":"message","role":"assistant","id":"msg_1","status":"completed","content":[{"type":"output_text","text":"c","annotations":[]}]},
			{"type":"function_call","call_id":"call_1","name":"f","arguments":"{}"},
			{"type":"function_call","call_id":"call_2","name":"g","arguments":"{\"x\":1}"},
			{"type":"function_call_output","call_id":"call_1","output":"r1"},
			{"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"r2"}]},
			{"type":"reasoning","id":"rs_1","summary":[]}]}`,
			check: func(t *testing.T, r *llm.Request) {
				if r.System != "i\n\nd" || len(r.Messages) != 4 {
					t.Fatalf("%+v", r)
				}
				a := r.Messages[1]
				if a.Role != llm.RoleAssistant || a.Content != "c" || len(a.ToolCalls) != 2 || a.ToolCalls[1].Arguments != `{"x":1}` {
					t.Errorf("assistant turn %+v", a)
				}
				if m := r.Messages[3]; m.Role != llm.RoleTool || m.ToolCallID != "call_2" || m.Name != "g" || m.Content != "r2" {
					t.Errorf("tool turn %+v", m)
				}
				if r.Messages[0].Content != "ab" {
					t.Errorf("user turn %+v", r.Messages[0])
				}
			}},
		{name: "tools and choice", body: `{"model":"m","input":"x","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"get_weather"}}`,
			check: func(t *testing.T, r *llm.Request) {
				if len(r.Tools) != 1 || r.ToolChoice != "get_weather" {
					t.Errorf("%+v", r)
				}
			}},
		{name: "json schema", body: `{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true}}}`,
			check: func(t *testing.T, r *llm.Request) {
				if !r.JSON || r.Schema == nil || r.Schema.Name != "out" || !r.Schema.Strict {
					t.Errorf("%+v", r)
				}
			}},
		{name: "json object, store false", body: `{"model":"m","input":"x","store":false,"text":{"format":{"type":"json_object"}}}`,
			check: func(t *testing.T, r *llm.Request) {
				if !r.JSON || r.Schema != nil || r.MaxTokens != defaultOAMaxTokens {
					t.Errorf("%+v", r)
				}
			}},
		{name: "no model", body: `{"input":"x"}`, param: "model"},
		{name: "no input", body: `{"model":"m"}`, param: "input"},
		{name: "previous response", body: `{"model":"m","input":"x","previous_response_id":"resp_1"}`, param: "previous_response_id"},
		{name: "hosted tool", body: `{"model":"m","input":"x","tools":[{"type":"file_search"}]}`, param: "tools[0].type"},
		{name: "bad tool name", body: `{"model":"m","input":"x","tools":[{"type":"function","name":"a b"}]}`, param: "tools[0].name"},
		{name: "undeclared choice", body: `{"model":"m","input":"x","tool_choice":{"type":"function","name":"f"}}`, param: "tool_choice"},
		{name: "image part", body: `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}`, param: "input[0].content"},
		{name: "bad role", body: `{"model":"m","input":[{"role":"tool","content":"x"}]}`, param: "input[0].role"},
		{name: "call without id", body: `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, param: "input[0]"},
		{name: "only system", body: `{"model":"m","input":[{"role":"system","content":"x"}]}`, param: "input"},
		{name: "background", body: `{"model":"m","input":"x","background":true}`, param: "background"},
		{name: "temperature", body: `{"model":"m","input":"x","temperature":3}`, param: "temperature"},
		{name: "format", body: `{"model":"m","input":"x","text":{"format":{"type":"grammar"}}}`, param: "text.format.type"},
		{name: "type", body: `{"model":"m","input":"x","max_output_tokens":"many"}`, param: "max_output_tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, req, f := decodeResponses([]byte(tc.body))
			if tc.param != "" {
				if f == nil || f.status != http.StatusBadRequest || f.err.Param == nil || *f.err.Param != tc.param {
					t.Fatalf("want a 400 naming %s, got %+v", tc.param, f)
				}
				return
			}
			if f != nil {
				t.Fatalf("refused: %s", f.err.Message)
			}
			tc.check(t, req)
		})
	}
}

// TestResponsesEvents: the typed events of a text and a tool call, in
// order with consecutive sequence numbers, the item IDs of the stream
// in response.completed, and the failure events after the start.
func TestResponsesEvents(t *testing.T) {
	var buf bytes.Buffer
	sw := sse.NewWriter(&buf)
	ev := newRSEvents("resp_x", &rsRequest{Model: "m"}, 1)
	res := &gateway.Result{Response: llm.Response{Text: "ab", ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: "{}"}},
		Usage: llm.Usage{InputTokens: 3, OutputTokens: 2}, Model: "m2", Provider: "p"}}
	for _, c := range []llm.Chunk{{Delta: "a", Model: "m2"}, {Delta: "b"}, {ToolCalls: res.Response.ToolCalls}} {
		if err := ev.chunk(sw, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := ev.done(sw, res, ""); err != nil {
		t.Fatal(err)
	}
	events := rsEventsOf(t, buf.String())
	want := "response.created response.in_progress response.output_item.added response.content_part.added " +
		"response.output_text.delta response.output_text.delta response.output_text.done response.content_part.done " +
		"response.output_item.done response.output_item.added response.function_call_arguments.delta " +
		"response.function_call_arguments.done response.output_item.done response.completed"
	var types []string
	for i, e := range events {
		types = append(types, e["type"].(string))
		if e["sequence_number"] != float64(i) {
			t.Errorf("event %d has sequence_number %v", i, e["sequence_number"])
		}
	}
	if strings.Join(types, " ") != want {
		t.Fatalf("events:\n%s\nwant\n%s", strings.Join(types, " "), want)
	}
	final := events[len(events)-1]["response"].(map[string]any)
	out := final["output"].([]any)
	msg, call := out[0].(map[string]any), out[1].(map[string]any)
	if msg["id"] != events[2]["item"].(map[string]any)["id"] || call["call_id"] != "c1" || call["arguments"] != "{}" ||
		final["status"] != "completed" || final["usage"].(map[string]any)["total_tokens"] != 5.0 || final["model"] != "m2" {
		t.Errorf("response.completed = %v", final)
	}
	buf.Reset()
	if err := ev.fail(sw, &llm.Error{Kind: llm.KindUpstream, Provider: "p", Message: "cut"}); err != nil {
		t.Fatal(err)
	}
	events = rsEventsOf(t, buf.String())
	failed := events[1]["response"].(map[string]any)
	text, _ := events[0]["message"].(string)
	if events[0]["type"] != "error" || !strings.Contains(text, "cut") || events[1]["type"] != "response.failed" ||
		failed["status"] != "failed" || failed["error"].(map[string]any)["message"] != text {
		t.Errorf("failure events = %v", events)
	}
}

func rsEventsOf(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for ev, err := range sse.Read(strings.NewReader(s)) {
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatalf("%s: %v", ev.Data, err)
		}
		if m["type"] != ev.Type {
			t.Errorf("event %q carries type %v", ev.Type, m["type"])
		}
		out = append(out, m)
	}
	return out
}

// TestResponsesWhole: the non-stream Response object, an answer cut by
// max_output_tokens being incomplete.
func TestResponsesWhole(t *testing.T) {
	for _, tc := range []struct {
		finish, status, reason string
	}{{"stop", "completed", ""}, {"length", "incomplete", "max_output_tokens"}, {"content_filter", "incomplete", "content_filter"}} {
		ev := newRSEvents("resp_y", &rsRequest{Model: "m"}, 1)
		r := ev.whole(&gateway.Result{Response: llm.Response{Text: "t", FinishReason: tc.finish}})
		reason := ""
		if r.IncompleteDetails != nil {
			reason = r.IncompleteDetails.Reason
		}
		if r.Status != tc.status || reason != tc.reason || r.Object != "response" || len(r.Output) != 1 || r.Output[0].Content[0].Text != "t" {
			t.Errorf("%s: %+v", tc.finish, r)
		}
	}
}

// TestDecodeEmbeddings: inputs, dimensions, formats and the refusals.
func TestDecodeEmbeddings(t *testing.T) {
	for _, tc := range []struct {
		body   string
		inputs []string
		dims   int
		param  string
	}{
		{body: `{"model":"m","input":"one"}`, inputs: []string{"one"}},
		{body: `{"model":"m","input":["a","b"],"dimensions":8,"encoding_format":"base64","task_type":"RETRIEVAL_QUERY"}`, inputs: []string{"a", "b"}, dims: 8},
		{body: `{"input":"x"}`, param: "model"},
		{body: `{"model":"m"}`, param: "input"},
		{body: `{"model":"m","input":[[1,2],[3]]}`, param: "input"},
		{body: `{"model":"m","input":[{"a":1}]}`, param: "input"},
		{body: `{"model":"m","input":" "}`, param: "input"},
		{body: `{"model":"m","input":"x","dimensions":9000}`, param: "dimensions"},
		{body: `{"model":"m","input":"x","task_type":"poetry"}`, param: "task_type"},
		{body: `{"model":"m","input":"x","encoding_format":"binary"}`, param: "encoding_format"},
		{body: `{"model":"m","input":"` + strings.Repeat("a", maxEmbedInputBytes+1) + `"}`, param: "input"},
		{body: `{"model":"m","input":[` + strings.Repeat(`"a",`, maxEmbedInputs) + `"a"]}`, param: "input"},
	} {
		_, req, f := decodeEmbeddings([]byte(tc.body))
		if tc.param != "" {
			if f == nil || f.err.Param == nil || *f.err.Param != tc.param {
				t.Errorf("%.80s: want a 400 naming %s, got %+v", tc.body, tc.param, f)
			}
			continue
		}
		if f != nil || strings.Join(req.Inputs, "|") != strings.Join(tc.inputs, "|") || req.Dimensions != tc.dims {
			t.Errorf("%s: %+v %+v", tc.body, req, f)
		}
	}
}

// TestEncodeEmbeddings: base64 is the little-endian float32 bytes.
func TestEncodeEmbeddings(t *testing.T) {
	res := &gateway.EmbedResult{Response: &llm.EmbedResponse{Vectors: [][]float32{{1, -0.5}, {0.25, 2}}, Model: "m",
		Usage: llm.Usage{InputTokens: 4}}, Duration: time.Millisecond}
	for _, format := range []string{"float", "base64"} {
		b, _ := json.Marshal(encodeEmbeddings(res, format))
		var got struct {
			Object string
			Data   []struct {
				Object    string
				Index     int
				Embedding json.RawMessage
			}
			Usage struct{ PromptTokens, TotalTokens int } `json:"usage"`
		}
		if err := json.Unmarshal(b, &got); err != nil || got.Object != "list" || len(got.Data) != 2 {
			t.Fatalf("%s: %s", format, b)
		}
		for i, d := range got.Data {
			var v []float32
			if format == "float" {
				_ = json.Unmarshal(d.Embedding, &v)
			} else {
				var s string
				_ = json.Unmarshal(d.Embedding, &s)
				raw, _ := base64.StdEncoding.DecodeString(s)
				for j := 0; j+4 <= len(raw); j += 4 {
					v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
				}
			}
			if d.Index != i || d.Object != "embedding" || len(v) != 2 || v[0] != res.Response.Vectors[i][0] || v[1] != res.Response.Vectors[i][1] {
				t.Errorf("%s: vector %d = %v", format, i, v)
			}
		}
	}
}

func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{`{"model":"m","input":"hi"}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"}]}`,
		`{"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":"required"}`,
		`{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"n","schema":{}}}}`, `{}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, req, fail := decodeResponses(body)
		if fail != nil {
			if fail.status != http.StatusBadRequest || fail.err.Message == "" {
				t.Fatalf("bad error %+v", fail)
			}
			return
		}
		if len(req.Messages) == 0 || req.MaxTokens < 1 || req.MaxTokens > maxTokensLimit || req.Model == "" {
			t.Fatalf("accepted %+v", req)
		}
		for _, tool := range req.Tools {
			if !validToolName(tool.Name) {
				t.Fatalf("accepted tool name %q", tool.Name)
			}
		}
	})
}

func FuzzDecodeEmbeddings(f *testing.F) {
	for _, s := range []string{`{"model":"m","input":"hi"}`, `{"model":"m","input":["a","b"],"dimensions":3}`,
		`{"model":"m","input":[1,2]}`, `{"model":"m","input":[""]}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, req, fail := decodeEmbeddings(body)
		if fail != nil {
			if fail.status != http.StatusBadRequest || fail.err.Message == "" {
				t.Fatalf("bad error %+v", fail)
			}
			return
		}
		if len(req.Inputs) == 0 || len(req.Inputs) > maxEmbedInputs || req.Dimensions < 0 || req.Dimensions > maxEmbedDimensions {
			t.Fatalf("accepted %+v", req)
		}
		for _, in := range req.Inputs {
			if strings.TrimSpace(in) == "" || len(in) > maxEmbedInputBytes {
				t.Fatalf("accepted input of %d bytes", len(in))
			}
		}
	})
}

// TestDecodeLegacy: /v1/completions' prompt and what it refuses.
func TestDecodeLegacy(t *testing.T) {
	for _, tc := range []struct {
		body, prompt, param string
		max                 int
	}{
		{body: `{"model":"m","prompt":"Say this"}`, prompt: "Say this", max: defaultLegacyMaxTokens},
		{body: `{"model":"m","prompt":["one"],"max_tokens":40,"stop":"\n"}`, prompt: "one", max: 40},
		{body: `{"model":"m","prompt":["a","b"]}`, param: "prompt"},
		{body: `{"model":"m","prompt":[1,2]}`, param: "prompt"},
		{body: `{"model":"m","prompt":""}`, param: "prompt"},
		{body: `{"model":"m","prompt":"x","echo":true}`, param: "echo"},
		{body: `{"model":"m","prompt":"x","suffix":"y"}`, param: "suffix"},
		{body: `{"model":"m","prompt":"x","n":2}`, param: "n"},
		{body: `{"model":"m","prompt":"x","logprobs":1}`, param: "logprobs"},
		{body: `{"prompt":"x"}`, param: "model"},
	} {
		_, req, f := decodeLegacy([]byte(tc.body))
		if tc.param != "" {
			if f == nil || f.err.Param == nil || *f.err.Param != tc.param {
				t.Errorf("%s: want a 400 naming %s, got %+v", tc.body, tc.param, f)
			}
			continue
		}
		if f != nil || req.Messages[0].Content != tc.prompt || req.MaxTokens != tc.max {
			t.Errorf("%s: %+v %+v", tc.body, req, f)
		}
	}
}

func FuzzDecodeLegacy(f *testing.F) {
	for _, s := range []string{`{"model":"m","prompt":"hi"}`, `{"model":"m","prompt":["a"],"stop":["x"]}`, `{"model":"m","prompt":[1]}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, req, fail := decodeLegacy(body)
		if fail != nil {
			if fail.status != http.StatusBadRequest || fail.err.Message == "" {
				t.Fatalf("bad error %+v", fail)
			}
			return
		}
		if len(req.Messages) != 1 || req.Messages[0].Content == "" || req.MaxTokens < 1 || req.MaxTokens > maxTokensLimit {
			t.Fatalf("accepted %+v", req)
		}
	})
}
