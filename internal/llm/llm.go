// Package llm is the gateway's vocabulary: requests, streamed chunks,
// responses, token usage, the Provider contract and classified errors.
// It imports only the standard library; every other package speaks it.
package llm

import (
	"context"
	"encoding/json"
	"iter"
)

// Role is the author of a message.
type Role string

// The roles a conversation may contain. System text travels in
// Request.System; developer messages are folded into it by the API layer.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one turn of a conversation.
type Message struct {
	Role    Role
	Content string
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall
	// ToolCallID and Name identify the call a tool turn answers.
	ToolCallID string
	Name       string
	// Images are image inputs of a user turn, after Content.
	Images []Image
	// Thinking and ThinkingSignature are the reasoning an assistant turn
	// showed and the signature that closed it (Anthropic thinking
	// blocks), sent back so that a backend that requires them with tool
	// use (Anthropic with thinking on) gets them; others ignore them.
	Thinking          string
	ThinkingSignature string
}

// Image is one image input: inline bytes (Data with MIMEType) or, when
// the API layer did not fetch it, a URL a provider may fetch itself.
type Image struct {
	MIMEType string
	Data     []byte
	URL      string
}

// Schema asks for a structured answer: a JSON value that validates
// against Schema (a JSON Schema object).
type Schema struct {
	Name   string
	Schema json.RawMessage
	Strict bool
}

// ToolCall is one complete function call requested by the model.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // a JSON object
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage // JSON Schema of the arguments; nil means none
}

// Request is a provider-neutral chat request. Pointer fields are optional:
// nil leaves the provider's default in place.
type Request struct {
	// Model is the provider's own model name (routing has already
	// stripped any "provider/" prefix).
	Model       string
	System      string
	Messages    []Message
	MaxTokens   int
	Temperature *float64
	// TemperatureIsDefault says Temperature was filled in by an API
	// default (the seed's 0.7), not asked for: a provider that refuses
	// sampling parameters may leave it out instead of failing.
	TemperatureIsDefault bool
	TopP                 *float64
	Stop                 []string
	Seed                 *int64
	JSON                 bool // ask for a JSON object answer
	// Schema, when set, asks for JSON matching a schema (it implies JSON).
	Schema *Schema
	// Candidates is how many alternative answers to produce (OpenAI n,
	// Gemini candidateCount); 0 and 1 mean one.
	Candidates int
	Tools      []Tool
	ToolChoice string // "", "auto", "none", "required", or a tool name
	User       string
	// ThinkingBudget overrides the provider's configured thinking budget
	// (Gemini 2.5); nil keeps the configured one.
	ThinkingBudget *int
	// Collect says the caller wants the whole answer at once, not a
	// stream. An adapter may then make the upstream's non-stream call
	// (one JSON body) and yield the answer as one content chunk and the
	// final chunk, mapped exactly as its stream would be; one that does
	// not streams as always. It changes how, not what, is asked: it is
	// not part of the cache key.
	Collect bool
}

// Clone returns a copy that can be changed without touching r's slices.
func (r *Request) Clone() *Request {
	c := *r
	c.Messages = append([]Message(nil), r.Messages...)
	c.Stop = append([]string(nil), r.Stop...)
	c.Tools = append([]Tool(nil), r.Tools...)
	if r.Schema != nil {
		s := *r.Schema
		c.Schema = &s
	}
	return &c
}

// Usage is what a provider billed, normalised once in the adapter:
// CachedInputTokens ⊂ InputTokens, ThinkingTokens ⊂ OutputTokens.
type Usage struct {
	InputTokens        int `json:"input_tokens"`
	OutputTokens       int `json:"output_tokens"`
	ThinkingTokens     int `json:"thinking_tokens,omitempty"`
	CachedInputTokens  int `json:"cached_input_tokens,omitempty"`
	ToolUseInputTokens int `json:"tool_use_input_tokens,omitempty"`
	// CacheWriteTokens and CacheWrite1hTokens are the input tokens
	// written to the provider's prompt cache (Anthropic
	// cache_creation: 5-minute and 1-hour entries); both ⊂ InputTokens.
	CacheWriteTokens   int `json:"cache_write_tokens,omitempty"`
	CacheWrite1hTokens int `json:"cache_write_1h_tokens,omitempty"`
	// TotalTokens is the provider's own total when it reports one
	// (Gemini totalTokenCount), else InputTokens+OutputTokens.
	TotalTokens int `json:"total_tokens"`
}

// Total returns TotalTokens, or the sum of the parts when it is unset.
func (u Usage) Total() int {
	if u.TotalTokens > 0 {
		return u.TotalTokens
	}
	return u.InputTokens + u.OutputTokens + u.ToolUseInputTokens
}

// Finish reasons, normalised across providers.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// Chunk is one increment of a streamed answer.
type Chunk struct {
	Delta string // text appended to the answer
	// Thinking is reasoning text the backend chose to show (Gemini
	// thought parts, Anthropic thinking blocks); ThinkingSignature is
	// the opaque signature that closes a thinking block. Neither is
	// part of the answer text.
	Thinking          string
	ThinkingSignature string
	ToolCalls         []ToolCall // complete tool calls, in order
	// FinishReason, Usage and Model are set when the provider reports
	// them, usually on the last chunk. Usage is cumulative: the last one
	// wins, it is never summed.
	FinishReason string
	// StopSequence is the stop sequence that ended the answer, when the
	// backend says which (Anthropic stop_sequence); FinishReason is stop.
	StopSequence string
	Usage        *Usage
	Model        string
	// Provider names the adapter that produced the chunk; the router
	// fills it in when the adapter leaves it empty.
	Provider string
}

// HasContent reports whether the chunk carries content the client is
// shown: answer text, tool calls, or thinking. Thinking counts: once it
// reached the client, another backend's answer could no longer replace
// it invisibly, so the router's failover ends at the first thinking
// delta just as at the first text delta.
func (c Chunk) HasContent() bool {
	return c.Delta != "" || len(c.ToolCalls) > 0 || c.Thinking != "" || c.ThinkingSignature != ""
}

// Response is a complete answer.
type Response struct {
	Text         string     `json:"text"`
	ToolCalls    []ToolCall `json:"tool_calls,omitempty"`
	FinishReason string     `json:"finish_reason,omitempty"`
	StopSequence string     `json:"stop_sequence,omitempty"`
	Usage        Usage      `json:"usage"`
	Model        string     `json:"model"`
	Provider     string     `json:"provider"`

	// Thinking is the reasoning shown with the answer, and
	// ThinkingSignature the signature of its (last) thinking block.
	Thinking          string `json:"thinking,omitempty"`
	ThinkingSignature string `json:"thinking_signature,omitempty"`
}

// Provider sends a chat request to one model backend.
//
// Stream is the only call. It starts no work until iterated; it yields
// chunks in order and ends after the last one, or after the first error.
// Breaking out of the loop cancels the upstream request. A non-streaming
// caller sets req.Collect and uses Collect(p.Stream(ctx, req)).
type Provider interface {
	Stream(ctx context.Context, req *Request) iter.Seq2[Chunk, error]
}

// Pinger is implemented by providers that can check their upstream
// cheaply (a deep health probe).
type Pinger interface {
	Ping(ctx context.Context) error
}

// ModelChecker is implemented by providers that can check, without
// spending tokens, that a model exists and the credentials may use it
// (Ollama /api/show, Gemini models.get): the deep health probe of the
// configured route. A missing model is a KindNotFound error.
type ModelChecker interface {
	CheckModel(ctx context.Context, model string) error
}

// Collect drains seq into a Response. On error it returns the partial
// response gathered so far together with the error.
func Collect(seq iter.Seq2[Chunk, error]) (*Response, error) {
	r := &Response{}
	var text, thinking []byte
	for c, err := range seq {
		if err != nil {
			r.Text = string(text)
			r.Thinking += string(thinking)
			return r, err
		}
		thinking = append(thinking, c.Thinking...)
		c.Thinking = ""
		r.add(c, &text)
	}
	r.Text = string(text)
	r.Thinking += string(thinking)
	return r, nil
}

// Add folds one chunk into r. Text is appended; usage, model, provider and
// finish reason are replaced by the latest value reported.
func (r *Response) Add(c Chunk) {
	b := []byte(r.Text)
	r.add(c, &b)
	r.Text = string(b)
}

func (r *Response) add(c Chunk, text *[]byte) {
	*text = append(*text, c.Delta...)
	r.Thinking += c.Thinking
	if c.ThinkingSignature != "" {
		r.ThinkingSignature = c.ThinkingSignature
	}
	r.ToolCalls = append(r.ToolCalls, c.ToolCalls...)
	if c.FinishReason != "" {
		r.FinishReason = c.FinishReason
		r.StopSequence = c.StopSequence
	}
	if c.Usage != nil {
		r.Usage = *c.Usage
	}
	if c.Model != "" {
		r.Model = c.Model
	}
	if c.Provider != "" {
		r.Provider = c.Provider
	}
}

// Replay turns a complete response back into a stream: one content chunk
// and one final chunk with the finish reason and usage. Cache hits and
// tests use it.
func Replay(r *Response) iter.Seq2[Chunk, error] {
	return func(yield func(Chunk, error) bool) {
		if r.Text != "" || len(r.ToolCalls) > 0 || r.Thinking != "" {
			if !yield(Chunk{Delta: r.Text, ToolCalls: r.ToolCalls, Thinking: r.Thinking, ThinkingSignature: r.ThinkingSignature,
				Model: r.Model, Provider: r.Provider}, nil) {
				return
			}
		}
		u := r.Usage
		yield(Chunk{FinishReason: r.FinishReason, StopSequence: r.StopSequence, Usage: &u, Model: r.Model, Provider: r.Provider}, nil)
	}
}
