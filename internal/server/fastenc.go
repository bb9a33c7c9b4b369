package server

import (
	"strconv"
	"sync"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/jsonscan"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// The stream encoders below write the common event — a text delta —
// without encoding/json: one append into a buffer the stream reuses, the
// same bytes json.Marshal writes (TestFastEncodersMatchJSON,
// FuzzAppendJSONString). Everything else (tool calls, the final events,
// errors) still goes through encoding/json.

// appendChatDelta appends /chat's delta event data: {"text":"..."}.
func appendChatDelta(b []byte, text string) []byte {
	b = append(b, `{"text":`...)
	b = jsonscan.AppendString(b, text)
	return append(b, '}')
}

// appendOADelta appends a chat.completion.chunk with one choice whose
// delta has the role (first chunk) and content: what json.Marshal writes
// for oaCompletion{Choices: []oaChoice{{Delta: &oaMsgOut{Role, Content}}}}.
func (e *oaEvents) appendOADelta(b []byte, role, content string) []byte {
	b = append(b, e.deltaHead()...)
	if role != "" {
		b = append(b, `"role":`...)
		b = jsonscan.AppendString(b, role)
		b = append(b, ',')
	}
	b = append(b, `"content":`...)
	b = jsonscan.AppendString(b, content)
	return append(b, `},"logprobs":null,"finish_reason":null}],"usage":null,"system_fingerprint":null}`...)
}

// deltaOpen ends deltaHead: the choice and its delta opened.
const deltaOpen = `[{"index":0,"delta":{`

// appendOAFinish appends the chunk that ends choice 0 with finish reason
// fr: what e.write writes for it with json.Marshal.
func (e *oaEvents) appendOAFinish(b []byte, fr string) []byte {
	b = append(b, e.deltaHead()...)
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	b = jsonscan.AppendString(b, fr)
	return append(b, `}],"usage":null,"system_fingerprint":null}`...)
}

// appendOAUsage appends the last chunk of a stream that asked for usage:
// no choices, the usage.
func (e *oaEvents) appendOAUsage(b []byte, u *oaUsageT) []byte {
	h := e.deltaHead()
	b = append(b, h[:len(h)-len(deltaOpen)]...)
	b = append(b, `[],"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokensDetails.CachedTokens), 10)
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokensDetails.ReasoningTokens), 10)
	return append(b, `}},"system_fingerprint":null}`...)
}

// deltaHead is a delta chunk up to its delta's first key — the same in
// every chunk of the stream — encoded once, and again only when the id,
// the creation time or the model changed.
func (e *oaEvents) deltaHead() []byte {
	h := &e.head
	if h.b != nil && h.id == e.id && h.created == e.created && h.model == e.model {
		return h.b
	}
	b := append(h.b[:0], `{"id":`...)
	b = jsonscan.AppendString(b, e.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, e.created, 10)
	b = append(b, `,"model":`...)
	b = jsonscan.AppendString(b, e.model)
	b = append(b, `,"choices":`+deltaOpen...)
	*h = oaHead{b: b, id: e.id, created: e.created, model: e.model}
	return b
}

// oaHead is what deltaHead encoded, and from what.
type oaHead struct {
	b         []byte
	id, model string
	created   int64
}

// The non-stream bodies below are written the same way: the typed shapes
// (completion, chatResponse) stay the reference and the OpenAPI schema's
// source, and TestFastBodiesMatchJSON / FuzzFastBodies check that these
// appenders write exactly what json.Marshal writes for them.

// appendCompletion appends the chat.completion body of res: what
// json.Marshal writes for completion(id, res).
func appendCompletion(b []byte, id string, res *gateway.Result) []byte {
	r := &res.Response
	b = append(b, `{"id":`...)
	b = jsonscan.AppendString(b, id)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, res.Start.Unix(), 10)
	b = append(b, `,"model":`...)
	b = jsonscan.AppendString(b, r.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(r.Usage.InputTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(r.Usage.OutputTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(r.Usage.Total()), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(r.Usage.CachedInputTokens), 10)
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(r.Usage.ThinkingTokens), 10)
	b = append(b, `}},"system_fingerprint":null`...)
	if r.Provider != "" {
		b = append(b, `,"provider":`...)
		b = jsonscan.AppendString(b, r.Provider)
	}
	if res.Cached {
		b = append(b, `,"cached":true`...)
	}
	b = append(b, `,"choices":[`...)
	b = appendChoice(b, 0, r.Text, r.ToolCalls, finishReason(*r))
	for i, o := range r.Others {
		b = append(b, ',')
		fr := finishReason(llm.Response{FinishReason: o.FinishReason, ToolCalls: o.ToolCalls})
		b = appendChoice(b, i+1, o.Text, o.ToolCalls, fr)
	}
	return append(b, "]}"...)
}

// appendChoice appends one completionChoice: the assistant message (its
// content null only when it is tool calls alone) and the finish reason.
func appendChoice(b []byte, index int, text string, calls []llm.ToolCall, finish string) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"message":{"role":"assistant","content":`...)
	if len(calls) > 0 && text == "" {
		b = append(b, "null"...)
	} else {
		b = jsonscan.AppendString(b, text)
	}
	b = append(b, `,"refusal":null`...)
	if len(calls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, c := range calls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = jsonscan.AppendString(b, c.ID)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = jsonscan.AppendString(b, c.Name)
			b = append(b, `,"arguments":`...)
			b = jsonscan.AppendString(b, c.Arguments)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	b = jsonscan.AppendString(b, finish)
	return append(b, '}')
}

// appendChatResponse appends /chat's body: what json.Marshal writes for
// chatResponse(res, id). ok is false when the cost is not a JSON number
// (NaN, ±Inf), which json.Marshal refuses too.
func appendChatResponse(b []byte, res *gateway.Result, id string) (_ []byte, ok bool) {
	r := &res.Response
	b = append(b, `{"response":`...)
	b = jsonscan.AppendString(b, r.Text)
	b = append(b, `,"model":`...)
	b = jsonscan.AppendString(b, r.Model)
	b = append(b, `,"tokens_used":`...)
	b = strconv.AppendInt(b, int64(r.Usage.Total()), 10)
	b = append(b, `,"processing_time_ms":`...)
	b = strconv.AppendInt(b, res.Duration.Milliseconds(), 10)
	b = append(b, `,"provider":`...)
	b = jsonscan.AppendString(b, r.Provider)
	b = append(b, `,"cached":`...)
	b = strconv.AppendBool(b, res.Cached)
	if res.CostKnown {
		var ok bool
		if b, ok = jsonscan.AppendFloat(append(b, `,"cost_usd":`...), res.CostUSD); !ok {
			return b, false
		}
	}
	if r.FinishReason != "" {
		b = append(b, `,"finish_reason":`...)
		b = jsonscan.AppendString(b, r.FinishReason)
	}
	if id != "" {
		b = append(b, `,"request_id":`...)
		b = jsonscan.AppendString(b, id)
	}
	return append(b, '}'), true
}

// A pooledJSON is a body a fast encoder below has already written, in a
// recycled buffer: writeJSON sends it as it is and gives the buffer back
// (net/http has copied it by then).
type pooledJSON struct{ b []byte }

var bodyBufs = sync.Pool{New: func() any { return new(pooledJSON) }}

// maxPooledBody is the largest buffer kept for reuse: a rare long answer
// does not pin its buffer.
const maxPooledBody = 64 << 10

// bodyBuf returns an empty pooledJSON of at least n bytes' capacity.
func bodyBuf(n int) *pooledJSON {
	p := bodyBufs.Get().(*pooledJSON)
	if cap(p.b) < n {
		p.b = make([]byte, 0, n)
	}
	p.b = p.b[:0]
	return p
}

func (p *pooledJSON) release() {
	if cap(p.b) <= maxPooledBody {
		bodyBufs.Put(p)
	}
}

// bodyCap is a capacity that holds res's non-stream body of fixed bytes
// besides its strings, and writeJSON's newline, in one allocation in the
// common case.
func bodyCap(res *gateway.Result, fixed int) int {
	r := &res.Response
	n := fixed + 64 + len(r.Model) + len(r.Provider) + len(r.Text) + len(r.Text)/8
	for _, c := range r.ToolCalls {
		n += 96 + len(c.ID) + len(c.Name) + len(c.Arguments) + len(c.Arguments)/4
	}
	return n
}

// The bytes of a /v1 and a /chat body besides their text, model and
// provider: the fixed part, a request ID, numbers of a few digits.
const (
	completionFixed = 440
	chatFixed       = 160
)
