package fakeopenai

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// The response shapes, field for field in OpenAI's order (wire.md §4.2-4.3).

type chunkOut struct {
	ID                string      `json:"id"`
	Object            string      `json:"object"`
	Created           int64       `json:"created"`
	Model             string      `json:"model"`
	ServiceTier       string      `json:"service_tier"`
	SystemFingerprint string      `json:"system_fingerprint"`
	Choices           []choiceOut `json:"choices"`
	Usage             any         `json:"usage,omitempty"` // *usageOut, or null before the usage chunk
}

type choiceOut struct {
	Index        int       `json:"index"`
	Delta        *deltaOut `json:"delta,omitempty"`
	Message      *deltaOut `json:"message,omitempty"`
	Logprobs     any       `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type deltaOut struct {
	Role        string        `json:"role,omitempty"`
	Content     any           `json:"content,omitempty"` // string, or null
	Refusal     any           `json:"refusal,omitempty"` // null
	Annotations []any         `json:"annotations,omitempty"`
	ToolCalls   []toolCallOut `json:"tool_calls,omitempty"`
}

type toolCallOut struct {
	Index    *int        `json:"index,omitempty"`
	ID       string      `json:"id,omitempty"`
	Type     string      `json:"type,omitempty"`
	Function functionOut `json:"function"`
}

type functionOut struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type usageOut struct {
	PromptTokens            int            `json:"prompt_tokens"`
	CompletionTokens        int            `json:"completion_tokens"`
	TotalTokens             int            `json:"total_tokens"`
	PromptTokensDetails     map[string]int `json:"prompt_tokens_details"`
	CompletionTokensDetails map[string]int `json:"completion_tokens_details"`
}

type completionOut struct {
	ID                string      `json:"id"`
	Object            string      `json:"object"`
	Created           int64       `json:"created"`
	Model             string      `json:"model"`
	Choices           []choiceOut `json:"choices"`
	Usage             *usageOut   `json:"usage"`
	ServiceTier       string      `json:"service_tier"`
	SystemFingerprint string      `json:"system_fingerprint"`
}

var null = json.RawMessage("null")

var idSeq atomic.Int64

// answer is one reply rendered for one request.
type answer struct {
	id, model    string
	created      int64
	text         []string
	calls        []ToolCall
	finish       string
	usage        *usageOut
	includeUsage bool
	n            int // choices asked for (n)
}

func newAnswer(req *chatRequest, r *Reply) *answer {
	a := &answer{
		id:      "chatcmpl-fake" + strconv.FormatInt(idSeq.Add(1), 10),
		model:   r.Model,
		created: time.Now().Unix(),
		text:    r.Text,
		calls:   r.ToolCalls,
		finish:  r.Finish,
	}
	if a.model == "" {
		a.model = req.Model
	}
	if a.text == nil && a.calls == nil {
		a.text = DefaultText
	}
	if a.finish == "" {
		a.finish = "stop"
		if len(a.calls) > 0 {
			a.finish = "tool_calls"
		}
	}
	u := Usage{PromptTokens: 10, CompletionTokens: len(a.text) + len(a.calls)}
	if r.Usage != nil {
		u = *r.Usage
	}
	a.usage = renderUsage(u)
	a.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	if req.N != nil {
		a.n = *req.N
	}
	return a
}

// choices repeats the one message for every choice index (n > 1).
func (a *answer) choices(msg *deltaOut, finish *string) []choiceOut {
	out := make([]choiceOut, max(a.n, 1))
	for i := range out {
		out[i] = choiceOut{Index: i, Message: msg, Logprobs: nil, FinishReason: finish}
	}
	return out
}

func renderUsage(u Usage) *usageOut {
	return &usageOut{
		PromptTokens:            u.PromptTokens,
		CompletionTokens:        u.CompletionTokens,
		TotalTokens:             u.PromptTokens + u.CompletionTokens,
		PromptTokensDetails:     map[string]int{"cached_tokens": u.CachedTokens, "audio_tokens": 0},
		CompletionTokensDetails: map[string]int{"reasoning_tokens": u.ReasoningTokens, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
}

// completion is the non-stream chat.completion body.
func (a *answer) completion() *completionOut {
	msg := &deltaOut{Role: "assistant", Content: null, Refusal: null, Annotations: []any{}}
	if text := strings.Join(a.text, ""); text != "" || len(a.calls) == 0 {
		msg.Content = text
	}
	for _, c := range a.calls {
		msg.ToolCalls = append(msg.ToolCalls, toolCallOut{ID: c.ID, Type: "function", Function: functionOut{Name: c.Name, Arguments: c.Arguments}})
	}
	finish := a.finish
	return &completionOut{
		ID: a.id, Object: "chat.completion", Created: a.created, Model: a.model,
		Choices:     a.choices(msg, &finish),
		Usage:       a.usage,
		ServiceTier: "default", SystemFingerprint: "fp_fake",
	}
}

// events renders the whole stream, the final [DONE] included; content
// events (text and argument deltas) are marked Delta.
func (a *answer) events() []fakeserver.Event {
	var out []fakeserver.Event
	for idx := range max(a.n, 1) {
		out = append(out, a.choiceEvents(idx)...)
	}
	if a.includeUsage {
		c := a.chunk([]choiceOut{})
		c.Usage = a.usage
		out = append(out, fakeserver.Event{Data: fakeserver.MustJSON(c)})
	}
	return append(out, fakeserver.Event{Data: []byte("[DONE]")})
}

// choiceEvents renders one choice's deltas (n > 1 repeats the reply
// for every choice index).
func (a *answer) choiceEvents(idx int) []fakeserver.Event {
	var out []fakeserver.Event
	add := func(d *deltaOut, finish *string, delta bool) {
		c := a.chunk([]choiceOut{{Index: idx, Delta: d, Logprobs: nil, FinishReason: finish}})
		out = append(out, fakeserver.Event{Data: fakeserver.MustJSON(c), Delta: delta})
	}
	first := &deltaOut{Role: "assistant", Content: "", Refusal: null}
	if len(a.text) == 0 && len(a.calls) > 0 {
		first.Content = null
		first.ToolCalls = []toolCallOut{a.callHeader(0)}
	}
	add(first, nil, false)
	for _, t := range a.text {
		add(&deltaOut{Content: t}, nil, true)
	}
	for i, c := range a.calls {
		if i > 0 || len(a.text) > 0 {
			add(&deltaOut{ToolCalls: []toolCallOut{a.callHeader(i)}}, nil, false)
		}
		for _, frag := range fakeserver.Fragments(c.Arguments, 8) {
			idx := i
			add(&deltaOut{ToolCalls: []toolCallOut{{Index: &idx, Function: functionOut{Arguments: frag}}}}, nil, true)
		}
	}
	finish := a.finish
	add(&deltaOut{}, &finish, false)
	return out
}

func (a *answer) callHeader(i int) toolCallOut {
	idx := i
	return toolCallOut{Index: &idx, ID: a.calls[i].ID, Type: "function", Function: functionOut{Name: a.calls[i].Name}}
}

func (a *answer) chunk(choices []choiceOut) *chunkOut {
	c := &chunkOut{ID: a.id, Object: "chat.completion.chunk", Created: a.created, Model: a.model,
		ServiceTier: "default", SystemFingerprint: "fp_fake", Choices: choices}
	if a.includeUsage {
		c.Usage = null
	}
	return c
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
		c.Send(fakeserver.Event{Data: []byte(`{"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"delta":{"content":"x"`)}.Frame())
	case FaultErrorAfter:
		e := r.Error
		if e.Message == "" {
			e = APIError{Type: "server_error", Message: "The server had an error while processing your request. Sorry about that!"}
		}
		c.Send(fakeserver.Event{Data: fakeserver.MustJSON(errorBody(e))}.Frame())
	default: // FaultCutAfter: close mid-stream
		c.Cut()
	}
}
