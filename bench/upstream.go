package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// DefaultChunks is the number of text chunks of a streamed answer.
const DefaultChunks = 20

// answerText is the benchmark answer: chunks pieces of five bytes
// ("tick "), about a token each; a real answer has hundreds.
func answerText(chunks int) []string {
	out := make([]string, chunks)
	for i := range out {
		out[i] = "tick "
	}
	return out
}

// geminiHandler answers POST /v1beta/{model}:streamGenerateContent?alt=sse
// with the answer in the exact shape of wire.md §1.4 (one
// "data: <GenerateContentResponse JSON>" line and a blank line per event,
// every chunk with modelVersion, responseId and a usageMetadata snapshot,
// finishReason on the last one only, no terminator event), and POST
// /v1beta/{model}:generateContent with the whole answer as one
// GenerateContentResponse, indented as Google sends it (§1.3). Both are
// rendered once; it checks no key.
type geminiHandler struct {
	delay, deltaDelay time.Duration
	events            [][]byte
	whole             []byte // the stream
	unary             []byte // the generateContent body
}

func newGeminiHandler(delay, deltaDelay time.Duration, chunks int) *geminiHandler {
	const model, id = "gemini-2.5-flash", "benchResponse0001"
	deltas := answerText(chunks)
	h := &geminiHandler{delay: delay, deltaDelay: deltaDelay}
	for i, d := range deltas {
		finish := ""
		if i == len(deltas)-1 {
			finish = `,"finishReason":"STOP"`
		}
		out := i + 1
		ev := fmt.Sprintf(`data: {"candidates":[{"content":{"parts":[{"text":%q}],"role":"model"}%s,"index":0}],`+
			`"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":%d,"totalTokenCount":%d},`+
			`"modelVersion":%q,"responseId":%q}`+"\n\n", d, finish, out, 10+out, model, id)
		h.events = append(h.events, []byte(ev))
	}
	h.whole = bytes.Join(h.events, nil)
	n := len(deltas)
	unary := map[string]any{
		"candidates": []any{map[string]any{
			"content":      map[string]any{"parts": []any{map[string]string{"text": strings.Join(deltas, "")}}, "role": "model"},
			"finishReason": "STOP", "index": 0,
		}},
		"usageMetadata": map[string]any{"promptTokenCount": 10, "candidatesTokenCount": n, "totalTokenCount": 10 + n,
			"promptTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": 10}}},
		"modelVersion": model, "responseId": id,
	}
	var err error
	if h.unary, err = json.MarshalIndent(unary, "", "  "); err != nil {
		panic(err)
	}
	h.unary = append(h.unary, '\n')
	return h
}

func (h *geminiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	stream := strings.HasSuffix(r.URL.Path, ":streamGenerateContent") && r.URL.Query().Get("alt") == "sse"
	if r.Method != http.MethodPost || !stream && !strings.HasSuffix(r.URL.Path, ":generateContent") {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"code":404,"message":"not found (bench fake answers generateContent and streamGenerateContent?alt=sse only)","status":"NOT_FOUND"}}`)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	if h.delay > 0 && !pause(r.Context(), h.delay) {
		return
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(h.unary)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	if h.deltaDelay <= 0 {
		_, _ = w.Write(h.whole)
		return
	}
	rc := http.NewResponseController(w)
	for i, ev := range h.events {
		if i > 0 && !pause(r.Context(), h.deltaDelay) {
			return
		}
		if _, err := w.Write(ev); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// upstream is the fake provider: Gemini under /v1beta/, OpenAI under /v1/.
// Both answer a non-stream request with one JSON body and a stream with
// chunks text events.
type upstream struct {
	URL string
	srv *http.Server
}

func startUpstream(delay, deltaDelay time.Duration, chunks int) (*upstream, error) {
	if chunks <= 0 {
		chunks = DefaultChunks
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upstream: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1beta/", newGeminiHandler(delay, deltaDelay, chunks))
	mux.Handle("/v1/", fakeopenai.NewHandler(fakeopenai.HandlerOptions{Delay: delay, DeltaDelay: deltaDelay,
		Text: strings.Join(answerText(chunks), ""), Deltas: chunks,
		Usage: &fakeopenai.Usage{PromptTokens: 10, CompletionTokens: chunks}}))
	u := &upstream{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

func (u *upstream) Close() { _ = u.srv.Close() }
