package main

import (
	"context"
	"testing"

	"google.golang.org/genai"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// TestGeminiSDKCandidates: candidateCount 2 through the Gemini-native
// surface, with the genai SDK as the client: the fake Gemini is asked
// for two candidates and the SDK gets both, each with its index, streamed
// and not.
func TestGeminiSDKCandidates(t *testing.T) {
	e := startGeminiSurface(t, nil)
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{CandidateCount: 2}
	e.gem.Enqueue(fakegemini.Reply{Deltas: []string{"red"}, Alternatives: [][]string{{"blue"}}, Usage: fakegemini.Usage{PromptTokenCount: 3, CandidatesTokenCount: 2}})
	resp, err := e.client.Models.GenerateContent(ctx, "google/gemini-2.5-flash", genai.Text("name a colour"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]string{}
	for _, c := range resp.Candidates {
		if c.Content != nil && len(c.Content.Parts) > 0 {
			got[c.Index] += c.Content.Parts[0].Text
		}
		if c.FinishReason != genai.FinishReasonStop {
			t.Errorf("candidate %d finish %q", c.Index, c.FinishReason)
		}
	}
	if len(resp.Candidates) != 2 || got[0] != "red" || got[1] != "blue" {
		t.Fatalf("candidates %v (%d)", got, len(resp.Candidates))
	}
	if g := e.gem.Last(t).Body.GenerationConfig; g == nil || g.CandidateCount != 2 {
		t.Errorf("candidateCount not sent upstream: %+v", g)
	}

	e.gem.Enqueue(fakegemini.Reply{Deltas: []string{"gre", "en"}, Alternatives: [][]string{{"yel", "low"}}})
	streamed, finish := map[int32]string{}, map[int32]genai.FinishReason{}
	for chunk, err := range e.client.Models.GenerateContentStream(ctx, "google/gemini-2.5-flash", genai.Text("another colour"), cfg) {
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunk.Candidates {
			if c.Content != nil {
				for _, p := range c.Content.Parts {
					streamed[c.Index] += p.Text
				}
			}
			if c.FinishReason != "" {
				finish[c.Index] = c.FinishReason
			}
		}
	}
	if streamed[0] != "green" || streamed[1] != "yellow" || finish[0] != genai.FinishReasonStop || finish[1] != genai.FinishReasonStop {
		t.Errorf("streamed %v finish %v", streamed, finish)
	}
	e.checkKeys(t)
}

// TestGeminiSDKThinkingLevel: the SDK's thinkingLevel reaches a Gemini 3
// model as thinkingLevel (the fake validates it as the API does).
func TestGeminiSDKThinkingLevel(t *testing.T) {
	e := startGeminiSurface(t, nil)
	e.gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 3, CandidatesTokenCount: 1}, "ok"))
	cfg := &genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{ThinkingLevel: genai.ThinkingLevelLow}}
	resp, err := e.client.Models.GenerateContent(context.Background(), "google/gemini-3-flash-preview", genai.Text("hi"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "ok" {
		t.Errorf("answer %q", resp.Text())
	}
	g := e.gem.Last(t).Body.GenerationConfig
	if g == nil || g.ThinkingConfig == nil || g.ThinkingConfig.ThinkingLevel != "low" || g.ThinkingConfig.ThinkingBudget != nil {
		t.Errorf("upstream thinkingConfig %+v", g)
	}
}
