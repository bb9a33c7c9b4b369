package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func BenchmarkDecodeGemini(b *testing.B) {
	body := []byte(`{"contents":[{"role":"user","parts":[{"text":"hello there"}]}],"systemInstruction":{"parts":[{"text":"be brief"}]},"generationConfig":{"maxOutputTokens":100,"temperature":0.5}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, f := DecodeGemini(body); f != nil {
			b.Fatal(f.message)
		}
	}
}

// BenchmarkSurfacesInProcess compares one non-stream request's cost in
// the service, per surface, over the same instant fake provider: the
// Gemini surface must cost about what /v1 does.
func BenchmarkSurfacesInProcess(b *testing.B) {
	for _, s := range []struct{ name, path, body string }{
		{"chat", "/chat", `{"prompt":"What is MLOps?","max_tokens":100}`},
		{"openai", "/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":"What is MLOps?"}],"max_tokens":100}`},
		{"gemini", "/v1beta/models/default:generateContent", `{"contents":[{"parts":[{"text":"What is MLOps?"}]}],"generationConfig":{"maxOutputTokens":100}}`},
	} {
		b.Run(s.name, func(b *testing.B) {
			h := benchServer(b, nil)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", s.path, strings.NewReader(s.body))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
