package fakeopenai

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// HandlerOptions configure the load-benchmark handler.
type HandlerOptions struct {
	// Text is the answer, default "Hello, world". It is streamed in
	// Deltas pieces of about equal length (default 3).
	Text   string
	Deltas int
	// Model is the model reported; default "gpt-4o-mini".
	Model string
	// Delay waits before the first byte; DeltaDelay before each delta.
	Delay, DeltaDelay time.Duration
	// Usage is reported; default prompt 10 and completion Deltas.
	Usage *Usage
}

// NewHandler returns a fast OpenAI-compatible handler for load tests: it
// answers POST {any prefix}/chat/completions with a fixed text, stream
// (exact OpenAI SSE, usage chunk when stream_options.include_usage) or
// not, pre-rendered once. It checks no key and records nothing.
func NewHandler(opts HandlerOptions) http.Handler {
	if opts.Text == "" {
		opts.Text = "Hello, world"
	}
	if opts.Deltas <= 0 {
		opts.Deltas = 3
	}
	if opts.Model == "" {
		opts.Model = "gpt-4o-mini"
	}
	pieces := split(opts.Text, opts.Deltas)
	reply := &Reply{Text: pieces, Model: opts.Model, Usage: opts.Usage}
	h := &fixedHandler{opts: opts}
	for i, usage := range []bool{false, true} {
		req := &chatRequest{Model: opts.Model}
		if usage {
			req.StreamOptions = &streamOptions{IncludeUsage: true}
		}
		a := newAnswer(req, reply)
		a.id, a.created = "chatcmpl-fake", 1730000000
		for _, ev := range a.events() {
			h.events[i] = append(h.events[i], ev.Frame())
		}
		h.whole[i] = []byte(strings.Join(toStrings(h.events[i]), ""))
		if !usage {
			h.json = append(fakeserver.MustJSON(a.completion()), '\n')
		}
	}
	return h
}

type fixedHandler struct {
	opts   HandlerOptions
	events [2][][]byte // [include_usage] -> rendered SSE events
	whole  [2][]byte
	json   []byte
}

func (h *fixedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		writeError(w, http.StatusNotFound, APIError{Type: "invalid_request_error", Message: "Invalid URL (" + r.Method + " " + r.URL.Path + ")"}, nil)
		return
	}
	var req struct {
		Stream        bool           `json:"stream"`
		StreamOptions *streamOptions `json:"stream_options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, *invalid("", "We could not parse the JSON body of your request."), nil)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	c := fakeserver.NewCall(w, r, nil, nil) // times the answer; counts nothing
	if !c.Sleep(h.opts.Delay) {
		return
	}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(h.json)
		return
	}
	u := 0
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		u = 1
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if h.opts.DeltaDelay <= 0 {
		_, _ = w.Write(h.whole[u])
		return
	}
	for i, ev := range h.events[u] {
		if i > 0 && i <= h.opts.Deltas && !c.Sleep(h.opts.DeltaDelay) {
			return
		}
		if _, err := w.Write(ev); err != nil {
			return
		}
		_ = c.Flush()
	}
}

func toStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// split cuts s into n pieces of about equal length, on rune boundaries.
func split(s string, n int) []string {
	r := []rune(s)
	if n > len(r) {
		n = len(r)
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, string(r[i*len(r)/n:(i+1)*len(r)/n]))
	}
	return out
}
