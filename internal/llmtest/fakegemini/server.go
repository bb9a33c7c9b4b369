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

	ts      *httptest.Server
	closing chan struct{}

	mu       sync.Mutex
	queue    []Reply
	models   map[string]bool
	requests []Recorded
	canceled int
	cancelCh chan struct{}
}

var _ llmtest.Scripter = (*Server)(nil)

// New starts a fake and closes it when the test ends. It knows the
// models gemini-2.5-flash, gemini-2.5-flash-lite, gemini-2.5-pro and
// gemini-2.0-flash; AddModel adds more (tuned models).
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Key:      "test-gemini-" + randomHex(8),
		closing:  make(chan struct{}),
		models:   map[string]bool{},
		cancelCh: make(chan struct{}, 1024),
	}
	for _, m := range []string{"gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro", "gemini-2.0-flash"} {
		s.AddModel(m)
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	t.Cleanup(func() {
		close(s.closing) // ends every stall, so Close does not wait forever
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
func (s *Server) Enqueue(r ...Reply) {
	s.mu.Lock()
	s.queue = append(s.queue, r...)
	s.mu.Unlock()
}

func (s *Server) dequeue() Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return ScenarioReply(llmtest.ScenarioText)
	}
	r := s.queue[0]
	s.queue = s.queue[1:]
	return r
}

// Requests returns the requests received so far, invalid ones included.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.requests...)
}

// Last returns the last request received; it fails t if there is none.
func (s *Server) Last(t testing.TB) Recorded {
	t.Helper()
	rs := s.Requests()
	if len(rs) == 0 {
		t.Fatalf("fakegemini: no request received")
	}
	return rs[len(rs)-1]
}

func (s *Server) record(r Recorded) {
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
}

// Canceled returns how many requests the client abandoned while the
// fake was still answering (seen as the request context ending).
func (s *Server) Canceled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

// WaitCanceled blocks until n requests in all have been abandoned by the
// client, or ctx ends; it reports whether the count was reached.
func (s *Server) WaitCanceled(ctx context.Context, n int) bool {
	for s.Canceled() < n {
		select {
		case <-s.cancelCh:
		case <-ctx.Done():
			return s.Canceled() >= n
		}
	}
	return true
}

func (s *Server) noteCanceled() {
	s.mu.Lock()
	s.canceled++
	s.mu.Unlock()
	select {
	case s.cancelCh <- struct{}{}:
	default:
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
