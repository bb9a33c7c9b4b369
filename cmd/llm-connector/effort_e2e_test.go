package main

import (
	"context"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// TestReasoningEffortE2E: openai-go's reasoning_effort on
// /v1/chat/completions reaches a Gemini 3 model as thinkingLevel, and
// the Responses API's reasoning.effort a Gemini 2.5 model as the level's
// thinkingBudget (the fake validates both as the API does).
func TestReasoningEffortE2E(t *testing.T) {
	gem := fakegemini.New(t)
	url, _ := startService(t, map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "LLM_FALLBACK": "none"})
	c := oaClient(url)
	ctx := context.Background()
	gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 3, CandidatesTokenCount: 1}, "ok"))
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "google/gemini-3-flash-preview",
		ReasoningEffort: shared.ReasoningEffortLow, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if g := gem.Last(t).Body.GenerationConfig; g == nil || g.ThinkingConfig == nil || g.ThinkingConfig.ThinkingLevel != "low" || g.ThinkingConfig.ThinkingBudget != nil {
		t.Errorf("chat completions: upstream generationConfig %+v", g)
	}

	gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 3, CandidatesTokenCount: 1}, "ok"))
	if _, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "google/gemini-2.5-flash",
		Reasoning: shared.ReasoningParam{Effort: shared.ReasoningEffortMedium},
		Input:     responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}); err != nil {
		t.Fatal(err)
	}
	if g := gem.Last(t).Body.GenerationConfig; g == nil || g.ThinkingConfig == nil || g.ThinkingConfig.ThinkingBudget == nil ||
		*g.ThinkingConfig.ThinkingBudget != 8192 || g.ThinkingConfig.ThinkingLevel != "" {
		t.Errorf("responses: upstream generationConfig %+v", g)
	}
}
