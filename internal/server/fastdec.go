package server

import (
	"strconv"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
)

// fastOARequest decodes the common /v1/chat/completions body — model,
// messages of role and content, the sampling and limit fields — without
// reflection, into r (which must be zero), and reports whether it could.
// Everything else (tools, stop, response_format, seed, tool calls,
// escaped names, duplicate or case-folded keys, numbers encoding/json
// would refuse) is left to unmarshalObject, which stays the reference:
// FuzzFastOARequest checks both agree on every body the fast path takes.
// body must be valid JSON (readBody checked it). The message contents
// share body's memory.
func fastOARequest(body []byte, r *oaRequest) bool {
	p := bodyScanner{Scanner: jsonscan.New(string(body)), body: body}
	p.WS()
	ok := p.Object(func(key string) (int, bool) {
		switch key {
		case "model":
			return 0, p.Str(&r.Model)
		case "messages":
			return 1, p.messages(&r.Messages)
		case "max_tokens":
			return 2, p.intPtr(&r.MaxTokens)
		case "max_completion_tokens":
			return 3, p.intPtr(&r.MaxCompletionTokens)
		case "temperature":
			return 4, p.floatPtr(&r.Temperature)
		case "top_p":
			return 5, p.floatPtr(&r.TopP)
		case "n":
			return 6, p.intPtr(&r.N)
		case "user":
			return 7, p.Str(&r.User)
		case "stream":
			return 8, p.Bool(&r.Stream)
		case "stream_options":
			return 9, p.streamOptions(r)
		case "presence_penalty":
			return 10, p.floatPtr(&r.PresencePenalty)
		case "frequency_penalty":
			return 11, p.floatPtr(&r.FrequencyPenalty)
		case "logprobs":
			return 12, p.boolPtr(&r.Logprobs)
		case "parallel_tool_calls":
			return 13, p.boolPtr(&r.ParallelToolCalls)
		case "reasoning_effort":
			return 14, p.Str(&r.ReasoningEffort)
		case "provider":
			return 15, p.Str(&r.Provider)
		}
		return jsonscan.NoField, p.Other(key, oaRequestKeys...)
	})
	return ok && p.AtEnd()
}

// oaRequestKeys are every field of oaRequest: one the fast path does not
// read (tools, stop...) sends the body to encoding/json, and so does a
// key encoding/json would match case-insensitively.
var oaRequestKeys = []string{"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
	"stop", "seed", "user", "response_format", "tools", "tool_choice", "stream", "stream_options", "presence_penalty",
	"frequency_penalty", "logprobs", "top_logprobs", "logit_bias", "parallel_tool_calls", "reasoning_effort", "provider"}

// bodyScanner is jsonscan's reader over body with the requests' readers.
type bodyScanner struct {
	jsonscan.Scanner
	body []byte
}

func (p *bodyScanner) messages(out *[]oaMessage) bool {
	if p.Null() {
		*out = nil
		return true
	}
	*out = []oaMessage{}
	return p.Array(func() bool {
		var m oaMessage
		if !p.message(&m) {
			return false
		}
		*out = append(*out, m)
		return true
	})
}

func (p *bodyScanner) message(m *oaMessage) bool {
	return p.Object(func(key string) (int, bool) {
		switch key {
		case "role":
			return 0, p.Str(&m.Role)
		case "content":
			start := p.Pos()
			if !p.Skip() {
				return 1, false
			}
			m.Content = p.body[start:p.Pos():p.Pos()]
			return 1, true
		case "name":
			return 2, p.Str(&m.Name)
		case "tool_call_id":
			return 3, p.Str(&m.ToolCallID)
		}
		return jsonscan.NoField, p.Other(key, "role", "content", "name", "tool_calls", "tool_call_id")
	})
}

func (p *bodyScanner) streamOptions(r *oaRequest) bool {
	if p.Null() {
		r.StreamOptions = nil
		return true
	}
	r.StreamOptions = &struct {
		IncludeUsage bool `json:"include_usage"`
	}{}
	return p.Object(func(key string) (int, bool) {
		if key == "include_usage" {
			return 0, p.Bool(&r.StreamOptions.IncludeUsage)
		}
		return jsonscan.NoField, p.Other(key, "include_usage")
	})
}

// intPtr reads an integer into a new *out; null sets *out to nil.
func (p *bodyScanner) intPtr(out **int) bool {
	if p.Null() {
		*out = nil
		return true
	}
	n := new(int)
	*out = n
	return p.Int(n)
}

// floatPtr reads a number into a new *out as encoding/json does
// (strconv.ParseFloat); null sets *out to nil.
func (p *bodyScanner) floatPtr(out **float64) bool {
	if p.Null() {
		*out = nil
		return true
	}
	s, ok := p.Number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	*out = &f
	return err == nil
}

// boolPtr reads true or false into a new *out; null sets *out to nil.
func (p *bodyScanner) boolPtr(out **bool) bool {
	if p.Null() {
		*out = nil
		return true
	}
	b := new(bool)
	*out = b
	return p.Bool(b)
}

// strPtr reads a string into a new *out; null sets *out to nil.
func (p *bodyScanner) strPtr(out **string) bool {
	if p.Null() {
		*out = nil
		return true
	}
	v, ok := p.PlainString()
	*out = &v
	return ok
}

// fastChatRequest is fastOARequest for a /chat body: plain (unescaped)
// strings, integer max_tokens; anything else goes to json.Unmarshal
// (FuzzFastChatRequest).
func fastChatRequest(body []byte, r *ChatRequest) bool {
	p := bodyScanner{Scanner: jsonscan.New(string(body)), body: body}
	p.WS()
	ok := p.Object(func(key string) (int, bool) {
		switch key {
		case "prompt":
			return 0, p.strPtr(&r.Prompt)
		case "context":
			return 1, p.strPtr(&r.Context)
		case "max_tokens":
			return 2, p.intPtr(&r.MaxTokens)
		case "temperature":
			return 3, p.floatPtr(&r.Temperature)
		case "stream":
			return 4, p.boolPtr(&r.Stream)
		case "model":
			return 5, p.strPtr(&r.Model)
		case "provider":
			return 6, p.strPtr(&r.Provider)
		}
		return jsonscan.NoField, p.Other(key, "prompt", "context", "max_tokens", "temperature", "stream", "model", "provider")
	})
	return ok && p.AtEnd()
}
