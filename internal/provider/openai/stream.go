package openai

import (
	"context"
	"errors"
	"io"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// decodeStream reads the data-only SSE body of a streaming call and yields
// text deltas, then one final chunk at "data: [DONE]".
func (c *Client) decodeStream(ctx context.Context, body io.Reader, yield func(llm.Chunk, error) bool) {
	var st streamState
	// One chunk for the whole stream, its choices' array reused: a chunk
	// per event and its choices were two of the three allocations of a
	// text delta.
	var ch chunk
	sh := newShape()
	for ev, err := range sse.ReadRaw(body) {
		if err != nil {
			if errors.Is(err, sse.ErrTooLarge) {
				err = upstream.BadAnswer(c.name, err.Error(), err)
			} else {
				err = upstream.TransportError(ctx, c.name, upstream.OpRead, err)
			}
			yield(llm.Chunk{}, err)
			return
		}
		if string(ev.Data) == "[DONE]" {
			if st.yieldFinal(c.name, yield) {
				upstream.DrainEnd(body)
			}
			return
		}
		ch = chunk{Choices: ch.Choices[:0]}
		// The event's data is ReadRaw's buffer: decoded in place, then
		// the strings that outlive this turn are copied (own).
		if err := sh.decode(ev.Data, &ch); err != nil {
			yield(llm.Chunk{}, upstream.BadAnswer(c.name, "malformed stream chunk", err))
			return
		}
		st.own(&ch)
		if ch.Error != nil {
			yield(llm.Chunk{}, c.apiError(0, ch.Error, nil))
			return
		}
		if d := st.add(&ch); d != "" {
			if !yield(llm.Chunk{Delta: d, Provider: c.name}, nil) {
				return
			}
		}
		if !st.flush(yield) {
			return
		}
	}
	if ctx.Err() != nil {
		yield(llm.Chunk{}, upstream.TransportError(ctx, c.name, upstream.OpRead, ctx.Err()))
		return
	}
	yield(llm.Chunk{}, upstream.BadAnswer(c.name, "stream ended without [DONE]", io.ErrUnexpectedEOF))
}

// own replaces the strings of ch that may be substrings of the event's
// data (fastChunk's are) by copies, before anything keeps or yields
// them: the data is ReadRaw's buffer, reused for the next event. A model
// name equal to the one already held is that string; finish reasons
// are OpenAI's constants where they are one.
func (s *streamState) own(ch *chunk) {
	ch.Model = s.strs.CloneOr(ch.Model, s.model)
	for i := range ch.Choices {
		cc := &ch.Choices[i]
		cc.Delta.Content = s.strs.Clone(cc.Delta.Content)
		cc.Delta.Refusal = s.strs.Clone(cc.Delta.Refusal)
		cc.FinishReason = s.strs.CloneOr(cc.FinishReason, "stop", "length", "tool_calls", "content_filter", "function_call")
	}
}

// maxCompletion bounds a non-stream body.
const maxCompletion = upstream.MaxBody

// decodeCompletion reads a whole chat.completion of size bytes (-1:
// unknown), the answer to a collected request or sent by compatible
// servers that ignore "stream": true, and yields it as a stream would.
func (c *Client) decodeCompletion(ctx context.Context, body io.Reader, size int64, yield func(llm.Chunk, error) bool) {
	raw, err := upstream.ReadSizedString(io.LimitReader(body, maxCompletion), size)
	if err != nil {
		yield(llm.Chunk{}, upstream.TransportError(ctx, c.name, upstream.OpRead, err))
		return
	}
	var ch chunk
	if err := decodeChunk(raw, &ch); err != nil {
		yield(llm.Chunk{}, upstream.BadAnswer(c.name, "malformed completion", err))
		return
	}
	if ch.Error != nil {
		yield(llm.Chunk{}, c.apiError(0, ch.Error, nil))
		return
	}
	for i := range ch.Choices {
		if m := ch.Choices[i].Message; m != nil {
			ch.Choices[i].Delta = *m
		}
	}
	var st streamState
	if d := st.add(&ch); d != "" {
		if !yield(llm.Chunk{Delta: d, Provider: c.name}, nil) {
			return
		}
	}
	if st.flush(yield) {
		st.yieldFinal(c.name, yield)
	}
}

// streamState gathers what arrives across chunks: tool-call fragments by
// index, the finish reason, the usage and the model.
type streamState struct {
	model   string
	finish  string
	refused bool
	usage   *llm.Usage
	calls   []callBuilder
	// others are choices 1.. of an n > 1 request (candidates.go).
	others  []streamState
	pending []llm.Chunk
	// strs holds the copies own makes.
	strs upstream.Strings
}

type callBuilder struct {
	id, name string
	args     []byte
}

// add folds one chunk in and returns choice 0's text delta; the deltas
// of further choices (n > 1) wait in pending.
func (s *streamState) add(ch *chunk) string {
	if ch.Model != "" {
		s.model = ch.Model
	}
	if ch.Usage != nil {
		s.usage = convertUsage(ch.Usage)
	}
	var text string
	for i := range ch.Choices {
		cc := &ch.Choices[i]
		if cc.Index != 0 {
			s.addOther(cc)
			continue
		}
		text += s.addChoice(cc)
	}
	return text
}

// addChoice folds one choice's delta in and returns its text.
func (s *streamState) addChoice(cc *chunkChoice) string {
	text := cc.Delta.Content
	if cc.Delta.Refusal != "" {
		text += cc.Delta.Refusal
		s.refused = true
	}
	for j := range cc.Delta.ToolCalls {
		s.addCall(&cc.Delta.ToolCalls[j])
	}
	if cc.FinishReason != "" {
		s.finish = cc.FinishReason
	}
	return text
}

func (s *streamState) addCall(tc *toolCall) {
	i := len(s.calls) - 1
	switch {
	case tc.Index != nil:
		i = *tc.Index
	case tc.ID != "" || i < 0:
		i = len(s.calls) // servers that send no index: an id starts a call
	}
	if i < 0 || i > 1<<10 {
		return
	}
	for len(s.calls) <= i {
		s.calls = append(s.calls, callBuilder{})
	}
	b := &s.calls[i]
	if b.id == "" {
		b.id = tc.ID
	}
	if b.name == "" {
		b.name = tc.Function.Name
	}
	b.args = append(b.args, tc.Function.Arguments...)
}

// final is the last chunk: complete tool calls, finish reason, usage.
func (s *streamState) final(provider string) llm.Chunk {
	out := llm.Chunk{Usage: s.usage, Model: s.model, Provider: provider, FinishReason: mapFinish(s.finish)}
	for i := range s.calls {
		b := &s.calls[i]
		if b.name == "" && len(b.args) == 0 {
			continue
		}
		args := string(b.args)
		if args == "" {
			args = "{}"
		}
		out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: b.id, Name: b.name, Arguments: args})
	}
	switch {
	case len(out.ToolCalls) > 0 && out.FinishReason == llm.FinishStop:
		out.FinishReason = llm.FinishToolCalls // some compatible servers say "stop"
	case s.refused && out.FinishReason == llm.FinishStop:
		out.FinishReason = llm.FinishContentFilter
	}
	return out
}

func mapFinish(r string) string {
	switch r {
	case "function_call":
		return llm.FinishToolCalls
	case "eos", "eos_token": // a few compatible servers
		return llm.FinishStop
	}
	return r // stop, length, tool_calls, content_filter, or unknown as sent
}

func convertUsage(u *usage) *llm.Usage {
	out := &llm.Usage{
		InputTokens:  u.PromptTokens,
		OutputTokens: u.CompletionTokens, // already includes reasoning
		TotalTokens:  u.TotalTokens,
	}
	if u.PromptTokensDetails != nil {
		out.CachedInputTokens = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		out.ThinkingTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}
