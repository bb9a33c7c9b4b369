package server

import (
	"cmp"
	"encoding/json"
	"net/http"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// anEvents writes Anthropic's named SSE events (wire.md §5.3): every
// event has an "event:" line equal to its JSON type. message_start goes
// with the first chunk (which the router sends only once content came,
// so a failure before it is still an ordinary JSON error and the
// failover behind it invisible) and carries the input tokens when the
// backend reported them by then (Gemini does on every chunk); ping
// follows it and replaces the idle heartbeat. Blocks open and close as
// the kind of content changes: thinking (thinking_delta, then
// signature_delta), text (text_delta), one tool_use block per call
// (its arguments as one input_json_delta). message_delta carries the
// stop_reason and the final usage, input tokens included, then
// message_stop. A failure after message_start is an "event: error" with
// Anthropic's error object, never a clean end.
type anEvents struct {
	id, model string
	r         *http.Request
	started   bool
	index     int    // the next block's index
	open      string // the open block's type, "" when none
	usage     *llm.Usage
}

func (e *anEvents) headers(h http.Header) {}

func (e *anEvents) send(sw *sse.Writer, typ string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return sw.Event(typ, b)
}

// The event payloads, "type" first as the API writes them.
type (
	anStart struct {
		Type    string       `json:"type"`
		Message anMessageOut `json:"message"`
	}
	anBlockStart struct {
		Type         string     `json:"type"`
		Index        int        `json:"index"`
		ContentBlock anBlockOut `json:"content_block"`
	}
	anBlockDelta struct {
		Type  string  `json:"type"`
		Index int     `json:"index"`
		Delta anDelta `json:"delta"`
	}
	anDelta struct {
		Type        string  `json:"type"`
		Text        *string `json:"text,omitempty"`
		Thinking    *string `json:"thinking,omitempty"`
		Signature   *string `json:"signature,omitempty"`
		PartialJSON *string `json:"partial_json,omitempty"`
	}
	anBlockStop struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	anMsgDelta struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage anUsage `json:"usage"`
	}
)

var (
	anPing = []byte(`{"type":"ping"}`)
	anStop = []byte(`{"type":"message_stop"}`)
)

func (e *anEvents) start(sw *sse.Writer, c llm.Chunk) error {
	e.started = true
	m := anMessageOut{ID: e.id, Type: "message", Role: "assistant", Model: cmp.Or(c.Model, e.model), Content: []anBlockOut{}}
	if c.Usage != nil {
		m.Usage = anUsageOf(*c.Usage)
	}
	if err := e.send(sw, "message_start", anStart{Type: "message_start", Message: m}); err != nil {
		return err
	}
	return sw.Event("ping", anPing)
}

// ping is the idle heartbeat: Anthropic's own ping event.
func (e *anEvents) ping(sw *sse.Writer) error { return sw.Event("ping", anPing) }

// block makes typ the open block, closing another one first.
func (e *anEvents) block(sw *sse.Writer, typ string, cb anBlockOut) error {
	if e.open == typ && typ != "tool_use" {
		return nil
	}
	if err := e.closeBlock(sw); err != nil {
		return err
	}
	e.open = typ
	return e.send(sw, "content_block_start", anBlockStart{Type: "content_block_start", Index: e.index, ContentBlock: cb})
}

func (e *anEvents) closeBlock(sw *sse.Writer) error {
	if e.open == "" {
		return nil
	}
	e.open = ""
	i := e.index
	e.index++
	return e.send(sw, "content_block_stop", anBlockStop{Type: "content_block_stop", Index: i})
}

func (e *anEvents) delta(sw *sse.Writer, d anDelta) error {
	return e.send(sw, "content_block_delta", anBlockDelta{Type: "content_block_delta", Index: e.index, Delta: d})
}

func (e *anEvents) chunk(sw *sse.Writer, c llm.Chunk) error {
	if c.Usage != nil {
		e.usage = c.Usage
	}
	if !e.started {
		if err := e.start(sw, c); err != nil {
			return err
		}
	}
	if c.Thinking != "" || c.ThinkingSignature != "" {
		empty := ""
		if err := e.block(sw, "thinking", anBlockOut{Type: "thinking", Thinking: &empty, Signature: &empty}); err != nil {
			return err
		}
		// Copies, not &c.Thinking: a pointer into c moved every chunk
		// to the heap.
		if text := c.Thinking; text != "" {
			if err := e.delta(sw, anDelta{Type: "thinking_delta", Thinking: &text}); err != nil {
				return err
			}
		}
		if sig := c.ThinkingSignature; sig != "" {
			if err := e.delta(sw, anDelta{Type: "signature_delta", Signature: &sig}); err != nil {
				return err
			}
		}
	}
	if c.Delta != "" {
		empty := ""
		if err := e.block(sw, "text", anBlockOut{Type: "text", Text: &empty}); err != nil {
			return err
		}
		text := c.Delta
		if err := e.delta(sw, anDelta{Type: "text_delta", Text: &text}); err != nil {
			return err
		}
	}
	for _, tc := range c.ToolCalls {
		if err := e.toolUse(sw, tc); err != nil {
			return err
		}
	}
	return nil
}

// toolUse writes one complete call as its own block: start with an
// empty input, the arguments as one input_json_delta, stop.
func (e *anEvents) toolUse(sw *sse.Writer, tc llm.ToolCall) error {
	b := anToolUse(tc, e.index)
	args := string(b.Input)
	b.Input = json.RawMessage("{}")
	if err := e.block(sw, "tool_use", b); err != nil {
		return err
	}
	if err := e.delta(sw, anDelta{Type: "input_json_delta", PartialJSON: &args}); err != nil {
		return err
	}
	return e.closeBlock(sw)
}

func (e *anEvents) done(sw *sse.Writer, res *gateway.Result, _ string) error {
	if !e.started {
		u := res.Response.Usage
		if err := e.start(sw, llm.Chunk{Model: res.Response.Model, Usage: &u}); err != nil {
			return err
		}
	}
	if err := e.closeBlock(sw); err != nil {
		return err
	}
	var d anMsgDelta
	d.Type = "message_delta"
	d.Delta.StopReason, d.Delta.StopSequence = anStopReason(res.Response)
	d.Usage = anUsageOf(res.Response.Usage)
	if err := e.send(sw, "message_delta", d); err != nil {
		return err
	}
	return sw.Event("message_stop", anStop)
}

func (e *anEvents) fail(sw *sse.Writer, err error) error {
	f := anFailFor(err)
	return sw.Event("error", anErrorJSON(f.typ, f.msg, RequestID(e.r.Context())))
}

func (e *anEvents) failBeforeStart(s *Server, w http.ResponseWriter, err error) {
	s.anErrorFor(w, e.r, err)
}
