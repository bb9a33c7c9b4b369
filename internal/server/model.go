package server

import "fmt"

// Bounds on the names a caller chooses. A model name becomes a route, a
// circuit breaker, a metric label, a log field and a ledger column, so it
// is checked before anything is built.
const (
	maxModelName    = 256
	maxProviderName = 64
)

// modelChars lists what a model name may hold besides letters and
// digits: enough for "provider/model", Ollama tags ("llama3.2:1b",
// "hf.co/org/repo:Q4_K_M"), fine-tune IDs ("ft:gpt-4o-mini:acme::id")
// and versions ("claude-3-5-sonnet@20240620").
const modelChars = "._-:/@+"

// nameRule is the public statement of the rule, for error messages.
func nameRule(field string, max int) string {
	return fmt.Sprintf("%s must be at most %d characters of letters, digits and %s", field, max, modelChars)
}

// checkModelName returns "" when v is a valid name for field, else the
// rule it breaks (never the value itself, which may be huge).
func checkModelName(field, v string, max int) string {
	if len(v) > max {
		return nameRule(field, max) + fmt.Sprintf(" (got %d bytes)", len(v))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if c < 0x80 && containsByte(modelChars, c) {
			continue
		}
		return nameRule(field, max)
	}
	return ""
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// maxLogValue bounds a caller's value copied into a log line.
const maxLogValue = 256

// cutLog bounds s for a log line, marking the cut.
func cutLog(s string) string {
	if len(s) <= maxLogValue {
		return s
	}
	return s[:maxLogValue] + "...(cut)"
}
