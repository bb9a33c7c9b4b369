// Package fakeopenai is a fake OpenAI Chat Completions server that speaks
// the real wire protocol (reference wire.md §4): bearer auth, request
// validation, stream and non-stream answers, data-only SSE ending in
// "data: [DONE]", the include_usage chunk with "choices": [], error
// bodies and retry headers. Tests script it per request; the official
// openai-go SDK is run against it to prove it faithful.
//
// NewHandler is a separate, minimal mode for load benchmarks: a fixed
// answer, no scripting, usable outside tests.
package fakeopenai

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// Key is the API key the fake accepts ("Authorization: Bearer <Key>").
const Key = "sk-fake-0123456789abcdef"

// Fault is a transport failure a Reply can inject.
type Fault int

// Faults. "After" counts content events: text deltas and tool-call
// argument deltas, not the first role chunk.
const (
	FaultNone           Fault = iota
	FaultCutBefore            // close the connection before any byte of the response
	FaultStallBefore          // send nothing until the client cancels
	FaultCutAfter             // stream Reply.After deltas, then close without [DONE]
	FaultStallAfter           // stream Reply.After deltas, then wait until the client cancels
	FaultMalformedAfter       // stream Reply.After deltas, then a broken JSON chunk, then close
	FaultErrorAfter           // stream Reply.After deltas, then an in-band {"error":...} event, then close
)

// Reply is what the fake answers to one request. The zero Reply answers
// DefaultText.
type Reply struct {
	Text      []string   // text deltas; joined for a non-stream answer
	ToolCalls []ToolCall // answered after the text; finish reason "tool_calls"
	Model     string     // default: the requested model
	Finish    string     // default "stop", or "tool_calls" when ToolCalls is set
	Usage     *Usage     // default: prompt 10, completion = number of deltas

	// Status, when not 0 or 200, answers an error with OpenAI's body
	// {"error":{"message","type","param","code"}} and Header added.
	Status  int
	Error   APIError
	RawBody string // sent as the error body instead of Error when set
	Header  http.Header

	Fault Fault
	After int
	// Delay waits before the first byte; Trickle waits before each delta.
	Delay, Trickle time.Duration
}

// ToolCall is one function call in a reply; Arguments is streamed in
// fragments of at most 8 bytes.
type ToolCall struct{ ID, Name, Arguments string }

// Usage is the token usage the fake reports. Total is derived.
type Usage struct {
	PromptTokens, CompletionTokens int
	CachedTokens, ReasoningTokens  int
}

// APIError is OpenAI's error object. Code and Param are null when empty.
type APIError struct{ Message, Type, Param, Code string }

// DefaultText is the answer of the zero Reply.
var DefaultText = []string{"Hello", ", ", "world"}

// Request is one request the fake received; Decode unmarshals its body.
type Request = fakeserver.Request

// Server is the scripted fake. Its URL is the host root; BaseURL adds /v1.
type Server struct {
	*httptest.Server

	queue    fakeserver.Queue[Reply]
	requests fakeserver.Log[Request]
	cancels  fakeserver.Cancels
}

// New starts a fake closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// BaseURL is the API root a client is configured with (it includes /v1).
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Enqueue makes the next request without a reply of its own play r.
// Replies are used in order; when none is queued the fake answers the
// default text.
func (s *Server) Enqueue(r Reply) { s.queue.Push(r) }

// Next implements llmtest.Scripter.
func (s *Server) Next(sc llmtest.Scenario) { s.Enqueue(ScenarioReply(sc)) }

// ScenarioReply is the reply that plays a conformance scenario.
func ScenarioReply(sc llmtest.Scenario) Reply {
	u := &Usage{PromptTokens: llmtest.TextUsage.InputTokens, CompletionTokens: llmtest.TextUsage.OutputTokens}
	switch sc {
	case llmtest.ScenarioToolCall:
		return Reply{ToolCalls: []ToolCall{{ID: "call_fake1", Name: llmtest.ToolName, Arguments: llmtest.ToolArgs}}, Usage: u}
	case llmtest.ScenarioRateLimited:
		secs := int(llmtest.RetryHint / time.Second)
		return Reply{Status: http.StatusTooManyRequests, Error: APIError{
			Type: "requests", Code: "rate_limit_exceeded",
			Message: "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in " + llmtest.RetryHint.String() + ".",
		}, Header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
	case llmtest.ScenarioServerError:
		return Reply{Status: http.StatusInternalServerError, Error: APIError{
			Type: "server_error", Message: "The server had an error while processing your request. Sorry about that!",
		}}
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
	setCommonHeaders(w.Header())
	if r.Header.Get("Authorization") != "Bearer "+Key {
		writeError(w, http.StatusUnauthorized, APIError{Type: "invalid_request_error", Code: "invalid_api_key",
			Message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."}, nil)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []map[string]any{
			{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
		}})
	case r.URL.Path == "/v1/chat/completions" && r.Method == http.MethodPost:
		s.chat(w, r, body)
	case r.URL.Path == "/v1/embeddings" && r.Method == http.MethodPost:
		s.embeddings(w, body)
	default:
		writeError(w, http.StatusNotFound, APIError{Type: "invalid_request_error",
			Message: "Invalid URL (" + r.Method + " " + r.URL.Path + ")"}, nil)
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, body []byte) {
	req, apiErr := validate(body)
	if apiErr != nil {
		writeError(w, http.StatusBadRequest, *apiErr, nil)
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
		writeJSON(w, http.StatusOK, a.completion())
		return
	}
	a.stream(c, &reply)
}
