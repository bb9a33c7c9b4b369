package llm

import "errors"

// Details refine an error's Kind where the router acts on the difference.
const (
	// DetailContextWindow: a 400 saying the prompt does not fit the
	// model's context window (Gemini "input token count … exceeds",
	// OpenAI context_length_exceeded, Anthropic "prompt is too long").
	DetailContextWindow = "context_window"
	// DetailDailyQuota: a 429 of a per-day quota (Gemini quotaId
	// …PerDay); RetryAfter then reaches the quota's reset.
	DetailDailyQuota = "daily_quota"
)

// Error classes a route's fallback rules are keyed by (Cause).
const (
	CauseContextWindow = "context_window"
	CauseContentFilter = "content_filter"
	CauseRateLimited   = "rate_limited"
	CauseUnavailable   = "unavailable"
)

// Cause returns the fallback class of err: context_window (a prompt too
// long for the model), content_filter (a safety block), rate_limited,
// unavailable (5xx, timeouts, unreachable), or "" for anything else.
func Cause(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Detail == DetailContextWindow {
		return CauseContextWindow
	}
	switch KindOf(err) {
	case KindBlocked:
		return CauseContentFilter
	case KindRateLimited:
		return CauseRateLimited
	case KindUnavailable, KindTimeout:
		return CauseUnavailable
	}
	return ""
}

// DetailOf returns the Detail of the first *Error in err's chain.
func DetailOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return ""
}
