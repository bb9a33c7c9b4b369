package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeanthropic"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// TestRoutingThroughEveryProvider sends one request to each provider by
// its provider/model name, one through an OpenAI-compatible server
// declared in the configuration file, and one through a three-step alias
// chain whose first two steps fail.
func TestRoutingThroughEveryProvider(t *testing.T) {
	gem, oll, oai, ant, compat := fakegemini.New(t), fakeollama.New(t), fakeopenai.New(t), fakeanthropic.New(t), fakeopenai.New(t)
	cfgFile := filepath.Join(t.TempDir(), "llm.yaml")
	yaml := `providers:
  vllm:
    type: openai
    base_url: ` + compat.BaseURL() + `
    api_key_env: VLLM_TEST_KEY
    model: mistral-7b
aliases:
  chain:
    targets: [google/gemini-2.5-flash, openai/gpt-4o-mini, anthropic/claude-sonnet-4-5]
    retries: 0
`
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"OLLAMA_HOST": oll.URL, "OLLAMA_MODEL": "tiny",
		"OPENAI_API_KEY": fakeopenai.Key, "OPENAI_BASE_URL": oai.BaseURL(),
		"ANTHROPIC_API_KEY": fakeanthropic.Key, "ANTHROPIC_BASE_URL": ant.URL,
		"LLM_CONFIG": cfgFile, "CACHE_ENABLED": "false", "VLLM_TEST_KEY": fakeopenai.Key,
	})
	tests := []struct {
		model, provider, wantModel string
	}{
		{"google/gemini-2.5-flash", "google", "gemini-2.5-flash"},
		{"ollama/tiny", "ollama", "tiny"},
		{"openai/gpt-4o-mini", "openai", "gpt-4o-mini"},
		{"anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"},
		{"vllm/mistral-7b", "vllm", "mistral-7b"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			status, body := postJSON(t, url+"/chat", `{"prompt":"hello","model":"`+tt.model+`"}`)
			if status != 200 || body["provider"] != tt.provider || body["model"] != tt.wantModel || body["response"] == "" {
				t.Errorf("status %d body %v", status, body)
			}
		})
	}

	gem.Enqueue(fakegemini.ErrorReply(500, "internal error"))
	oai.Enqueue(fakeopenai.Reply{Status: 503, Error: fakeopenai.APIError{Message: "overloaded", Type: "server_error"}})
	ant.Enqueue(fakeanthropic.Reply{Text: []string{"third ", "time lucky"}})
	status, body := postJSON(t, url+"/chat", `{"prompt":"hello","model":"chain"}`)
	if status != 200 || body["provider"] != "anthropic" || body["response"] != "third time lucky" {
		t.Fatalf("chain: status %d body %v", status, body)
	}
}
