package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	body, rerr := readBody(w, r, s.bodyLimit(), `{"model": "default", "messages": [{"role": "user", "content": "..."}]}`)
	if rerr != nil {
		writeOAError(w, &oaFail{status: rerr.status, err: oaError{Message: rerr.Error(), Type: "invalid_request_error"}})
		return
	}
	oreq, req, f := decodeOA(body)
	if f != nil {
		writeOAError(w, f)
		return
	}
	in := s.input(r, "/v1/chat/completions", req, oreq.Stream)
	in.Model, in.Provider = oreq.Model, oreq.Provider
	if req.User == "" {
		req.User = in.Who.User
	}
	id := "chatcmpl-" + RequestID(r.Context())
	ev := &oaEvents{id: id, created: time.Now().Unix(), model: oreq.Model,
		usage: oreq.StreamOptions != nil && oreq.StreamOptions.IncludeUsage}
	s.answer(w, r, in, ev, func(res *gateway.Result) any {
		p := bodyBuf(bodyCap(res, completionFixed))
		p.b = appendCompletion(p.b, id, res)
		return p
	})
}

// OpenAI's response shapes (wire.md §4.2, §4.3).
type (
	oaCompletion struct {
		ID                string     `json:"id"`
		Object            string     `json:"object"`
		Created           int64      `json:"created"`
		Model             string     `json:"model"`
		Choices           []oaChoice `json:"choices"`
		Usage             *oaUsageT  `json:"usage"`
		SystemFingerprint *string    `json:"system_fingerprint"`
		// Extensions: who answered, and whether from the cache.
		Provider string `json:"provider,omitempty"`
		Cached   bool   `json:"cached,omitempty"`
	}
	oaChoice struct {
		Index        int       `json:"index"`
		Message      *oaMsgOut `json:"message,omitempty"`
		Delta        *oaMsgOut `json:"delta,omitempty"`
		Logprobs     *struct{} `json:"logprobs"`
		FinishReason *string   `json:"finish_reason"`
	}
	oaMsgOut struct {
		Role      string      `json:"role,omitempty"`
		Content   *string     `json:"content,omitempty"`
		Refusal   *string     `json:"refusal,omitempty"`
		ToolCalls []oaToolOut `json:"tool_calls,omitempty"`
	}
	oaToolOut struct {
		Index    *int   `json:"index,omitempty"`
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	oaUsageT struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		CompletionTokensDetails struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	}
)

// completionMessage is the non-stream message: content is null only when
// the answer is tool calls alone; refusal is always present (null).
type completionMessage struct {
	Role      string      `json:"role"`
	Content   *string     `json:"content"`
	Refusal   *string     `json:"refusal"`
	ToolCalls []oaToolOut `json:"tool_calls,omitempty"`
}

func completion(id string, res *gateway.Result) any {
	text := res.Response.Text
	msg := completionMessage{Role: "assistant", Content: &text, ToolCalls: oaToolCalls(res.Response.ToolCalls, -1)}
	if len(msg.ToolCalls) > 0 && text == "" {
		msg.Content = nil
	}
	fr := finishReason(res.Response)
	choices := []completionChoice{{Message: msg, FinishReason: fr}}
	for i, o := range res.Response.Others { // candidates 1.. of n > 1
		choices = append(choices, otherChoice(i+1, o))
	}
	return struct {
		oaCompletion
		Choices []completionChoice `json:"choices"`
	}{
		oaCompletion: oaCompletion{ID: id, Object: "chat.completion", Created: res.Start.Unix(), Model: res.Response.Model,
			Usage: oaUsage(res.Response.Usage), Provider: res.Response.Provider, Cached: res.Cached},
		Choices: choices,
	}
}

// otherChoice renders a further candidate as choice index.
func otherChoice(index int, o llm.Choice) completionChoice {
	text := o.Text
	msg := completionMessage{Role: "assistant", Content: &text, ToolCalls: oaToolCalls(o.ToolCalls, -1)}
	if len(msg.ToolCalls) > 0 && text == "" {
		msg.Content = nil
	}
	fr := finishReason(llm.Response{FinishReason: o.FinishReason, ToolCalls: o.ToolCalls})
	return completionChoice{Index: index, Message: msg, FinishReason: fr}
}

type completionChoice struct {
	Index        int               `json:"index"`
	Message      completionMessage `json:"message"`
	Logprobs     *struct{}         `json:"logprobs"`
	FinishReason string            `json:"finish_reason"`
}

func finishReason(r llm.Response) string {
	if r.FinishReason != "" {
		return r.FinishReason
	}
	if len(r.ToolCalls) > 0 {
		return llm.FinishToolCalls
	}
	return llm.FinishStop
}

func oaUsage(u llm.Usage) *oaUsageT {
	out := &oaUsageT{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.Total()}
	out.PromptTokensDetails.CachedTokens = u.CachedInputTokens
	out.CompletionTokensDetails.ReasoningTokens = u.ThinkingTokens
	return out
}

// oaToolCalls converts tool calls; first >= 0 numbers them from first
// (stream deltas carry an index), -1 leaves the index out.
func oaToolCalls(calls []llm.ToolCall, first int) []oaToolOut {
	if len(calls) == 0 {
		return nil
	}
	out := make([]oaToolOut, len(calls))
	for i, c := range calls {
		out[i].ID, out[i].Type = c.ID, "function"
		out[i].Function.Name, out[i].Function.Arguments = c.Name, c.Arguments
		if first >= 0 {
			n := first + i
			out[i].Index = &n
		}
	}
	return out
}

// oaErrorFor maps a gateway error to OpenAI's error body and status.
func (s *Server) oaErrorFor(w http.ResponseWriter, err error) {
	setRetryAfter(w.Header(), err)
	status := statusOf(err)
	annotate(w, slog.String("error_kind", llm.KindOf(err).String()))
	writeOAError(w, &oaFail{status: status, err: oaErrorBody(status, err)})
}

func oaErrorBody(status int, err error) oaError {
	e := oaError{Message: publicMessage(err), Type: "api_error"}
	code := func(c string) *string { return &c }
	switch {
	case errors.Is(err, gateway.ErrNoRoute) || status == http.StatusNotFound:
		e.Type, e.Code = "invalid_request_error", code("model_not_found")
		p := "model"
		e.Param = &p
	case status == http.StatusBadRequest:
		e.Type = "invalid_request_error"
	case status == http.StatusUnauthorized:
		e.Type, e.Code = "invalid_request_error", code("invalid_api_key")
	case status == http.StatusForbidden:
		e.Type = "permission_error"
	case status == http.StatusTooManyRequests:
		e.Type, e.Code = "rate_limit_error", code("rate_limit_exceeded")
	case status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout, status == http.StatusBadGateway:
		e.Type, e.Code = "server_error", code(llm.KindOf(err).String())
	}
	return e
}

// oaEvents writes chat.completion.chunk events, data-only, ending with
// data: [DONE]; a failure after the start is a data event with an error
// object (the OpenAI SDKs surface it as a stream error).
type oaEvents struct {
	id      string
	created int64
	model   string
	usage   bool
	started bool
	tools   int
	// others tracks candidates 1.. of n > 1: started and tool count each.
	others []oaCandidate
	head   oaHead // appendOADelta's
}

type oaCandidate struct {
	started bool
	tools   int
}

func (e *oaEvents) headers(h http.Header) {}

func (e *oaEvents) write(sw *sse.Writer, choices []oaChoice, usage *oaUsageT) error {
	b, _ := json.Marshal(oaCompletion{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
		Choices: choices, Usage: usage})
	return sw.Event("", b)
}

func (e *oaEvents) chunk(sw *sse.Writer, c llm.Chunk) error {
	if c.Model != "" {
		e.model = c.Model
	}
	if c.Candidate == 0 && len(c.ToolCalls) == 0 && (c.Delta != "" || !e.started) {
		role := ""
		if !e.started {
			e.started, role = true, "assistant"
		}
		b, err := sw.BeginJSON("")
		if err != nil {
			return err
		}
		return sw.EndJSON(e.appendOADelta(b, role, c.Delta))
	}
	started, tools := &e.started, &e.tools
	if c.Candidate > 0 && c.Candidate < llm.MaxCandidates {
		for len(e.others) < c.Candidate {
			e.others = append(e.others, oaCandidate{})
		}
		o := &e.others[c.Candidate-1]
		started, tools = &o.started, &o.tools
	}
	var delta oaMsgOut
	if !*started {
		*started = true
		delta.Role = "assistant"
		empty := ""
		delta.Content = &empty
	}
	if c.Delta != "" {
		text := c.Delta // not &c.Delta: that moved every chunk to the heap, fast path too
		delta.Content = &text
	}
	if len(c.ToolCalls) > 0 {
		delta.ToolCalls = oaToolCalls(c.ToolCalls, *tools)
		*tools += len(c.ToolCalls)
	}
	if delta.Role == "" && delta.Content == nil && delta.ToolCalls == nil {
		return nil
	}
	return e.write(sw, []oaChoice{{Index: c.Candidate, Delta: &delta}}, nil)
}

func (e *oaEvents) done(sw *sse.Writer, res *gateway.Result, _ string) error {
	if res.Response.Model != "" {
		e.model = res.Response.Model
	}
	b, err := sw.BeginJSON("")
	if err != nil {
		return err
	}
	if err := sw.EndJSON(e.appendOAFinish(b, finishReason(res.Response))); err != nil {
		return err
	}
	for i, o := range res.Response.Others {
		ofr := finishReason(llm.Response{FinishReason: o.FinishReason, ToolCalls: o.ToolCalls})
		if err := e.write(sw, []oaChoice{{Index: i + 1, Delta: &oaMsgOut{}, FinishReason: &ofr}}, nil); err != nil {
			return err
		}
	}
	if e.usage {
		b, err := sw.BeginJSON("")
		if err != nil {
			return err
		}
		if err := sw.EndJSON(e.appendOAUsage(b, oaUsage(res.Response.Usage))); err != nil {
			return err
		}
	}
	return sw.Event("", []byte("[DONE]"))
}

func (e *oaEvents) fail(sw *sse.Writer, err error) error {
	body := oaErrorBody(statusOf(err), err)
	b, _ := json.Marshal(map[string]oaError{"error": body})
	return sw.Event("", b)
}

func (e *oaEvents) failBeforeStart(s *Server, w http.ResponseWriter, err error) { s.oaErrorFor(w, err) }
