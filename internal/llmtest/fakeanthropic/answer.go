package fakeanthropic

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

var idSeq atomic.Int64

// answer is one reply rendered for one request.
type answer struct {
	id, model string
	thinking  []string
	signature string
	text      []string
	calls     []ToolCall
	stop      string
	usage     Usage
}

func newAnswer(req *messagesRequest, r *Reply) *answer {
	a := &answer{id: "msg_fake" + strconv.FormatInt(idSeq.Add(1), 10), model: r.Model, text: r.Text, calls: r.ToolCalls, stop: r.StopReason}
	if req.Thinking != nil && req.Thinking.Type == "enabled" {
		// Thinking blocks come only when the request enabled thinking.
		a.thinking, a.signature = r.Thinking, r.Signature
		if a.signature == "" {
			a.signature = "sig-fake"
		}
	}
	if a.model == "" {
		a.model = req.Model
	}
	if a.text == nil && a.calls == nil {
		a.text = DefaultText
	}
	if a.stop == "" {
		a.stop = "end_turn"
		if len(a.calls) > 0 {
			a.stop = "tool_use"
		}
	}
	a.usage = Usage{InputTokens: 10, OutputTokens: len(a.text) + len(a.calls)}
	if r.Usage != nil {
		a.usage = *r.Usage
	}
	return a
}

func (a *answer) usageJSON(output bool) map[string]any {
	u := map[string]any{
		"input_tokens":                a.usage.InputTokens,
		"cache_creation_input_tokens": a.usage.CacheCreationInputTokens,
		"cache_read_input_tokens":     a.usage.CacheReadInputTokens,
		"output_tokens":               1,
		"service_tier":                "standard",
	}
	if output {
		u["output_tokens"] = a.usage.OutputTokens
		u["output_tokens_details"] = map[string]int{"thinking_tokens": a.usage.ThinkingTokens}
	}
	return u
}

// message is the non-stream body.
func (a *answer) message() map[string]any {
	content := []map[string]any{}
	if len(a.thinking) > 0 {
		content = append(content, map[string]any{"type": "thinking", "thinking": strings.Join(a.thinking, ""), "signature": a.signature})
	}
	if text := strings.Join(a.text, ""); text != "" {
		content = append(content, map[string]any{"type": "text", "text": text})
	}
	for _, c := range a.calls {
		content = append(content, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": json.RawMessage(c.Input)})
	}
	return map[string]any{
		"id": a.id, "type": "message", "role": "assistant", "model": a.model, "content": content,
		"stop_reason": a.stop, "stop_sequence": nil, "usage": a.usageJSON(true),
	}
}

// events renders the stream in the API's order: message_start, each
// block (start, ping after the first, deltas, stop), message_delta,
// message_stop.
func (a *answer) events() []fakeserver.Event {
	var out []fakeserver.Event
	add := func(name string, v map[string]any, delta bool) {
		out = append(out, fakeserver.Event{Name: name, Data: typeFirst(name, v), Delta: delta})
	}
	add("message_start", map[string]any{"message": map[string]any{
		"id": a.id, "type": "message", "role": "assistant", "model": a.model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": a.usageJSON(false),
	}}, false)
	index := 0
	block := func(start map[string]any, deltas []map[string]any) {
		add("content_block_start", map[string]any{"index": index, "content_block": start}, false)
		if index == 0 {
			add("ping", map[string]any{}, false)
		}
		for _, d := range deltas {
			add("content_block_delta", map[string]any{"index": index, "delta": d}, true)
		}
		add("content_block_stop", map[string]any{"index": index}, false)
		index++
	}
	if len(a.thinking) > 0 {
		var ds []map[string]any
		for _, t := range a.thinking {
			ds = append(ds, map[string]any{"type": "thinking_delta", "thinking": t})
		}
		ds = append(ds, map[string]any{"type": "signature_delta", "signature": a.signature})
		block(map[string]any{"type": "thinking", "thinking": "", "signature": ""}, ds)
	}
	if len(a.text) > 0 {
		var ds []map[string]any
		for _, t := range a.text {
			ds = append(ds, map[string]any{"type": "text_delta", "text": t})
		}
		block(map[string]any{"type": "text", "text": ""}, ds)
	}
	for _, c := range a.calls {
		var ds []map[string]any
		for _, f := range fakeserver.Fragments(c.Input, 8) {
			ds = append(ds, map[string]any{"type": "input_json_delta", "partial_json": f})
		}
		block(map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": map[string]any{}}, ds)
	}
	add("message_delta", map[string]any{
		"delta": map[string]any{"stop_reason": a.stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": a.usage.OutputTokens, "output_tokens_details": map[string]int{"thinking_tokens": a.usage.ThinkingTokens}},
	}, false)
	add("message_stop", map[string]any{}, false)
	return out
}

// typeFirst renders v with "type": name as its first key, as the API does.
func typeFirst(name string, v map[string]any) []byte {
	b := []byte(`{"type":` + strconv.Quote(name))
	if rest := fakeserver.MustJSON(v); len(rest) > 2 {
		b = append(b, ',')
		b = append(b, rest[1:]...)
		return b
	}
	return append(b, '}')
}

// stream writes the SSE answer, playing r's fault.
func (a *answer) stream(c *fakeserver.Call, r *Reply) {
	var fault func()
	if r.Fault >= FaultCutAfter {
		fault = func() { playFault(c, r) }
	}
	c.Stream(a.events(), r.Trickle, r.After, fault)
}

// playFault plays an "after" fault in place of the rest of the stream.
func playFault(c *fakeserver.Call, r *Reply) {
	switch r.Fault {
	case FaultStallAfter:
		c.Hold(nil)
	case FaultMalformedAfter:
		c.Send(fakeserver.Event{Name: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x`)}.Frame())
	case FaultErrorAfter:
		e := r.Error
		if e.Type == "" {
			e = APIError{Type: "overloaded_error", Message: "Overloaded"}
		}
		c.Send(fakeserver.Event{Name: "error", Data: fakeserver.MustJSON(map[string]any{"type": "error", "error": map[string]string{"type": e.Type, "message": e.Message}})}.Frame())
	default: // FaultCutAfter
		c.Cut()
	}
}
