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
	body, rerr := readBody(w, r, s.bodyLimit())
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
	s.answer(w, r, in, ev, func(res *gateway.Result) any { return completion(id, res) })
}

func completion(id string, res *gateway.Result) map[string]any {
	msg := map[string]any{"role": "assistant", "content": res.Response.Text, "refusal": nil}
	if len(res.Response.ToolCalls) > 0 {
		msg["tool_calls"] = oaToolCalls(res.Response.ToolCalls, false)
		if res.Response.Text == "" {
			msg["content"] = nil
		}
	}
	return map[string]any{
		"id": id, "object": "chat.completion", "created": res.Start.Unix(), "model": res.Response.Model,
		"choices": []map[string]any{{
			"index": 0, "message": msg, "logprobs": nil, "finish_reason": finishReason(res.Response),
		}},
		"usage":              oaUsage(res.Response.Usage),
		"system_fingerprint": nil,
		"provider":           res.Response.Provider,
		"cached":             res.Cached,
	}
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

func oaUsage(u llm.Usage) map[string]any {
	return map[string]any{
		"prompt_tokens":             u.InputTokens,
		"completion_tokens":         u.OutputTokens,
		"total_tokens":              u.Total(),
		"prompt_tokens_details":     map[string]int{"cached_tokens": u.CachedInputTokens},
		"completion_tokens_details": map[string]int{"reasoning_tokens": u.ThinkingTokens},
	}
}

func oaToolCalls(calls []llm.ToolCall, indexed bool) []map[string]any {
	out := make([]map[string]any, len(calls))
	for i, c := range calls {
		tc := map[string]any{"id": c.ID, "type": "function",
			"function": map[string]string{"name": c.Name, "arguments": c.Arguments}}
		if indexed {
			tc["index"] = i
		}
		out[i] = tc
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
	buf     []byte
}

func (e *oaEvents) headers(h http.Header) {}

func (e *oaEvents) write(sw *sse.Writer, choices any, usage any) error {
	b, _ := json.Marshal(map[string]any{
		"id": e.id, "object": "chat.completion.chunk", "created": e.created, "model": e.model,
		"system_fingerprint": nil, "choices": choices, "usage": usage,
	})
	return sw.Event("", b)
}

func (e *oaEvents) chunk(sw *sse.Writer, c llm.Chunk) error {
	if c.Model != "" {
		e.model = c.Model
	}
	delta := map[string]any{}
	if !e.started {
		e.started = true
		delta["role"] = "assistant"
	}
	if c.Delta != "" {
		delta["content"] = c.Delta
	}
	if len(c.ToolCalls) > 0 {
		calls := oaToolCalls(c.ToolCalls, true)
		for _, tc := range calls {
			tc["index"] = e.tools
			e.tools++
		}
		delta["tool_calls"] = calls
	}
	if len(delta) == 0 {
		return nil
	}
	return e.write(sw, []map[string]any{{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": nil}}, nil)
}

func (e *oaEvents) done(sw *sse.Writer, res *gateway.Result, _ string) error {
	if res.Response.Model != "" {
		e.model = res.Response.Model
	}
	if err := e.write(sw, []map[string]any{{"index": 0, "delta": map[string]any{}, "logprobs": nil,
		"finish_reason": finishReason(res.Response)}}, nil); err != nil {
		return err
	}
	if e.usage {
		if err := e.write(sw, []any{}, oaUsage(res.Response.Usage)); err != nil {
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
