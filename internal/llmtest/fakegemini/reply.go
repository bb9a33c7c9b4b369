package fakegemini

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest"
)

// Fault is a failure injected into an answer.
type Fault int

// The faults. After counts the content chunks sent before the fault.
const (
	FaultNone Fault = iota
	// FaultReset closes the connection before any byte of the response.
	FaultReset
	// FaultHang sends nothing, not even headers, until Release is closed
	// or the client gives up; then it plays the reply.
	FaultHang
	// FaultCut closes the connection after After chunks, without the
	// final chunk.
	FaultCut
	// FaultStall stops after After chunks (0: right after the headers)
	// until Release is closed or the client gives up, then goes on.
	FaultStall
	// FaultMalformed sends a truncated JSON chunk after After chunks and
	// ends the body.
	FaultMalformed
	// FaultInBandError sends data: {"error": Reply.Error} after After
	// chunks and ends the body, as Google does for errors after the
	// headers.
	FaultInBandError
)

// Reply scripts the answer to one request.
type Reply struct {
	// Status, when not 0 or 200, answers with that HTTP status and Error
	// as the body (a default google.rpc.Status for the status if nil).
	Status int
	// Error is the google.rpc.Status of an error answer or of
	// FaultInBandError.
	Error *Status
	// Header adds response headers (e.g. Retry-After).
	Header http.Header

	// Thoughts are thought-summary parts ("thought": true), one chunk
	// each, sent before the answer when the request set
	// thinkingConfig.includeThoughts (as Google does: never otherwise).
	Thoughts []string
	// Deltas are the answer's text parts, one chunk each.
	Deltas []string
	// Calls are function calls, sent together in one chunk after Deltas.
	Calls []FunctionCall
	// FinishReason of the last chunk. Default STOP.
	FinishReason string
	// BlockReason, when set, answers with promptFeedback.blockReason and
	// no candidates (a blocked prompt is HTTP 200).
	BlockReason string
	// Usage is the final usageMetadata; earlier chunks carry growing
	// snapshots. TotalTokenCount defaults to the sum of the parts.
	Usage Usage
	// ModelVersion defaults to the requested model's id.
	ModelVersion string

	// Fault is injected before content chunk After (0: before the
	// first; past the end: after the last, finish reason included).
	Fault Fault
	After int
	// Delay is waited before each chunk (a slow trickle).
	Delay time.Duration
	// Release ends a FaultHang or FaultStall; nil waits for the client.
	Release <-chan struct{}
}

// TextReply streams deltas and reports usage, finish reason STOP.
func TextReply(u Usage, deltas ...string) Reply { return Reply{Deltas: deltas, Usage: u} }

// ToolCallReply answers with one call of name with the JSON object args.
func ToolCallReply(name, args string) Reply {
	return Reply{
		Calls: []FunctionCall{{Name: name, Args: json.RawMessage(args)}},
		Usage: Usage{PromptTokenCount: 30, CandidatesTokenCount: 8},
	}
}

// EmptyThinkingReply is the Gemini 2.5 failure where thinking used the
// whole output budget: MAX_TOKENS, a candidate without content, and
// thoughtsTokenCount > 0.
func EmptyThinkingReply(thoughts int) Reply {
	return Reply{FinishReason: "MAX_TOKENS", Usage: Usage{PromptTokenCount: 9, ThoughtsTokenCount: thoughts}}
}

// BlockedReply answers HTTP 200 with promptFeedback.blockReason.
func BlockedReply(reason string) Reply {
	return Reply{BlockReason: reason, Usage: Usage{PromptTokenCount: 7}}
}

// ErrorReply answers status with a Google error body.
func ErrorReply(status int, message string) Reply {
	return Reply{Status: status, Error: &Status{Code: status, Message: message, Status: rpcStatus(status)}}
}

// RateLimitReply answers 429 RESOURCE_EXHAUSTED with the QuotaFailure,
// Help and RetryInfo details Google sends; delay is a protobuf Duration
// such as "37s" or "1.5s" ("" leaves RetryInfo out).
func RateLimitReply(delay string) Reply {
	msg := "You exceeded your current quota, please check your plan and billing details."
	if delay != "" {
		msg += " Please retry in " + delay + "."
	}
	r := ErrorReply(http.StatusTooManyRequests, msg)
	r.Error.Details = []map[string]any{
		{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{map[string]any{
			"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
			"quotaId":     "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
			"quotaValue":  "10",
		}}},
		{"@type": "type.googleapis.com/google.rpc.Help", "links": []any{map[string]any{
			"description": "Learn more about Gemini API quotas",
			"url":         "https://ai.google.dev/gemini-api/docs/rate-limits",
		}}},
	}
	if delay != "" {
		r.Error.Details = append(r.Error.Details, map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
	}
	return r
}

// ScenarioReply is the reply that plays a conformance scenario.
func ScenarioReply(s llmtest.Scenario) Reply {
	u := llmtest.TextUsage
	usage := Usage{PromptTokenCount: u.InputTokens, CandidatesTokenCount: u.OutputTokens, TotalTokenCount: u.TotalTokens}
	switch s {
	case llmtest.ScenarioToolCall:
		return ToolCallReply(llmtest.ToolName, llmtest.ToolArgs)
	case llmtest.ScenarioRateLimited:
		return RateLimitReply(strconv.FormatFloat(llmtest.RetryHint.Seconds(), 'f', -1, 64) + "s")
	case llmtest.ScenarioServerError:
		return ErrorReply(http.StatusInternalServerError,
			"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
	case llmtest.ScenarioCutMidStream:
		r := TextReply(usage, llmtest.TextDeltas...)
		r.Fault, r.After = FaultCut, 2
		return r
	}
	return TextReply(usage, llmtest.TextDeltas...)
}

// rpcStatus is the canonical google.rpc code name of an HTTP status.
func rpcStatus(status int) string {
	switch status {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// chunks plans the streamed chunks of r for model: thoughts, deltas,
// calls, with finishReason on the last and a usage snapshot on each.
func (r Reply) chunks(model, id string) []Response {
	mv := r.ModelVersion
	if mv == "" {
		mv = strings.TrimPrefix(model, "models/")
	}
	if r.BlockReason != "" {
		u := r.final()
		return []Response{{PromptFeedback: &PromptFeedback{BlockReason: r.BlockReason}, UsageMetadata: &u, ModelVersion: mv, ResponseID: id}}
	}
	var parts [][]Part
	for _, t := range r.Thoughts {
		parts = append(parts, []Part{{Text: &t, Thought: true}})
	}
	for _, d := range r.Deltas {
		parts = append(parts, []Part{{Text: &d}})
	}
	if len(r.Calls) > 0 {
		var ps []Part
		for _, c := range r.Calls {
			ps = append(ps, Part{FunctionCall: &c})
		}
		parts = append(parts, ps)
	}
	if len(parts) == 0 {
		parts = append(parts, nil) // one chunk, a candidate without content
	}
	out := make([]Response, len(parts))
	for i, ps := range parts {
		c := Candidate{Index: 0}
		if ps != nil {
			c.Content = &Content{Role: "model", Parts: ps}
		}
		if i == len(parts)-1 {
			c.FinishReason = cmp.Or(r.FinishReason, "STOP")
		}
		u := r.snapshot(i, len(parts))
		out[i] = Response{Candidates: []Candidate{c}, UsageMetadata: &u, ModelVersion: mv, ResponseID: id}
	}
	return out
}

// final is the reported usage with its total filled in.
func (r Reply) final() Usage {
	u := r.Usage
	u.TotalTokenCount = u.total()
	return u
}

// snapshot is the cumulative usage after chunk i of n: thinking is done
// before the answer, candidates grow, the last chunk is exact.
func (r Reply) snapshot(i, n int) Usage {
	if i == n-1 {
		return r.final()
	}
	u := r.Usage
	u.CandidatesTokenCount = u.CandidatesTokenCount * (i + 1) / n
	u.TotalTokenCount = 0
	u.TotalTokenCount = u.total()
	return u
}

// unary merges chunks into the one response of generateContent.
func unary(chunks []Response) Response {
	out := chunks[len(chunks)-1]
	var parts []Part
	for _, ch := range chunks {
		for _, c := range ch.Candidates {
			if c.Content != nil {
				parts = mergeParts(parts, c.Content.Parts)
			}
		}
	}
	if len(out.Candidates) > 0 {
		c := out.Candidates[0]
		c.Content = nil
		if len(parts) > 0 {
			c.Content = &Content{Role: "model", Parts: parts}
		}
		out.Candidates = []Candidate{c}
	}
	return out
}

// mergeParts appends ps, joining text into the previous part of the
// same kind, so an answer reads as one text part as Google sends it.
func mergeParts(parts, ps []Part) []Part {
	for _, p := range ps {
		n := len(parts)
		if p.Text != nil && n > 0 && parts[n-1].Text != nil && parts[n-1].Thought == p.Thought {
			joined := *parts[n-1].Text + *p.Text
			parts[n-1].Text = &joined
			continue
		}
		parts = append(parts, p)
	}
	return parts
}

func (r Reply) String() string {
	return fmt.Sprintf("Reply{status %d, %d deltas, %d calls, fault %d after %d}", r.Status, len(r.Deltas), len(r.Calls), r.Fault, r.After)
}
