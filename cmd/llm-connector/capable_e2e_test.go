package main

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// TestCapabilityRouting: the router skips, before sending, a backend
// that cannot take the request (the real Ollama's tiny cannot see and
// answers one candidate) and the capable one serves it. When the capable
// primary is down, the answer is its failure (503: retry later), not the
// text-only fallback's refusal; the message says why tiny was skipped.
func TestCapabilityRouting(t *testing.T) {
	gem := fakegemini.New(t)
	real := fakeollama.RealURL(t)
	image := []openai.ChatCompletionMessageParamUnion{imageMessage("data:image/png;base64," + base64.StdEncoding.EncodeToString(tinyPNG))}

	// Gemini first, tiny as fallback: Gemini down.
	url, _ := startService(t, map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"LLM_FALLBACK": "ollama", "OLLAMA_HOST": real, "OLLAMA_MODEL": "tiny", "LLM_RETRIES": "0"})
	gem.Enqueue(fakegemini.ErrorReply(http.StatusServiceUnavailable, "The model is overloaded."))
	c := oaClient(url)
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "default", Messages: image})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Gemini down: err = %v, want 503 (the capable backend's failure)", err)
	}
	for _, s := range []string{"google/", "ollama/tiny", "does not accept images"} {
		if !strings.Contains(apiErr.Message, s) {
			t.Errorf("Gemini down: message %q does not say %q", apiErr.Message, s)
		}
	}

	// tiny first, Gemini as fallback: images and n=2 go to Gemini, text
	// stays on tiny.
	url, _ = startService(t, map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "google", "OLLAMA_HOST": real, "OLLAMA_MODEL": "tiny"})
	c = oaClient(url)
	before := len(gem.Requests())
	gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 260, CandidatesTokenCount: 3}, "a red dot"))
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "default", Messages: image})
	if err != nil || resp.Choices[0].Message.Content != "a red dot" {
		t.Fatalf("image with a text-only primary: %v, %+v; want Gemini's answer", err, resp)
	}
	gem.Enqueue(fakegemini.Reply{Deltas: []string{"red"}, Alternatives: [][]string{{"blue"}}})
	resp, err = c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "default", N: openai.Int(2),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("name a colour")}})
	if err != nil || len(resp.Choices) != 2 || resp.Choices[1].Message.Content != "blue" {
		t.Fatalf("n=2 with a one-candidate primary: %v, %+v; want Gemini's two choices", err, resp)
	}
	resp, err = c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "default",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil || !strings.Contains(resp.Choices[0].Message.Content, "quick brown fox") {
		t.Fatalf("text: %v, %+v; want tiny's answer", err, resp)
	}
	if n := len(gem.Requests()) - before; n != 2 {
		t.Errorf("%d requests reached Gemini, want 2 (the image and n=2; text stays on tiny)", n)
	}
}
