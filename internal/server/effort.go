package server

import (
	"encoding/json"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// applyEffort maps OpenAI's reasoning effort onto req: minimal, low,
// medium and high are llm.Request.ThinkingLevel (each adapter sends what
// its model takes: Gemini a level or the family's budget, OpenAI
// reasoning_effort); none turns thinking off (ThinkingBudget 0, which
// Gemini 3 cannot do: it then thinks at its lowest level). param names
// the field in the 400 of any other value.
func applyEffort(param, effort string, req *llm.Request) *oaFail {
	switch effort {
	case "":
	case "none":
		off := 0
		req.ThinkingBudget = &off
	case "minimal", "low", "medium", "high":
		req.ThinkingLevel = effort
	default:
		return invalidParam(param, "%s must be none, minimal, low, medium or high, got %q", param, truncate(effort, 32))
	}
	return nil
}

// rsReasoning is the Responses API's reasoning object. The gateway keeps
// no reasoning items and writes no summaries: summary may only be
// "auto" (the model's choice, which here is none).
type rsReasoning struct {
	Effort  string `json:"effort"`
	Summary string `json:"summary"`
}

// applyReasoning maps the Responses API's reasoning.effort onto req.
func applyReasoning(raw json.RawMessage, req *llm.Request) *oaFail {
	if !nonNull(raw) {
		return nil
	}
	var r rsReasoning
	if err := json.Unmarshal(raw, &r); err != nil {
		return invalidParam("reasoning", "reasoning must be an object with effort (none, minimal, low, medium, high)")
	}
	if r.Summary != "" && r.Summary != "auto" {
		return invalidParam("reasoning.summary", "reasoning summaries are not supported by this gateway (summary %q)", truncate(r.Summary, 32))
	}
	return applyEffort("reasoning.effort", r.Effort, req)
}

// gmThinkingLevel reads Gemini's thinkingConfig.thinkingLevel: MINIMAL,
// LOW, MEDIUM or HIGH in any case (the genai SDKs send the enum names),
// THINKING_LEVEL_UNSPECIFIED or null for none. Which levels a model
// takes is the backend's to say (a 2.5 model gets the level's budget).
func gmThinkingLevel(raw json.RawMessage) (string, *gmFail) {
	if !nonNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", gmInvalid("Invalid value at 'generation_config.thinking_config.thinking_level': want MINIMAL, LOW, MEDIUM or HIGH")
	}
	switch l := strings.ToLower(s); l {
	case "", "thinking_level_unspecified":
		return "", nil
	case "minimal", "low", "medium", "high":
		return l, nil
	}
	return "", gmInvalid("Invalid value at 'generation_config.thinking_config.thinking_level' (ThinkingLevel), %q", truncate(s, 32))
}
