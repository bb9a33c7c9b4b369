package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// syncBuffer collects the service's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startService runs the real binary's wiring in-process and returns its
// base URL and log; it stops when the test ends and checks a clean exit.
func startService(t *testing.T, env map[string]string) (string, *syncBuffer) {
	t.Helper()
	base := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir(), "GOOGLE_API_KEY_FILE": "",
		"LLM_RETRY_BASE_DELAY": "1ms", "LLM_RETRY_MAX_DELAY": "5ms", "SHUTDOWN_TIMEOUT": "5s"}
	for k, v := range env {
		base[k] = v
	}
	getenv := func(k string) string { return base[k] }
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- start(ctx, getenv, logs, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("service did not start: %v\n%s", err, logs)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service exit: %v", err)
		}
	})
	return "http://" + addr, logs
}

func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("status %d, body not JSON: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// TestFallbackToRealOllama: Gemini keeps answering 429, the service
// retries, then falls back to the real Ollama test server, which answers
// with its fixed sentence and real token counts.
func TestFallbackToRealOllama(t *testing.T) {
	ollamaURL := fakeollama.RealURL(t)
	gem := fakegemini.New(t)
	for range 4 {
		gem.Enqueue(fakegemini.RateLimitReply("0.001s"))
	}
	url, logs := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"OLLAMA_HOST": ollamaURL, "OLLAMA_MODEL": "tiny",
	})
	status, body := postJSON(t, url+"/chat", `{"prompt":"hello","max_tokens":50}`)
	if status != 200 {
		t.Fatalf("status %d: %v", status, body)
	}
	if body["provider"] != "ollama" || body["model"] != "tiny" || body["response"] != fakeollama.TinyAnswer {
		t.Errorf("body = %v", body)
	}
	if tok, _ := body["tokens_used"].(float64); tok <= 11 {
		t.Errorf("tokens_used = %v, want prompt tokens + 11", body["tokens_used"])
	}
	if n := len(gem.Requests()); n != 4 {
		t.Errorf("gemini got %d requests, want 4 (1 + 3 retries)", n)
	}
	if strings.Contains(logs.String(), gem.Key) {
		t.Error("the Gemini key appears in the log")
	}
}

// TestGeminiPrimary: the happy path through the real wiring, and /info
// reporting the real configuration.
func TestGeminiPrimary(t *testing.T) {
	gem := fakegemini.New(t)
	gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 7, CandidatesTokenCount: 4, TotalTokenCount: 11}, "MLOps ", "is DevOps for ML."))
	url, _ := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
	})
	status, body := postJSON(t, url+"/chat", `{"prompt":"What is MLOps?","context":"one line"}`)
	if status != 200 || body["provider"] != "google" || body["response"] != "MLOps is DevOps for ML." || body["tokens_used"] != 11.0 {
		t.Fatalf("status %d body %v", status, body)
	}
	rec := gem.Last(t)
	if strings.Contains(rec.Query.Encode(), gem.Key) || rec.Header.Get("x-goog-api-key") != gem.Key || rec.Body.SystemInstruction == nil {
		t.Errorf("key not in header only, or context not sent as system instruction: %+v", rec)
	}
	resp, err := http.Get(url + "/info")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info["provider"] != "google" || info["model"] != "gemini-2.5-flash" || info["fallback"] != "ollama" || info["mlflow_enabled"] != false {
		t.Errorf("info = %v", info)
	}
	resp, err = http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{
		`gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="google"`,
		`llm_connector_http_requests_total{code="200",route="POST /chat"} 1`,
		`llm_connector_overhead_seconds_count 1`,
		`llm_connector_breaker_state{target="google/gemini-2.5-flash"} 0`,
	} {
		if !strings.Contains(string(m), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// TestNoGoogleKey: the service starts without a key, says so, and
// reports the state in /health.
func TestNoGoogleKey(t *testing.T) {
	url, logs := startService(t, map[string]string{"OLLAMA_HOST": "127.0.0.1:1"})
	if !strings.Contains(logs.String(), "GOOGLE_API_KEY is not set") {
		t.Errorf("no warning in the log:\n%s", logs)
	}
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	comps, _ := h["components"].(map[string]any)
	g, _ := comps["google"].(map[string]any)
	if h["service"] != "llm-service" || g["reason"] != "GOOGLE_API_KEY is not set" {
		t.Errorf("health = %v", h)
	}
}

// TestBadConfigListsEveryProblem fails at start with one message.
func TestBadConfigListsEveryProblem(t *testing.T) {
	err := start(context.Background(), func(k string) string {
		return map[string]string{"LLM_RETRIES": "x", "LOG_LEVEL": "loud"}[k]
	}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "LLM_RETRIES") || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("err = %v", err)
	}
}

// TestGracefulShutdownDrains: a request in flight when shutdown starts
// still completes.
func TestGracefulShutdownDrains(t *testing.T) {
	gem := fakegemini.New(t)
	gem.Enqueue(fakegemini.Reply{Deltas: []string{"slow ", "answer"}, Delay: 300 * time.Millisecond,
		Usage: fakegemini.Usage{PromptTokenCount: 2, CandidatesTokenCount: 2, TotalTokenCount: 4}})
	base := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir(), "GOOGLE_API_KEY_FILE": "",
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1"}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- start(ctx, func(k string) string { return base[k] }, io.Discard, ready) }()
	addr := <-ready
	got := make(chan map[string]any, 1)
	go func() {
		_, body := postJSON(t, "http://"+addr+"/chat", `{"prompt":"hi"}`)
		got <- body
	}()
	for len(gem.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // SIGTERM
	if body := <-got; body["response"] != "slow answer" {
		t.Errorf("in-flight request lost: %v", body)
	}
	if err := <-done; err != nil {
		t.Errorf("exit: %v", err)
	}
}
