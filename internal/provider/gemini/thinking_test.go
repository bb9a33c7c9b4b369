package gemini_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
)

// TestThinkingPerModelFamily sends each setting to the fake, which
// answers 400 as Gemini does to a budget and a level together, to a
// level on 2.5 and to a level a Pro model lacks: every row must pass and
// carry exactly the one field its family takes.
func TestThinkingPerModelFamily(t *testing.T) {
	intp := func(n int) *int { return &n }
	tests := []struct {
		name        string
		model       string
		cfgBudget   int
		cfgLevel    string
		reqBudget   *int
		reqLevel    string
		wantBudget  *int
		wantLevel   string
		wantMaxOut  int
		wantNoThink bool
	}{
		{name: "2.5 flash default off", model: "gemini-2.5-flash", wantBudget: intp(0), wantMaxOut: 64},
		{name: "2.5 flash configured budget", model: "gemini-2.5-flash", cfgBudget: 512, wantBudget: intp(512), wantMaxOut: 576},
		{name: "2.5 flash configured level becomes budget", model: "gemini-2.5-flash", cfgLevel: "low", wantBudget: intp(1024), wantMaxOut: 1088},
		{name: "2.5 flash request level high is dynamic", model: "gemini-2.5-flash", reqLevel: "high", wantBudget: intp(-1), wantMaxOut: 64 + gemini.DynamicThinkingHeadroom},
		{name: "2.5 pro minimal is its floor", model: "gemini-2.5-pro", reqLevel: "minimal", wantBudget: intp(128), wantMaxOut: 192},
		{name: "3 flash default off is minimal", model: "gemini-3-flash-preview", wantLevel: "minimal", wantMaxOut: 64 + gemini.DynamicThinkingHeadroom},
		{name: "3 flash configured level", model: "gemini-3-flash-preview", cfgBudget: 512, cfgLevel: "medium", wantLevel: "medium", wantMaxOut: 64 + gemini.DynamicThinkingHeadroom},
		{name: "3 flash request level wins over config", model: "gemini-3-flash-preview", cfgLevel: "medium", reqLevel: "HIGH", wantLevel: "high", wantMaxOut: 64 + gemini.DynamicThinkingHeadroom},
		{name: "3 flash request budget becomes level", model: "gemini-3-flash-preview", cfgLevel: "high", reqBudget: intp(800), wantLevel: "low", wantMaxOut: 64 + gemini.DynamicThinkingHeadroom},
		{name: "3 flash dynamic budget is the model default", model: "gemini-3-flash-preview", cfgBudget: -1, wantNoThink: true, wantMaxOut: 64 + gemini.DynamicThinkingHeadroom},
		{name: "3 pro off is low", model: "gemini-3-pro-preview", wantLevel: "low", wantMaxOut: 64 + gemini.DynamicThinkingHeadroom},
		{name: "3 pro medium is high", model: "models/gemini-3-pro-preview", reqLevel: "medium", wantLevel: "high", wantMaxOut: 64 + gemini.DynamicThinkingHeadroom},
		{name: "2.0 keeps a level as an explicit budget", model: "gemini-2.0-flash", cfgLevel: "low", wantBudget: intp(1024), wantMaxOut: 1088},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakegemini.New(t)
			c := gemini.New(gemini.Config{BaseURL: srv.URL, APIKey: srv.Key, HTTPClient: srv.Client(),
				ThinkingBudget: tt.cfgBudget, ThinkingLevel: tt.cfgLevel})
			req := hello(tt.model)
			req.ThinkingBudget, req.ThinkingLevel = tt.reqBudget, tt.reqLevel
			srv.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 2, CandidatesTokenCount: 1}, "ok"))
			if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
				t.Fatalf("the fake refused the request: %v", err)
			}
			gc := srv.Last(t).Body.GenerationConfig
			if gc == nil {
				t.Fatal("no generationConfig sent")
			}
			if gc.MaxOutputTokens != tt.wantMaxOut {
				t.Errorf("maxOutputTokens = %d, want %d", gc.MaxOutputTokens, tt.wantMaxOut)
			}
			if tt.wantNoThink {
				if gc.ThinkingConfig != nil {
					t.Errorf("thinkingConfig %+v, want none (the model's default)", gc.ThinkingConfig)
				}
				return
			}
			if gc.ThinkingConfig == nil {
				t.Fatal("no thinkingConfig sent")
			}
			got := *gc.ThinkingConfig
			want := fakegemini.ThinkingConfig{ThinkingBudget: tt.wantBudget, ThinkingLevel: tt.wantLevel,
				// A request that asks to think is shown the thought summaries.
				IncludeThoughts: tt.reqBudget != nil && *tt.reqBudget != gemini.ThinkingOff}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("thinkingConfig (-want +got):\n%s", diff)
			}
		})
	}
}
