package anthropic

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// decodeStream reads the named SSE events of a streaming call: text
// deltas are yielded as they come, the rest is gathered and yielded in
// one final chunk at message_stop.
func (c *Client) decodeStream(ctx context.Context, body io.Reader, yield func(llm.Chunk, error) bool) {
	var st streamState
	// One event for the stream, cleared per event (a new one per event
	// was an allocation each: json.Unmarshal's target escapes). What st
	// keeps is copied out of it, and json.Unmarshal copies what it keeps:
	// the raw event data need not be.
	var ev event
	for sev, err := range sse.ReadRaw(body) {
		if err != nil {
			if errors.Is(err, sse.ErrTooLarge) {
				err = upstream.BadAnswer(providerName, err.Error(), err)
			} else {
				err = upstream.TransportError(ctx, providerName, upstream.OpRead, err)
			}
			yield(llm.Chunk{}, err)
			return
		}
		ev = event{}
		if err := json.Unmarshal(sev.Data, &ev); err != nil {
			yield(llm.Chunk{}, upstream.BadAnswer(providerName, "malformed stream event", err))
			return
		}
		if ev.Type == "" {
			ev.Type = sev.Type
		}
		switch ev.Type {
		case "error":
			if ev.Error == nil {
				ev.Error = &apiError{}
			}
			yield(llm.Chunk{}, c.apiError(0, ev.Error, nil))
			return
		case "message_stop":
			if yield(st.final(), nil) {
				upstream.DrainEnd(body)
			}
			return
		}
		if c := st.add(&ev); c.HasContent() {
			c.Provider = providerName
			if !yield(c, nil) {
				return
			}
		}
	}
	if ctx.Err() != nil {
		yield(llm.Chunk{}, upstream.TransportError(ctx, providerName, upstream.OpRead, ctx.Err()))
		return
	}
	yield(llm.Chunk{}, upstream.BadAnswer(providerName, "stream ended without message_stop", io.ErrUnexpectedEOF))
}

type streamState struct {
	model string
	usage llm.Usage
	// input, cache reads and cache writes, kept apart until the end.
	input, cacheRead, cacheWrite int
	stop, stopSequence           string
	tools                        map[int]*toolBuilder
	order                        []int

	// cacheWrite5m and cacheWrite1h split cacheWrite by TTL when the
	// answer says (usage.cache_creation).
	cacheWrite5m, cacheWrite1h int
}

type toolBuilder struct {
	id, name string
	input    json.RawMessage // from content_block_start
	partial  []byte          // input_json_delta fragments
}

// add folds one event in and returns its text or thinking, if any.
// Unknown events and block types (citations, redacted thinking) are
// ignored, as the API allows.
func (s *streamState) add(ev *event) llm.Chunk {
	var c llm.Chunk
	c.Delta, c.Thinking, c.ThinkingSignature = s.addText(ev)
	return c
}

func (s *streamState) addText(ev *event) (text, thinking, signature string) {
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			s.model = ev.Message.Model
			s.addUsage(ev.Message.Usage)
		}
	case "content_block_start":
		cb := ev.ContentBlock
		if cb == nil {
			return "", "", ""
		}
		switch cb.Type {
		case "text":
			return cb.Text, "", ""
		case "thinking":
			return "", cb.Thinking, cb.Signature
		case "tool_use":
			if s.tools == nil {
				s.tools = map[int]*toolBuilder{}
			}
			s.tools[ev.Index] = &toolBuilder{id: cb.ID, name: cb.Name, input: cb.Input}
			s.order = append(s.order, ev.Index)
		}
	case "content_block_delta":
		if ev.Delta == nil {
			return "", "", ""
		}
		switch ev.Delta.Type {
		case "text_delta":
			return ev.Delta.Text, "", ""
		case "thinking_delta":
			return "", ev.Delta.Thinking, ""
		case "signature_delta":
			return "", "", ev.Delta.Signature
		case "input_json_delta":
			if b := s.tools[ev.Index]; b != nil {
				b.partial = append(b.partial, ev.Delta.PartialJSON...)
			}
		}
	case "message_delta":
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			s.stop = ev.Delta.StopReason
			if ev.Delta.StopSequence != nil {
				s.stopSequence = *ev.Delta.StopSequence
			}
		}
		s.addUsage(ev.Usage)
	}
	return "", "", ""
}

// addUsage takes the counts present in u; message_delta counts are
// cumulative, so a later value replaces an earlier one.
func (s *streamState) addUsage(u *usage) {
	if u == nil {
		return
	}
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	set(&s.input, u.InputTokens)
	set(&s.cacheRead, u.CacheReadTokens)
	set(&s.cacheWrite, u.CacheCreationTokens)
	if cc := u.CacheCreation; cc != nil {
		set(&s.cacheWrite5m, cc.Ephemeral5m)
		set(&s.cacheWrite1h, cc.Ephemeral1h)
	}
	set(&s.usage.OutputTokens, u.OutputTokens)
	if u.OutputTokensDetails != nil {
		s.usage.ThinkingTokens = u.OutputTokensDetails.ThinkingTokens
	}
}

func (s *streamState) final() llm.Chunk {
	u := s.usage
	u.CacheWrite1hTokens = max(s.cacheWrite1h, 0)
	u.CacheWriteTokens = max(s.cacheWrite5m, s.cacheWrite-u.CacheWrite1hTokens, 0)
	u.InputTokens = s.input + s.cacheRead + u.CacheWriteTokens + u.CacheWrite1hTokens
	u.CachedInputTokens = s.cacheRead
	u.TotalTokens = u.InputTokens + u.OutputTokens
	out := llm.Chunk{FinishReason: mapStop(s.stop), Usage: &u, Model: s.model, Provider: providerName}
	if s.stop == "stop_sequence" {
		out.StopSequence = s.stopSequence
	}
	for _, i := range s.order {
		b := s.tools[i]
		args := string(b.partial)
		if args == "" {
			args = string(b.input)
		}
		if args == "" || args == "null" {
			args = "{}"
		}
		out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: b.id, Name: b.name, Arguments: args})
	}
	return out
}

func mapStop(r string) string {
	switch r {
	case "end_turn", "stop_sequence", "pause_turn":
		return llm.FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "tool_use":
		return llm.FinishToolCalls
	case "refusal":
		return llm.FinishContentFilter
	}
	return r
}

// maxMessage bounds a non-stream body (upstream.MaxBody).
const maxMessage = upstream.MaxBody

// messageAnswer is the non-stream answer of POST /v1/messages (wire.md §5.2).
type messageAnswer struct {
	Type       string            `json:"type"`
	Model      string            `json:"model"`
	Content    []json.RawMessage `json:"content"`
	StopReason string            `json:"stop_reason"`
	// StopSequence is the stop sequence that ended the answer, or null.
	StopSequence *string   `json:"stop_sequence"`
	Usage        *usage    `json:"usage"`
	Error        *apiError `json:"error"`
}

// decodeMessage reads the one message of a "stream": false call and
// folds it into the stream's state as the events that stream it would:
// message_start, one content_block_start per block (the block whole),
// message_delta. So text, tool calls, stop reason and usage map exactly
// as in the stream; the text is yielded as one chunk, then the final one.
func (c *Client) decodeMessage(ctx context.Context, body io.Reader, yield func(llm.Chunk, error) bool) {
	raw, err := io.ReadAll(io.LimitReader(body, maxMessage+1))
	if err != nil {
		yield(llm.Chunk{}, upstream.TransportError(ctx, providerName, upstream.OpRead, err))
		return
	}
	if len(raw) > maxMessage {
		yield(llm.Chunk{}, upstream.BadAnswer(providerName, "answer too large", nil))
		return
	}
	var m messageAnswer
	if err := json.Unmarshal(raw, &m); err != nil {
		yield(llm.Chunk{}, upstream.BadAnswer(providerName, "malformed message", err))
		return
	}
	if m.Error != nil || m.Type == "error" {
		if m.Error == nil {
			m.Error = &apiError{}
		}
		yield(llm.Chunk{}, c.apiError(0, m.Error, nil))
		return
	}
	var st streamState
	start := event{Type: "message_start"}
	start.Message = &struct {
		Model string `json:"model"`
		Usage *usage `json:"usage"`
	}{Model: m.Model, Usage: m.Usage}
	st.add(&start)
	var text, thought strings.Builder
	var signature string
	for i, b := range m.Content {
		ev := event{Type: "content_block_start", Index: i}
		if err := json.Unmarshal([]byte(`{"content_block":`+string(b)+`}`), &ev); err != nil {
			yield(llm.Chunk{}, upstream.BadAnswer(providerName, "malformed content block", err))
			return
		}
		part := st.add(&ev)
		text.WriteString(part.Delta)
		thought.WriteString(part.Thinking)
		signature = cmp.Or(part.ThinkingSignature, signature)
	}
	st.stop = m.StopReason
	if m.StopSequence != nil {
		st.stopSequence = *m.StopSequence
	}
	answer := llm.Chunk{Delta: text.String(), Thinking: thought.String(), ThinkingSignature: signature, Provider: providerName}
	if answer.HasContent() && !yield(answer, nil) {
		return
	}
	yield(st.final(), nil)
}
