// Package fakeanthropic is a fake Anthropic Messages API server that
// speaks the real wire protocol (reference wire.md §5): x-api-key or
// bearer auth, the anthropic-version header and its two behaviours,
// request validation, stream (named SSE events) and non-stream answers,
// error bodies and retry-after. Tests script it per request; the official
// anthropic-sdk-go v2 is run against it to prove it faithful.
//
// Where the real API is lenient the fake is strict on purpose: roles must
// alternate (an adapter must merge consecutive turns) and tool_result
// blocks must answer the tool_use blocks of the turn just before.
package fakeanthropic

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// Key is the API key the fake accepts, as x-api-key or Bearer token.
const Key = "sk-ant-fake-key-01"

// Fault is a transport failure a Reply can inject.
type Fault int

// Faults. "After" counts content_block_delta events.
const (
	FaultNone           Fault = iota
	FaultCutBefore            // close the connection before any byte
	FaultStallBefore          // send nothing until the client cancels
	FaultCutAfter             // stream After deltas, then close without message_stop
	FaultStallAfter           // stream After deltas, then wait until the client cancels
	FaultMalformedAfter       // stream After deltas, then a broken JSON event, then close
	FaultErrorAfter           // stream After deltas, then an "event: error", then close
)

// Reply is what the fake answers to one request. The zero Reply answers
// DefaultText.
type Reply struct {
	Thinking   []string   // thinking deltas of a thinking block before the text
	Signature  string     // the thinking block's signature (default "sig-fake")
	Text       []string   // text deltas of one text block
	ToolCalls  []ToolCall // tool_use blocks after the text
	Model      string     // default: the requested model
	StopReason string     // default end_turn, or tool_use with ToolCalls
	Usage      *Usage     // default: input 10, output = number of deltas

	// Status, when not 0 or 200, answers an error with Anthropic's body
	// {"type":"error","error":{"type","message"},"request_id"}.
	Status  int
	Error   APIError
	RawBody string
	Header  http.Header

	Fault          Fault
	After          int
	Delay, Trickle time.Duration
}

// ToolCall is one tool_use block; Input (a JSON object) is streamed in
// input_json_delta fragments of at most 8 bytes.
type ToolCall struct{ ID, Name, Input string }

// Usage is the token usage the fake reports.
type Usage struct {
	InputTokens, OutputTokens                      int
	CacheReadInputTokens, CacheCreationInputTokens int
	ThinkingTokens                                 int
}

// APIError is Anthropic's error object; ErrorCode fills details.error_code.
type APIError struct{ Type, Message, ErrorCode string }

// DefaultText is the answer of the zero Reply.
var DefaultText = []string{"Hello", ", ", "world"}

// Request is one request the fake received; Decode unmarshals its body.
type Request = fakeserver.Request

// Server is the scripted fake; point clients at its URL (the host root).
type Server struct {
	*httptest.Server

	queue    fakeserver.Queue[Reply]
	requests fakeserver.Log[Request]
	cancels  fakeserver.Cancels

	mu     sync.Mutex
	counts []int // count_tokens answers
}

// New starts a fake closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Enqueue makes the next request play r; with none queued the fake
// answers the default text.
func (s *Server) Enqueue(r Reply) { s.queue.Push(r) }

// Next implements llmtest.Scripter.
func (s *Server) Next(sc llmtest.Scenario) { s.Enqueue(ScenarioReply(sc)) }

// ScenarioReply is the reply that plays a conformance scenario.
func ScenarioReply(sc llmtest.Scenario) Reply {
	u := &Usage{InputTokens: llmtest.TextUsage.InputTokens, OutputTokens: llmtest.TextUsage.OutputTokens}
	switch sc {
	case llmtest.ScenarioToolCall:
		return Reply{ToolCalls: []ToolCall{{ID: "toolu_fake1", Name: llmtest.ToolName, Input: llmtest.ToolArgs}}, Usage: u}
	case llmtest.ScenarioRateLimited:
		return Reply{Status: http.StatusTooManyRequests,
			Error:  APIError{Type: "rate_limit_error", Message: "Number of request tokens has exceeded your per-minute rate limit"},
			Header: http.Header{"Retry-After": {strconv.Itoa(int(llmtest.RetryHint / time.Second))}}}
	case llmtest.ScenarioServerError:
		return Reply{Status: http.StatusInternalServerError, Error: APIError{Type: "api_error", Message: "Internal server error"}}
	case llmtest.ScenarioCutMidStream:
		return Reply{Text: llmtest.TextDeltas, Usage: u, Fault: FaultCutAfter, After: 2}
	}
	return Reply{Text: llmtest.TextDeltas, Usage: u}
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request { return s.requests.All() }

// LastRequest returns the latest request, or the zero Request.
func (s *Server) LastRequest() Request {
	r, _ := s.requests.Last()
	return r
}

// Canceled receives one value each time the fake sees a client go away
// while it was still answering.
func (s *Server) Canceled() <-chan struct{} { return s.cancels.C() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body := fakeserver.ReadBody(r)
	s.requests.Add(fakeserver.Record(r, body))
	w.Header().Set("Request-Id", "req_fake")
	w.Header().Set("Anthropic-Ratelimit-Requests-Limit", "4000")
	w.Header().Set("Anthropic-Ratelimit-Requests-Remaining", "3999")
	if r.Header.Get("X-Api-Key") != Key && r.Header.Get("Authorization") != "Bearer "+Key {
		writeError(w, http.StatusUnauthorized, APIError{Type: "authentication_error", Message: "invalid x-api-key"}, nil)
		return
	}
	version := r.Header.Get("Anthropic-Version")
	switch version {
	case "":
		writeError(w, http.StatusBadRequest, APIError{Type: "invalid_request_error", Message: "anthropic-version: header is required"}, nil)
		return
	case "2023-06-01", "2026-10-21":
	default:
		writeError(w, http.StatusBadRequest, APIError{Type: "invalid_request_error", Message: "anthropic-version: invalid version " + version}, nil)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		writeJSON(w, http.StatusOK, map[string]any{"data": []map[string]any{
			{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"},
		}, "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/models/"):
		// Get a Model: an id or an alias; unknown is a 404 naming it.
		id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
		if id != "claude-sonnet-4-5" && id != "claude-sonnet-4-5-20250929" {
			writeError(w, http.StatusNotFound, APIError{Type: "not_found_error", Message: "model: " + id}, nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"type": "model", "id": "claude-sonnet-4-5-20250929",
			"display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		s.countTokens(w, body, version)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		s.messages(w, r, body, version)
	default:
		writeError(w, http.StatusNotFound, APIError{Type: "not_found_error", Message: "Not found"}, nil)
	}
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request, body []byte, version string) {
	req, msg := validate(body, version)
	if msg != "" {
		writeError(w, http.StatusBadRequest, APIError{Type: "invalid_request_error", Message: msg}, nil)
		return
	}
	reply, _ := s.queue.Pop()
	if reply.Status != 0 && reply.Status != http.StatusOK {
		if reply.RawBody != "" {
			fakeserver.WriteRaw(w, reply.Status, reply.Header, reply.RawBody)
			return
		}
		writeError(w, reply.Status, reply.Error, reply.Header)
		return
	}
	c := fakeserver.NewCall(w, r, &s.cancels, nil)
	switch reply.Fault {
	case FaultCutBefore:
		c.Cut()
	case FaultStallBefore:
		c.Hold(nil)
		return
	}
	if !c.Sleep(reply.Delay) {
		return
	}
	a := newAnswer(req, &reply)
	if !req.Stream {
		if reply.Fault != FaultNone {
			c.Cut() // a broken non-stream answer
		}
		writeJSON(w, http.StatusOK, a.message())
		return
	}
	a.stream(c, &reply)
}
