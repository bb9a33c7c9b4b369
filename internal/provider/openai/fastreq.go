package openai

import (
	"strconv"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
)

// appendPlainRequest appends w as json.Marshal(&w) would, for the common
// request: text messages only (no tool calls, no image parts), no tools,
// no tool choice, no response format. It reports false for anything else
// (encodeRequest then marshals w by reflection), and for floats
// encoding/json refuses. The bytes are json.Marshal's exactly: field
// order, omitempty and HTML escaping included (TestPlainRequestMatchesJSON,
// FuzzPlainRequest).
func appendPlainRequest(b []byte, w *chatRequest) ([]byte, bool) {
	if len(w.Tools) > 0 || w.ToolChoice != nil || w.ResponseFormat != nil {
		return b, false
	}
	b = append(b, `{"model":`...)
	b = jsonscan.AppendString(b, w.Model)
	b = append(b, `,"messages":`...)
	b, ok := appendPlainMessages(b, w.Messages)
	if !ok {
		return b, false
	}
	b = appendOptInt(b, `,"max_completion_tokens":`, w.MaxCompletionTokens)
	b = appendOptInt(b, `,"max_tokens":`, w.MaxTokens)
	for _, f := range []struct {
		key string
		v   *float64
	}{{`,"temperature":`, w.Temperature}, {`,"top_p":`, w.TopP}} {
		if f.v == nil {
			continue
		}
		if b, ok = jsonscan.AppendFloat(append(b, f.key...), *f.v); !ok {
			return b, false
		}
	}
	if len(w.Stop) > 0 {
		b = append(b, `,"stop":[`...)
		for i, s := range w.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonscan.AppendString(b, s)
		}
		b = append(b, ']')
	}
	if w.Seed != nil {
		b = strconv.AppendInt(append(b, `,"seed":`...), *w.Seed, 10)
	}
	b = appendOptInt(b, `,"n":`, w.N)
	b = appendOptString(b, `,"reasoning_effort":`, w.ReasoningEffort)
	b = appendOptString(b, `,"user":`, w.User)
	b = strconv.AppendBool(append(b, `,"stream":`...), w.Stream)
	if w.StreamOptions != nil {
		b = strconv.AppendBool(append(b, `,"stream_options":{"include_usage":`...), w.StreamOptions.IncludeUsage)
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// appendPlainMessages appends messages whose content is a string (or
// null) and that carry no tool calls.
func appendPlainMessages(b []byte, ms []chatMessage) ([]byte, bool) {
	if ms == nil {
		return append(b, "null"...), true
	}
	b = append(b, '[')
	for i := range ms {
		m := &ms[i]
		if len(m.ToolCalls) > 0 {
			return b, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = jsonscan.AppendString(b, m.Role)
		b = append(b, `,"content":`...)
		switch c := m.Content.(type) {
		case nil:
			b = append(b, "null"...)
		case *string:
			if c == nil {
				b = append(b, "null"...)
			} else {
				b = jsonscan.AppendString(b, *c)
			}
		default: // image parts
			return b, false
		}
		b = appendOptString(b, `,"tool_call_id":`, m.ToolCallID)
		b = append(b, '}')
	}
	return append(b, ']'), true
}

func appendOptInt(b []byte, key string, v int) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), int64(v), 10)
}

func appendOptString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return jsonscan.AppendString(append(b, key...), v)
}

// plainRequestCap is a buffer size that holds w's body in the common case
// (escapes aside) in one allocation.
func plainRequestCap(w *chatRequest) int {
	n := 256 + len(w.Model) + len(w.User)
	for i := range w.Messages {
		n += 48 + len(w.Messages[i].ToolCallID)
		if c, ok := w.Messages[i].Content.(*string); ok && c != nil {
			n += len(*c) + len(*c)/16
		}
	}
	for _, s := range w.Stop {
		n += len(s) + 4
	}
	return n
}
