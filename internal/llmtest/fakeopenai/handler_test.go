package fakeopenai_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// BenchmarkHandlerStream measures the load-test handler's own cost per
// streamed answer (no network).
func BenchmarkHandlerStream(b *testing.B) {
	h := fakeopenai.NewHandler(fakeopenai.HandlerOptions{Text: strings.Repeat("word ", 100), Deltas: 100})
	const body = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
