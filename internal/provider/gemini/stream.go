package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

// decoder turns the data of streamed events into llm chunks. Text and
// function-call parts become content chunks as they come, each with the
// usage reported so far (cumulative, so the last snapshot wins); the
// finish reason and the final usage are held until the stream ends, then
// checked and reported in one final chunk.
type decoder struct {
	model  string // modelVersion once seen, else the requested model
	errs   errorMapper
	finish string         // Gemini's finishReason; "" until seen
	usage  *usageMetadata // the last snapshot (&snap), nil until seen
	snap   usageMetadata
	text   bool // an answer text part was seen
	calls  int  // function calls seen
	// others are candidates 1.. of a candidateCount > 1 request.
	others candidates
	// strs holds own's copies.
	strs upstream.Strings
	// r is what each event is decoded into, its storage reused
	// (generateResponse.reuse).
	r generateResponse
	// usages hands out the chunks' usage (usageSlab.of).
	usages usageSlab
}

func newDecoder(model string, errs errorMapper) *decoder {
	return &decoder{model: modelID(model), errs: errs}
}

// decode reads one event. The chunk has content only when the event
// carried answer text, function calls or thought summaries (Thinking).
// borrowed says data is memory that is reused after decode returns (an
// sse.ReadRaw event): the strings kept or yielded are copied first.
func (d *decoder) decode(data string, borrowed bool) (llm.Chunk, error) {
	r := &d.r
	r.reuse()
	if err := decodeResponse(data, r); err != nil {
		return llm.Chunk{}, upstreamError("malformed stream chunk", fmt.Errorf("decode chunk: %w", err))
	}
	if borrowed {
		d.own(r)
	}
	if r.Error != nil {
		return llm.Chunk{}, d.errs.fromStatus(r.Error.Code, nil, r.Error)
	}
	if r.ModelVersion != "" {
		d.model = r.ModelVersion
	}
	if r.UsageMetadata != nil {
		d.snap = *r.UsageMetadata // r's is reused by the next event
		d.usage = &d.snap
	}
	if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
		return llm.Chunk{}, llm.Errorf(llm.KindBlocked, ProviderName,
			"the prompt was blocked by Gemini's safety filter (blockReason %s)", r.PromptFeedback.BlockReason)
	}
	c := d.chunk()
	if r.UsageMetadata != nil {
		// Cumulative: a caller that stops here is billed what was spent.
		c.Usage = d.usages.of(r.UsageMetadata.normalise())
	}
	for _, cand := range r.Candidates {
		if cand.Index != 0 {
			d.others.add(d, cand)
			continue
		}
		if cand.FinishReason != "" {
			d.finish = cand.FinishReason
		}
		if cand.Content != nil {
			d.addParts(&c, cand.Content.Parts)
		}
	}
	return c, nil
}

// own replaces the strings of r that may be substrings of the event's
// data (fastResponse's are: the model version, the response id, finish
// reasons, roles and part texts; json.Unmarshal's, and so whatever only
// it reads, are copies already) by copies of their own.
func (d *decoder) own(r *generateResponse) {
	r.ModelVersion = d.strs.CloneOr(r.ModelVersion, d.model)
	r.ResponseID = "" // read by nothing
	for i := range r.Candidates {
		c := &r.Candidates[i]
		c.FinishReason = d.strs.Clone(c.FinishReason)
		if c.Content == nil {
			continue
		}
		c.Content.Role = d.strs.CloneOr(c.Content.Role, "model")
		for j := range c.Content.Parts {
			c.Content.Parts[j].Text = d.strs.Clone(c.Content.Parts[j].Text)
		}
	}
}

func (d *decoder) addParts(c *llm.Chunk, parts []part) {
	for _, p := range parts {
		switch {
		case p.Thought:
			// A thought summary is never answer text; it is shown as
			// thinking (asked for only when the caller asked to think).
			c.Thinking += p.Text
		case p.FunctionCall != nil:
			c.ToolCalls = append(c.ToolCalls, d.toolCall(p.FunctionCall))
		case p.Text != "":
			c.Delta += p.Text
			d.text = true
		}
	}
}

// toolCall names the call with Gemini's id when it sends one; the
// Gemini API usually does not, so the adapter numbers the calls of the
// answer. The ids are only for matching results to calls: Gemini itself
// matches function responses by name and order.
func (d *decoder) toolCall(fc *functionCall) llm.ToolCall {
	id := fc.ID
	if id == "" {
		id = "call_" + strconv.Itoa(d.calls)
	}
	d.calls++
	// generateContent bodies are indented: compact the arguments so a
	// call reads the same streamed or not.
	args := string(fc.Args)
	var b bytes.Buffer
	if json.Compact(&b, fc.Args) == nil {
		args = b.String()
	}
	if args == "" || args == "null" {
		args = "{}"
	}
	return llm.ToolCall{ID: id, Name: fc.Name, Arguments: args}
}

func (d *decoder) chunk() llm.Chunk { return llm.Chunk{Model: d.model, Provider: ProviderName} }

// done reports whether the stream has reported its finish reason.
func (d *decoder) done() bool { return d.finish != "" }

// end is called when the body has ended. It returns the final chunk, or
// the error that an empty, blocked or cut answer is.
func (d *decoder) end() (llm.Chunk, error) {
	if d.finish == "" {
		return llm.Chunk{}, upstreamError("stream ended before finish", nil)
	}
	reason := mapFinish(d.finish, d.calls > 0)
	if !d.text && d.calls == 0 {
		return llm.Chunk{}, d.emptyError(reason)
	}
	c := d.chunk()
	c.FinishReason = reason
	if d.usage != nil {
		c.Usage = d.usages.of(d.usage.normalise())
	}
	return c, nil
}

// usageSlab hands out the *llm.Usage of a stream's chunks. Gemini repeats
// a usage snapshot on every event: an unchanged one gets the pointer the
// last chunk got, a changed one a fresh slot of a block (blocks of 1, 2,
// 4 … usageBlock slots: a one-chunk answer allocates one Usage, a long
// stream one block per usageBlock changes instead of one Usage per event).
// Every pointer handed out is never written again: a consumer may keep
// it (as llm.Chunk.Usage always allowed).
type usageSlab struct {
	last  *llm.Usage
	block []llm.Usage
	size  int // of the last block
}

const usageBlock = 16

func (s *usageSlab) of(u llm.Usage) *llm.Usage {
	if s.last != nil && *s.last == u {
		return s.last
	}
	if len(s.block) == 0 {
		s.size = min(max(2*s.size, 1), usageBlock)
		s.block = make([]llm.Usage, s.size)
	}
	s.block[0] = u
	s.last = &s.block[0]
	s.block = s.block[1:]
	return s.last
}

func (d *decoder) emptyError(reason string) error {
	var thoughts int
	if d.usage != nil {
		thoughts = d.usage.ThoughtsTokenCount
	}
	switch {
	case reason == llm.FinishContentFilter:
		return llm.Errorf(llm.KindBlocked, ProviderName,
			"the answer was blocked by Gemini's safety filter (finishReason %s)", d.finish)
	case d.finish == "MAX_TOKENS":
		return llm.Errorf(llm.KindEmpty, ProviderName,
			"empty answer: the model reached max tokens before writing any text (finishReason MAX_TOKENS, thoughtsTokenCount %d); raise max_tokens, or lower the thinking budget (0 turns thinking off)", thoughts)
	}
	return llm.Errorf(llm.KindEmpty, ProviderName, "empty answer (finishReason %s, thoughtsTokenCount %d)", d.finish, thoughts)
}

// mapFinish normalises Gemini's finishReason. A turn that called
// functions ends with STOP; it is reported as tool_calls.
func mapFinish(reason string, calls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return llm.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY":
		return llm.FinishContentFilter
	}
	if calls {
		return llm.FinishToolCalls
	}
	return llm.FinishStop
}

// normalise maps usageMetadata to llm.Usage: thoughts are output tokens
// (billed at the output rate), cached tokens are part of the prompt.
func (u *usageMetadata) normalise() llm.Usage {
	return llm.Usage{
		InputTokens:        u.PromptTokenCount,
		OutputTokens:       u.CandidatesTokenCount + u.ThoughtsTokenCount,
		ThinkingTokens:     u.ThoughtsTokenCount,
		CachedInputTokens:  u.CachedContentTokenCount,
		ToolUseInputTokens: u.ToolUsePromptTokenCount,
		TotalTokens:        u.TotalTokenCount,
	}
}
