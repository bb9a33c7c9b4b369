// Package fakeollama is an httptest server that speaks Ollama's native
// REST API (v0.17.4) the way the real server does, byte for byte in shape:
// NDJSON answer lines with the real field order, {"error":"..."} bodies
// with the real status codes and texts (see
// /work/shared/reference/ollama-recorded). Unscripted chats answer like
// the deterministic test model "tiny"; Next and Enqueue script the next
// answers, including faults.
package fakeollama

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// Version is what GET /api/version reports.
const Version = "0.17.4"

// TinyAnswer is the answer of the model "tiny" to any chat, and TinyWords
// its tokens as Ollama streams them (one NDJSON line each).
const TinyAnswer = " the quick brown fox jumps over a lazy dog."

// TinyWords are the streamed pieces of TinyAnswer.
var TinyWords = []string{" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", "."}

// Fault is a failure a scripted Reply plays.
type Fault int

// Faults. "After" counts answer lines (text deltas or the tool-call line)
// already written.
const (
	FaultNone               Fault = iota
	FaultCutBeforeFirstByte       // close the connection before any response byte
	FaultCutAfter                 // write After lines, then close without the done line
	FaultStallBeforeFirst         // send nothing (not even headers) until the client cancels or Release
	FaultStallAfter               // write After lines, then stall until the client cancels or Release
	FaultMalformedAfter           // write After lines, then a line that is not JSON
	FaultErrorLineAfter           // write After lines, then {"error":ErrorText} and end, as Ollama does mid-stream
)

// ToolCall is a call the fake's model makes. Arguments is a JSON object.
type ToolCall struct {
	ID        string // Ollama sends "call_xxxxxxxx"; empty omits the field
	Name      string
	Arguments string
}

// Reply scripts one answer to POST /api/chat.
type Reply struct {
	// Status, when not 0 or 200, answers with that status, Header and
	// Body (default {"error":"<status text>"}) instead of a stream.
	Status int
	Header http.Header
	Body   string

	Model           string   // default: the requested model
	Deltas          []string // text pieces, one line each
	ToolCalls       []ToolCall
	PromptEvalCount int
	EvalCount       int
	DoneReason      string // default "stop"

	Fault     Fault
	After     int
	ErrorText string // for FaultErrorLineAfter

	// Delay is waited before every line (a slow trickle).
	Delay time.Duration
	// Endless repeats Deltas until the client goes away (like the raw
	// " tick" prompt); Delay defaults to 1ms then.
	Endless bool
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	Chat   *ChatRequest // the decoded body of a valid POST /api/chat
}

// ChatRequest is the body of POST /api/chat as Ollama reads it.
type ChatRequest struct {
	Model     string          `json:"model"`
	Messages  []Message       `json:"messages"`
	Stream    *bool           `json:"stream"`
	Format    json.RawMessage `json:"format"`
	KeepAlive json.RawMessage `json:"keep_alive"`
	Think     json.RawMessage `json:"think"`
	Tools     []Tool          `json:"tools"`
	Options   map[string]any  `json:"options"`
}

// Message is a chat message on the wire.
type Message struct {
	Role       string         `json:"role"`
	Content    string         `json:"content"`
	ToolCalls  []WireToolCall `json:"tool_calls,omitempty"`
	ToolName   string         `json:"tool_name,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
	// Images are base64 on the wire; bad base64 fails the decode with
	// a 400, as Ollama's []ImageData does.
	Images [][]byte `json:"images,omitempty"`
}

// WireToolCall is a tool call on the wire, arguments as an object.
type WireToolCall struct {
	ID       string `json:"id,omitempty"`
	Function struct {
		Index     int             `json:"index"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// Tool is a tool definition on the wire.
type Tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base address, e.g. http://127.0.0.1:40123.
	URL string
	srv *httptest.Server

	replies  fakeserver.Queue[Reply]
	requests fakeserver.Log[Request]
	release  fakeserver.Gate
	cancels  fakeserver.Cancels

	mu     sync.Mutex
	models map[string]bool
}

var _ llmtest.Scripter = (*Server)(nil)

// New starts a fake that knows the models "tiny" and "tiny-random"; it is
// closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{models: map[string]bool{"tiny": true, "tiny-random": true}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close releases stalled answers and stops the server.
func (s *Server) Close() {
	s.Release()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// AddModel makes name (with or without ":latest") a known model.
func (s *Server) AddModel(name string) {
	s.mu.Lock()
	s.models[baseName(name)] = true
	s.mu.Unlock()
}

// Enqueue scripts the next answers to POST /api/chat, in order. A chat
// that finds the queue empty answers like "tiny".
func (s *Server) Enqueue(r ...Reply) { s.replies.Push(r...) }

// Next implements llmtest.Scripter.
func (s *Server) Next(sc llmtest.Scenario) { s.Enqueue(ScenarioReply(sc)) }

// ScenarioReply is the Reply that plays a conformance scenario.
func ScenarioReply(sc llmtest.Scenario) Reply {
	u := llmtest.TextUsage
	switch sc {
	case llmtest.ScenarioText:
		return Reply{Deltas: llmtest.TextDeltas, PromptEvalCount: u.InputTokens, EvalCount: u.OutputTokens}
	case llmtest.ScenarioToolCall:
		return Reply{ToolCalls: []ToolCall{{ID: "call_7q38jkad", Name: llmtest.ToolName, Arguments: llmtest.ToolArgs}},
			PromptEvalCount: 50, EvalCount: 5}
	case llmtest.ScenarioRateLimited:
		// Ollama itself does not rate-limit local models; a proxy in front does.
		return Reply{Status: http.StatusTooManyRequests,
			Header: http.Header{"Retry-After": {fmt.Sprint(int(llmtest.RetryHint.Seconds()))}},
			Body:   `{"error":"too many requests"}`}
	case llmtest.ScenarioServerError:
		return Reply{Status: http.StatusInternalServerError,
			Body: `{"error":"llama runner process has terminated: exit status 2"}`}
	case llmtest.ScenarioCutMidStream:
		return Reply{Deltas: llmtest.TextDeltas, PromptEvalCount: u.InputTokens, EvalCount: u.OutputTokens,
			Fault: FaultCutAfter, After: 2}
	}
	panic(fmt.Sprintf("fakeollama: unknown scenario %d", sc))
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request { return s.requests.All() }

// LastChat returns the body of the last valid chat request, or nil.
func (s *Server) LastChat() *ChatRequest {
	rs := s.requests.All()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Chat != nil {
			return rs[i].Chat
		}
	}
	return nil
}

// Release lets every stalled answer, current and future, go on.
func (s *Server) Release() { s.release.Open() }

// Canceled delivers one value each time a client goes away before its
// answer was complete (the fake saw the request context end).
func (s *Server) Canceled() <-chan struct{} { return s.cancels.C() }

// CanceledCount returns how many answers were abandoned by their client.
func (s *Server) CanceledCount() int { return s.cancels.Count() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body := fakeserver.ReadBody(r)
	idx := s.requests.Add(Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	switch {
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Ollama is running")
	case r.URL.Path == "/api/version" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"version": Version})
	case r.URL.Path == "/api/tags" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.tags())
	case r.URL.Path == "/api/show" && r.Method == http.MethodPost:
		s.show(w, body)
	case r.URL.Path == "/api/chat" && r.Method == http.MethodPost:
		s.chat(w, r, body, idx)
	case r.URL.Path == "/api/embed" && r.Method == http.MethodPost:
		s.embed(w, body)
	case r.URL.Path == "/api/chat":
		w.Header().Set("Allow", "POST")
		plain(w, http.StatusMethodNotAllowed, "405 method not allowed")
	default:
		plain(w, http.StatusNotFound, "404 page not found")
	}
}

// show answers POST /api/show as Ollama 0.17.4 does (recorded in
// reference/ollama-recorded/03-show.txt and 19-unknown-model-show.txt):
// the model's details for a known model, 404 naming it otherwise. The
// legacy "name" field is accepted as Ollama still does.
func (s *Server) show(w http.ResponseWriter, body []byte) {
	var req struct {
		Model string `json:"model"`
		Name  string `json:"name"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	model := req.Model
	if model == "" {
		model = req.Name
	}
	if model == "" {
		writeError(w, http.StatusBadRequest, "model is required")
		return
	}
	s.mu.Lock()
	known := s.models[baseName(model)]
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model '%s' not found", model))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"modelfile":  "# Modelfile generated by \"ollama show\"\nFROM " + model + ":latest\n",
		"parameters": "", "template": "{{ .Prompt }}",
		"details": map[string]any{"parent_model": "", "format": "gguf", "family": "llama", "families": []string{"llama"},
			"parameter_size": "135K", "quantization_level": "unknown"},
		"model_info":   map[string]any{"general.architecture": "llama", "llama.context_length": 2048},
		"capabilities": capabilities(model),
		"modified_at":  "2026-01-01T00:00:00Z",
	})
}

// chat validates like Ollama's ChatHandler, in its order: body, JSON,
// model name, model existence, thinking support.
func (s *Server) chat(w http.ResponseWriter, r *http.Request, body []byte, idx int) {
	var req ChatRequest
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "missing request body")
		return
	} else if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "model is required")
		return
	}
	s.requests.Update(idx, func(r *Request) { r.Chat = &req })
	s.mu.Lock()
	known := s.models[baseName(req.Model)]
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model '%s' not found", req.Model))
		return
	}
	if msg := checkFormat(req.Format); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if t := string(bytes.TrimSpace(req.Think)); t != "" && t != "false" && t != "null" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q does not support thinking", req.Model))
		return
	}
	if len(req.Messages) == 0 {
		writeJSON(w, http.StatusOK, line{Model: req.Model, CreatedAt: time.Now().UTC(),
			Message: lineMessage{Role: "assistant"}, Done: true, DoneReason: "load"})
		return
	}
	reply, ok := s.replies.Pop()
	if !ok {
		reply = tinyReply(&req)
	}
	if reply.Model == "" {
		reply.Model = req.Model
	}
	if reply.Status != 0 && reply.Status != http.StatusOK {
		fakeserver.CopyHeader(w.Header(), reply.Header)
		if reply.Body == "" {
			reply.Body = fmt.Sprintf(`{"error":%q}`, strings.ToLower(http.StatusText(reply.Status)))
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(reply.Status)
		io.WriteString(w, reply.Body)
		return
	}
	p := &player{Call: fakeserver.NewCall(w, r, &s.cancels, nil), w: w, release: s.release.C(), reply: reply, start: time.Now()}
	if req.Stream != nil && !*req.Stream {
		p.whole()
		return
	}
	p.stream()
}

func baseName(name string) string { return strings.TrimSuffix(name, ":latest") }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}
