package router

import (
	"fmt"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// WithFallbacks sets the route's fallbacks by cause and returns r: when a
// request fails with an error of class cause (llm.Cause: context_window,
// content_filter, rate_limited, unavailable), rules[cause] serves it
// instead, within the same deadline. A rule whose router is nil sends the
// error as it is ("nowhere"). Without a rule, context_window and
// content_filter return at once and the others fall back along the chain,
// as before. A rule's route is never diverted again.
func (r *Router) WithFallbacks(rules map[string]*Router) *Router {
	r.rules = rules
	return r
}

// divertFor reports whether err has a fallback rule to run, and notes it.
func (s *run) divertFor(err error) bool {
	if s.diverted {
		return false
	}
	sub, ok := s.r.rules[llm.Cause(err)]
	if !ok || sub == nil {
		return false
	}
	s.divert, s.diverted = sub, true
	return true
}

// Prompt estimate: 4 bytes a token (the usual rate of English text with
// the hosted tokenizers; code and non-Latin text run denser, so a prompt
// near the window may still get the provider's 400, which the
// context_window rule catches), plus 4 tokens of framing per message.
const (
	bytesPerToken    = 4
	tokensPerMessage = 4
)

// EstimatePromptTokens is the router's stated estimate of req's prompt:
// its system text, messages, tool calls and tool declarations at 4 bytes
// a token, plus 4 tokens a message. Images are not counted.
func EstimatePromptTokens(req *llm.Request) int {
	n := len(req.System)
	msgs := 0
	for _, m := range req.Messages {
		n += len(m.Content)
		for _, tc := range m.ToolCalls {
			n += len(tc.Name) + len(tc.Arguments)
		}
		msgs++
	}
	for _, t := range req.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	return (n+bytesPerToken-1)/bytesPerToken + msgs*tokensPerMessage
}

// tooLong reports (and notes as the target's failure) that the prompt's
// estimate does not fit t's context window. With a context_window rule
// the rule's route takes the request at once.
func (s *run) tooLong(t *Target) bool {
	if t.ContextWindow <= 0 {
		return false
	}
	if s.prompt == 0 {
		s.prompt = EstimatePromptTokens(s.req)
	}
	if s.prompt <= t.ContextWindow {
		return false
	}
	err := &llm.Error{Kind: llm.KindInvalid, Provider: t.Provider, Detail: llm.DetailContextWindow,
		Message: fmt.Sprintf("prompt of about %d tokens (estimated) exceeds the context window of %s (%d tokens)", s.prompt, t.Name, t.ContextWindow)}
	s.fail(t.Name, err, false)
	s.divertFor(err)
	return true
}

// forced is the target to try once when every breaker is open: the
// first allowed one the prompt fits and that can take the request; -1
// when none does.
func (s *run) forced(allowed []int) int {
	for _, i := range allowed {
		t := &s.r.targets[i]
		if (t.ContextWindow <= 0 || s.prompt <= t.ContextWindow) && !s.isUnfit(t.Name) {
			return i
		}
	}
	return -1
}
