package gemini

import (
	"strconv"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Thinking levels of Gemini 3 (thinkingConfig.thinkingLevel). The Pro
// models accept low and high; Flash and Flash-Lite all four. Every
// Gemini 3 model defaults to high and none can turn thinking off.
// Source: ai.google.dev/gemini-api/docs/thinking (checked 2025-12-10).
const (
	LevelMinimal = "minimal"
	LevelLow     = "low"
	LevelMedium  = "medium"
	LevelHigh    = "high"
)

// thinking is the configured thinking setting of a client: a 2.5-style
// budget and, when set, a Gemini 3 level. Each model family gets the one
// it speaks, translated when only the other is set: Gemini answers 400
// when a request carries both.
type thinking struct {
	budget int
	level  string
}

// resolve picks what applies to req: the request's own level, else its
// own budget, else the configured level, else the configured budget.
// Exactly one of the results is meaningful: level != "" wins.
func (t thinking) resolve(req *llm.Request) (budget int, level string) {
	switch {
	case req.ThinkingLevel != "":
		return 0, strings.ToLower(req.ThinkingLevel)
	case req.ThinkingBudget != nil:
		return *req.ThinkingBudget, ""
	}
	return t.budget, t.level
}

// plan is the thinkingConfig and maxOutputTokens of req: thinkingLevel
// for Gemini 3 and later, thinkingBudget (budgetPlan) for 2.5.
func (t thinking) plan(req *llm.Request) (*thinkingConfig, int) {
	budget, level := t.resolve(req)
	if !usesLevel(req.Model) {
		if level != "" {
			budget = budgetOfLevel(level)
		}
		return budgetPlan(req.Model, req.MaxTokens, budget)
	}
	if level == "" {
		level = levelOfBudget(budget)
	}
	level = supportedLevel(req.Model, level)
	maxOut := 0
	if req.MaxTokens > 0 {
		// Gemini 3 counts thoughts against maxOutputTokens as 2.5 does;
		// a level has no token cap, so it gets the dynamic headroom.
		maxOut = min(req.MaxTokens+DynamicThinkingHeadroom, maxOutputCap)
	}
	if level == "" {
		return nil, maxOut // the model's default (high)
	}
	return &thinkingConfig{ThinkingLevel: level}, maxOut
}

// usesLevel reports whether model is Gemini 3 or later, which takes
// thinkingLevel ("gemini-3-pro-preview", "gemini-3.5-flash").
func usesLevel(model string) bool {
	id, ok := strings.CutPrefix(modelID(model), "gemini-")
	if !ok {
		return false
	}
	end := strings.IndexFunc(id, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return false
	}
	major, err := strconv.Atoi(id[:end])
	return err == nil && major >= 3
}

// levelOfBudget maps a 2.5 budget onto a level: off (0) is the lowest
// level, dynamic (-1) the model's default, a cap the nearest level.
func levelOfBudget(budget int) string {
	switch {
	case budget == ThinkingOff:
		return LevelMinimal
	case budget < 0:
		return ""
	case budget <= 1024:
		return LevelLow
	case budget <= 8192:
		return LevelMedium
	}
	return LevelHigh
}

// budgetOfLevel maps a level onto a 2.5 budget (the inverse of
// levelOfBudget; high is dynamic).
func budgetOfLevel(level string) int {
	switch level {
	case LevelMinimal:
		return ThinkingOff
	case LevelLow:
		return 1024
	case LevelMedium:
		return 8192
	}
	return ThinkingDynamic
}

// supportedLevel moves a level the model does not take to the nearest
// one it does: the Pro models have only low and high.
func supportedLevel(model, level string) string {
	if !strings.Contains(modelID(model), "-pro") {
		return level
	}
	switch level {
	case LevelMinimal:
		return LevelLow
	case LevelMedium:
		return LevelHigh
	}
	return level
}
