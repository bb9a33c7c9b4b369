package openai

import (
	"encoding/json"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
)

// decodeChunk decodes one chat.completion.chunk (or an in-band error
// event). Almost every chunk of a stream has the same small shape — the
// role chunk, text deltas, the finish chunk, the usage chunk — and
// decoding those with encoding/json was a tenth of the service's CPU on
// /v1/chat/completions. fastChunk reads that shape without reflection,
// and the one chat.completion of a "stream": false call too; whatever it
// does not handle exactly as encoding/json does (tool calls, errors,
// escaped or invalid UTF-8 strings, duplicate or case-folded keys,
// numbers that are not plain integers, bad syntax) it leaves to
// json.Unmarshal, which stays the reference: FuzzFastChunk
// checks that both agree on every input the fast path accepts.
func decodeChunk(data string, ch *chunk) error {
	if fastChunk(data, ch) {
		return nil
	}
	return slowChunk([]byte(data), ch)
}

// slowChunk is decodeChunk's json.Unmarshal, for a chunk fastChunk left
// (garbage) in ch.
func slowChunk(data []byte, ch *chunk) error {
	*ch = chunk{}
	return json.Unmarshal(data, ch)
}

// fastChunk decodes data into ch (which must be zero but for Choices,
// which may be an empty slice whose array is reused) and reports whether
// it could; on false ch holds garbage. A reused empty Choices stands
// where encoding/json leaves nil (no "choices" key): the same to every
// reader of a chunk, which ranges over it.
func fastChunk(data string, ch *chunk) bool {
	p := scanner{jsonscan.New(data)}
	p.WS()
	ok := p.Object(func(key string) (int, bool) {
		switch key {
		case "model":
			return 0, p.Str(&ch.Model)
		case "choices":
			return 1, p.choices(&ch.Choices)
		case "usage":
			return 2, p.usage(&ch.Usage)
		case "error":
			return 3, p.Null() // an error event: json.Unmarshal reads it
		}
		return jsonscan.NoField, p.Other(key, "model", "choices", "usage", "error")
	})
	return ok && p.AtEnd()
}

func (p *scanner) choices(out *[]chunkChoice) bool {
	if p.Null() {
		*out = nil
		return true
	}
	if !p.Byte('[') {
		return false
	}
	*out = (*out)[:0]
	p.WS()
	if p.Byte(']') {
		if *out == nil {
			*out = []chunkChoice{}
		}
		return true
	}
	for {
		p.WS()
		var c chunkChoice
		if !p.choice(&c) {
			return false
		}
		*out = append(*out, c)
		p.WS()
		if p.Byte(',') {
			continue
		}
		return p.Byte(']')
	}
}

func (p *scanner) choice(c *chunkChoice) bool {
	return p.Object(func(key string) (int, bool) {
		switch key {
		case "index":
			return 0, p.Int(&c.Index)
		case "delta":
			return 1, p.delta(&c.Delta)
		case "finish_reason":
			return 2, p.Str(&c.FinishReason)
		case "message": // a whole completion ("stream": false)
			if p.Null() {
				c.Message = nil
				return 3, true
			}
			c.Message = &delta{}
			return 3, p.delta(c.Message)
		}
		return jsonscan.NoField, p.Other(key, "index", "delta", "finish_reason", "message")
	})
}

func (p *scanner) delta(d *delta) bool {
	if p.Null() {
		return true // null into a struct changes nothing
	}
	return p.Object(func(key string) (int, bool) {
		switch key {
		case "content":
			return 0, p.Str(&d.Content)
		case "refusal":
			return 1, p.Str(&d.Refusal)
		case "tool_calls":
			return 2, p.Null() // tool calls: json.Unmarshal reads them
		}
		return jsonscan.NoField, p.Other(key, "content", "refusal", "tool_calls")
	})
}

func (p *scanner) usage(out **usage) bool {
	if p.Null() {
		*out = nil
		return true
	}
	u := &usage{}
	*out = u
	return p.Object(func(key string) (int, bool) {
		switch key {
		case "prompt_tokens":
			return 0, p.Int(&u.PromptTokens)
		case "completion_tokens":
			return 1, p.Int(&u.CompletionTokens)
		case "total_tokens":
			return 2, p.Int(&u.TotalTokens)
		case "prompt_tokens_details":
			if p.Null() {
				u.PromptTokensDetails = nil
				return 3, true
			}
			u.PromptTokensDetails = &struct {
				CachedTokens int `json:"cached_tokens"`
			}{}
			return 3, p.details("cached_tokens", &u.PromptTokensDetails.CachedTokens)
		case "completion_tokens_details":
			if p.Null() {
				u.CompletionTokensDetails = nil
				return 4, true
			}
			u.CompletionTokensDetails = &struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			}{}
			return 4, p.details("reasoning_tokens", &u.CompletionTokensDetails.ReasoningTokens)
		}
		return jsonscan.NoField, p.Other(key, "prompt_tokens", "completion_tokens", "total_tokens",
			"prompt_tokens_details", "completion_tokens_details")
	})
}

// details reads an object with one integer field we keep.
func (p *scanner) details(name string, n *int) bool {
	return p.Object(func(key string) (int, bool) {
		if key == name {
			return 0, p.Int(n)
		}
		return jsonscan.NoField, p.Other(key, name)
	})
}

// scanner is jsonscan's reader with the chunk's own readers.
type scanner struct{ jsonscan.Scanner }
