// Package fakegemini is a fake Gemini API (v1beta) for tests: an
// httptest server that validates requests as the real API does, answers
// in its exact wire format (data-only SSE, cumulative usageMetadata,
// google.rpc.Status error bodies) and plays scripted faults.
package fakegemini

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// Recorded is one request as the fake received it.
type Recorded struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	// Model is the resource name ("models/x", "tunedModels/x") and
	// Action the method after the colon ("streamGenerateContent").
	Model  string
	Action string
	// Body is the decoded request; nil when it did not decode.
	Body *Request
	Raw  []byte
}

// Server is a fake Gemini API. Its zero value is not usable; call New.
type Server struct {
	// URL is the base URL to give a client (no trailing slash).
	URL string
	// Key is the API key the server requires.
	Key string
	// LF makes streams end events with "\n\n" instead of Google's
	// "\r\n\r\n". Set it before the first request.
	LF bool

	ts       *httptest.Server
	closing  fakeserver.Gate // opened when the test ends: ends every stall
	queue    fakeserver.Queue[Reply]
	requests fakeserver.Log[Recorded]
	cancels  fakeserver.Cancels

	mu     sync.Mutex
	models map[string]bool
	counts []int // countTokens totals answered
}

var _ llmtest.Scripter = (*Server)(nil)

// New starts a fake and closes it when the test ends. It knows the
// models gemini-2.5-flash, gemini-2.5-flash-lite, gemini-2.5-pro and
// gemini-2.0-flash; AddModel adds more (tuned models).
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{Key: "test-gemini-" + randomHex(8), models: map[string]bool{}}
	for _, m := range []string{"gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro", "gemini-2.0-flash"} {
		s.AddModel(m)
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	t.Cleanup(func() {
		s.closing.Open() // ends every stall, so Close does not wait forever
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
	return s
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// AddModel makes name servable: "x" or "models/x" (a base model) or
// "tunedModels/x".
func (s *Server) AddModel(name string) {
	if !strings.HasPrefix(name, "models/") && !strings.HasPrefix(name, "tunedModels/") {
		name = "models/" + name
	}
	s.mu.Lock()
	s.models[name] = true
	s.mu.Unlock()
}

// Next makes the next valid request play the conformance scenario sc.
func (s *Server) Next(sc llmtest.Scenario) { s.Enqueue(ScenarioReply(sc)) }

// Enqueue adds replies, played in order by the next valid generate
// requests. With the queue empty the server answers the text scenario.
func (s *Server) Enqueue(r ...Reply) { s.queue.Push(r...) }

func (s *Server) dequeue() Reply {
	if r, ok := s.queue.Pop(); ok {
		return r
	}
	return ScenarioReply(llmtest.ScenarioText)
}

// Requests returns the requests received so far, invalid ones included.
func (s *Server) Requests() []Recorded { return s.requests.All() }

// Last returns the last request received; it fails t if there is none.
func (s *Server) Last(t testing.TB) Recorded {
	t.Helper()
	r, ok := s.requests.Last()
	if !ok {
		t.Fatalf("fakegemini: no request received")
	}
	return r
}

// Canceled returns how many requests the client abandoned while the
// fake was still answering (seen as the request context ending).
func (s *Server) Canceled() int { return s.cancels.Count() }

// WaitCanceled blocks until n requests in all have been abandoned by the
// client, or ctx ends; it reports whether the count was reached.
func (s *Server) WaitCanceled(ctx context.Context, n int) bool { return s.cancels.Wait(ctx, n) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
