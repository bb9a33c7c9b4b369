package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/jsonscan"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

func (s *Server) responses(w http.ResponseWriter, r *http.Request) {
	body, rerr := readBody(w, r, s.bodyLimit(), `{"model": "default", "input": "..."}`)
	if rerr != nil {
		writeOAError(w, &oaFail{status: rerr.status, err: oaError{Message: rerr.Error(), Type: "invalid_request_error"}})
		return
	}
	rr, req, f := decodeResponses(body)
	if f != nil {
		writeOAError(w, f)
		return
	}
	in := s.input(r, "/v1/responses", req, rr.Stream)
	in.Model, in.Provider = rr.Model, rr.Provider
	if req.User == "" {
		req.User = in.Who.User
	}
	ev := newRSEvents("resp_"+RequestID(r.Context()), rr, time.Now().Unix())
	s.answer(w, r, in, ev, func(res *gateway.Result) any { return ev.whole(res) })
}

// rsResponse is the Response object.
type rsResponse struct {
	ID                 string         `json:"id"`
	Object             string         `json:"object"`
	CreatedAt          int64          `json:"created_at"`
	Status             string         `json:"status"`
	Error              *rsError       `json:"error"`
	IncompleteDetails  *rsIncomplete  `json:"incomplete_details"`
	Instructions       *string        `json:"instructions"`
	MaxOutputTokens    *int           `json:"max_output_tokens"`
	Model              string         `json:"model"`
	Output             []rsOutItem    `json:"output"`
	ParallelToolCalls  bool           `json:"parallel_tool_calls"`
	PreviousResponseID *string        `json:"previous_response_id"`
	Store              bool           `json:"store"`
	Temperature        *float64       `json:"temperature"`
	TopP               *float64       `json:"top_p"`
	ToolChoice         any            `json:"tool_choice"`
	Tools              []rsTool       `json:"tools"`
	Text               rsText         `json:"text"`
	Truncation         string         `json:"truncation"`
	Usage              *rsUsage       `json:"usage"`
	User               *string        `json:"user"`
	Metadata           map[string]any `json:"metadata"`
	// Extensions, as on chat completions.
	Provider string `json:"provider,omitempty"`
	Cached   bool   `json:"cached,omitempty"`
}

type rsError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type rsIncomplete struct {
	Reason string `json:"reason"`
}

type rsUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// rsOutItem is an output item: a message (Content) or a function call.
type rsOutItem struct {
	Type      string   `json:"type"`
	ID        string   `json:"id"`
	Status    string   `json:"status"`
	Role      string   `json:"role,omitempty"`
	Content   []rsPart `json:"content,omitempty"`
	CallID    string   `json:"call_id,omitempty"`
	Name      string   `json:"name,omitempty"`
	Arguments *string  `json:"arguments,omitempty"`
}

type rsPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

func rsUsageOf(u llm.Usage) *rsUsage {
	out := &rsUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.Total()}
	out.InputTokensDetails.CachedTokens = u.CachedInputTokens
	out.OutputTokensDetails.ReasoningTokens = u.ThinkingTokens
	return out
}

// rsStatus is the status of a finished answer: incomplete when it was
// cut by max_output_tokens or a content filter.
func rsStatus(finish string) (string, *rsIncomplete) {
	switch finish {
	case llm.FinishLength:
		return "incomplete", &rsIncomplete{Reason: "max_output_tokens"}
	case llm.FinishContentFilter:
		return "incomplete", &rsIncomplete{Reason: "content_filter"}
	}
	return "completed", nil
}

// rsEvents writes the Responses event stream and builds the Response
// object; the same item IDs appear in both.
type rsEvents struct {
	base    rsResponse // the request's echo, status in_progress
	id      string
	seq     int
	started bool
	items   []rsOutItem // finished output items
	msgOpen bool
	msgID   string // the open message item's id
	text    strings.Builder
	calls   int
}

func newRSEvents(id string, r *rsRequest, created int64) *rsEvents {
	b := rsResponse{ID: id, Object: "response", CreatedAt: created, Status: "in_progress", Model: r.Model,
		Instructions: r.Instructions, MaxOutputTokens: r.MaxOutputTokens, ParallelToolCalls: true,
		Temperature: r.Temperature, TopP: r.TopP, ToolChoice: "auto", Tools: r.Tools, Truncation: "disabled",
		Output: []rsOutItem{}, Metadata: r.Metadata}
	if b.Tools == nil {
		b.Tools = []rsTool{}
	}
	if b.Metadata == nil {
		b.Metadata = map[string]any{}
	}
	if nonNull(r.ToolChoice) {
		b.ToolChoice = json.RawMessage(r.ToolChoice)
	}
	b.Text = rsText{Format: &rsFormat{Type: "text"}}
	if r.Text != nil && r.Text.Format != nil {
		b.Text = *r.Text
	}
	if r.User != "" {
		u := sanitize(r.User, 128)
		b.User = &u
	}
	return &rsEvents{base: b, id: id}
}

// whole is the non-stream answer.
func (e *rsEvents) whole(res *gateway.Result) rsResponse {
	if res.Response.Text != "" {
		e.items = append(e.items, e.message(res.Response.Text, "completed"))
	}
	for _, tc := range res.Response.ToolCalls {
		e.items = append(e.items, e.call(tc, "completed"))
	}
	return e.final(res)
}

func (e *rsEvents) final(res *gateway.Result) rsResponse {
	out := e.base
	out.Status, out.IncompleteDetails = rsStatus(res.Response.FinishReason)
	out.Output = append([]rsOutItem{}, e.items...)
	out.Usage = rsUsageOf(res.Response.Usage)
	if res.Response.Model != "" {
		out.Model = res.Response.Model
	}
	out.Provider, out.Cached = res.Response.Provider, res.Cached
	return out
}

func (e *rsEvents) message(text, status string) rsOutItem {
	return rsOutItem{Type: "message", ID: fmt.Sprintf("msg_%s_%d", strings.TrimPrefix(e.id, "resp_"), len(e.items)),
		Status: status, Role: "assistant", Content: []rsPart{{Type: "output_text", Text: text, Annotations: []any{}}}}
}

func (e *rsEvents) call(tc llm.ToolCall, status string) rsOutItem {
	e.calls++
	callID := tc.ID
	if callID == "" {
		callID = fmt.Sprintf("call_%s_%d", strings.TrimPrefix(e.id, "resp_"), e.calls)
	}
	args := tc.Arguments
	return rsOutItem{Type: "function_call", ID: fmt.Sprintf("fc_%s_%d", strings.TrimPrefix(e.id, "resp_"), len(e.items)),
		Status: status, CallID: callID, Name: tc.Name, Arguments: &args}
}

// emit writes one typed event; every event carries its sequence number.
func (e *rsEvents) emit(sw *sse.Writer, typ string, fields map[string]any) error {
	fields["type"], fields["sequence_number"] = typ, e.seq
	e.seq++
	b, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	return sw.Event(typ, b)
}

func (e *rsEvents) headers(h http.Header) {}

func (e *rsEvents) chunk(sw *sse.Writer, c llm.Chunk) error {
	if !e.started {
		e.started = true
		if c.Model != "" {
			e.base.Model = c.Model
		}
		if err := e.emit(sw, "response.created", map[string]any{"response": e.base}); err != nil {
			return err
		}
		if err := e.emit(sw, "response.in_progress", map[string]any{"response": e.base}); err != nil {
			return err
		}
	}
	if c.Delta != "" {
		if err := e.textDelta(sw, c.Delta); err != nil {
			return err
		}
	}
	for _, tc := range c.ToolCalls {
		if err := e.closeMessage(sw); err != nil {
			return err
		}
		if err := e.toolCall(sw, tc); err != nil {
			return err
		}
	}
	return nil
}

func (e *rsEvents) textDelta(sw *sse.Writer, delta string) error {
	idx := len(e.items)
	if !e.msgOpen {
		item := e.message("", "in_progress")
		e.msgOpen, e.msgID = true, item.ID
		added := item
		added.Content = []rsPart{}
		if err := e.emit(sw, "response.output_item.added", map[string]any{"output_index": idx, "item": added}); err != nil {
			return err
		}
		if err := e.emit(sw, "response.content_part.added", map[string]any{"item_id": item.ID, "output_index": idx,
			"content_index": 0, "part": rsPart{Type: "output_text", Annotations: []any{}}}); err != nil {
			return err
		}
	}
	e.text.WriteString(delta)
	// What emit writes for {"item_id", "output_index", "content_index": 0,
	// "delta", "logprobs": []} (TestRSTextDeltaMatchesJSON), appended
	// without a map and json.Marshal: 24 allocations a delta.
	b, err := sw.BeginJSON("response.output_text.delta")
	if err != nil {
		return err
	}
	b = appendRSTextDelta(b, e.msgID, idx, e.seq, delta)
	e.seq++
	return sw.EndJSON(b)
}

// appendRSTextDelta appends a response.output_text.delta event's data
// with json.Marshal's key order (a map's: sorted) and string escaping.
func appendRSTextDelta(b []byte, itemID string, idx, seq int, delta string) []byte {
	b = append(b, `{"content_index":0,"delta":`...)
	b = jsonscan.AppendString(b, delta)
	b = append(b, `,"item_id":`...)
	b = jsonscan.AppendString(b, itemID)
	b = append(b, `,"logprobs":[],"output_index":`...)
	b = strconv.AppendInt(b, int64(idx), 10)
	b = append(b, `,"sequence_number":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	return append(b, `,"type":"response.output_text.delta"}`...)
}

// closeMessage ends the open message item, if any.
func (e *rsEvents) closeMessage(sw *sse.Writer) error {
	if !e.msgOpen {
		return nil
	}
	e.msgOpen = false
	idx, item := len(e.items), e.message(e.text.String(), "completed")
	e.text.Reset()
	part := item.Content[0]
	for _, ev := range []struct {
		typ    string
		fields map[string]any
	}{
		{"response.output_text.done", map[string]any{"item_id": item.ID, "output_index": idx, "content_index": 0, "text": part.Text, "logprobs": []any{}}},
		{"response.content_part.done", map[string]any{"item_id": item.ID, "output_index": idx, "content_index": 0, "part": part}},
		{"response.output_item.done", map[string]any{"output_index": idx, "item": item}},
	} {
		if err := e.emit(sw, ev.typ, ev.fields); err != nil {
			return err
		}
	}
	e.items = append(e.items, item)
	return nil
}

func (e *rsEvents) toolCall(sw *sse.Writer, tc llm.ToolCall) error {
	idx, item := len(e.items), e.call(tc, "completed")
	added := item
	added.Status, added.Arguments = "in_progress", new(string)
	for _, ev := range []struct {
		typ    string
		fields map[string]any
	}{
		{"response.output_item.added", map[string]any{"output_index": idx, "item": added}},
		{"response.function_call_arguments.delta", map[string]any{"item_id": item.ID, "output_index": idx, "delta": tc.Arguments}},
		{"response.function_call_arguments.done", map[string]any{"item_id": item.ID, "output_index": idx, "name": tc.Name, "arguments": tc.Arguments}},
		{"response.output_item.done", map[string]any{"output_index": idx, "item": item}},
	} {
		if err := e.emit(sw, ev.typ, ev.fields); err != nil {
			return err
		}
	}
	e.items = append(e.items, item)
	return nil
}

func (e *rsEvents) done(sw *sse.Writer, res *gateway.Result, _ string) error {
	if err := e.closeMessage(sw); err != nil {
		return err
	}
	out := e.final(res)
	typ := "response.completed"
	if out.Status == "incomplete" {
		typ = "response.incomplete"
	}
	return e.emit(sw, typ, map[string]any{"response": out})
}

// fail ends a started stream: an error event, then response.failed
// with the error in the response (the lifecycle's terminal event).
func (e *rsEvents) fail(sw *sse.Writer, err error) error {
	body := oaErrorBody(statusOf(err), err)
	code := body.Type
	if body.Code != nil {
		code = *body.Code
	}
	if werr := e.emit(sw, "error", map[string]any{"code": code, "message": body.Message, "param": nil}); werr != nil {
		return werr
	}
	out := e.base
	out.Status, out.Error = "failed", &rsError{Code: code, Message: body.Message}
	out.Output = append([]rsOutItem{}, e.items...)
	return e.emit(sw, "response.failed", map[string]any{"response": out})
}

func (e *rsEvents) failBeforeStart(s *Server, w http.ResponseWriter, err error) { s.oaErrorFor(w, err) }
