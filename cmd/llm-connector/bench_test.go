package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// geminiAnswer is a minimal, fixed streamGenerateContent?alt=sse answer.
const geminiAnswer = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"MLOps combines ML \"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5,\"totalTokenCount\":5},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n" +
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"with DevOps.\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":6,\"totalTokenCount\":11},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n"

// benchService starts the wired service against upstream and returns
// its base URL and a stop function.
func benchService(b *testing.B, env map[string]string) (string, func()) {
	base := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": b.TempDir(), "GOOGLE_API_KEY_FILE": "",
		"LLM_FALLBACK": "none", "CACHE_ENABLED": "false", "LOG_LEVEL": "warn"}
	for k, v := range env {
		base[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- start(ctx, func(k string) string { return base[k] }, io.Discard, ready) }()
	return "http://" + <-ready, func() { cancel(); <-done }
}

func benchPost(b *testing.B, url, body string) {
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
	b.StopTimer()
}

// BenchmarkServiceV1 is BenchmarkServiceChat for /v1/chat/completions
// over an instant OpenAI-shaped upstream.
func BenchmarkServiceV1(b *testing.B) {
	up := httptest.NewServer(fakeopenai.NewHandler(fakeopenai.HandlerOptions{Text: "MLOps combines ML with DevOps.", Deltas: 2}))
	defer up.Close()
	url, stop := benchService(b, map[string]string{"LLM_PROVIDER": "openai", "OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": up.URL + "/v1"})
	defer stop()
	benchPost(b, url+"/v1/chat/completions", `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"What is MLOps?"}],"max_tokens":100}`)
}

// BenchmarkServiceChat drives the fully wired service (ledger, metrics,
// cache off) over loopback HTTP against an instant Gemini-shaped upstream:
// the service's whole CPU cost per /chat request, client and upstream
// included. Profile with -cpuprofile.
func BenchmarkServiceChat(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, geminiAnswer)
	}))
	defer up.Close()
	url, stop := benchService(b, map[string]string{"GOOGLE_API_KEY": "bench", "GOOGLE_GEMINI_BASE_URL": up.URL})
	defer stop()
	benchPost(b, url+"/chat", `{"prompt":"What is MLOps?","max_tokens":100}`)
}
