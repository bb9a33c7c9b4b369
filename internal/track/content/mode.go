package content

import (
	"fmt"
	"strings"

	"github.com/llm-connector/llm-connector/internal/track"
)

// Mode is how much of an interaction's content a record keeps
// (MLFLOW_LOG_CONTENT).
type Mode string

// The modes. Full is the default.
const (
	Full     Mode = "full"     // prompt, system, response and error as they were
	Redacted Mode = "redacted" // the same, with e-mails, phones, cards, IBANs and secrets masked
	None     Mode = "none"     // no content: tokens, latency, cost and metadata only
)

// Modes lists the valid modes, for messages.
const Modes = "full, redacted or none"

// ParseMode reads a mode; "" is Full.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return Full, nil
	case Full, Redacted, None:
		return m, nil
	}
	return "", fmt.Errorf("log content %q: want %s", s, Modes)
}

// Policy is the global mode and the per-caller overrides. An override
// replaces the global mode for that caller, in either direction: a key
// set to "full" logs full content under a global "redacted".
type Policy struct {
	Default Mode
	// ByCaller maps an API key ID or a user to its mode. The key ID's
	// entry wins over the user's.
	ByCaller map[string]Mode
}

// ModeFor returns the mode for a caller.
func (p *Policy) ModeFor(keyID, user string) Mode {
	if m, ok := p.ByCaller[keyID]; ok && keyID != "" {
		return m
	}
	if m, ok := p.ByCaller[user]; ok && user != "" {
		return m
	}
	if p.Default == "" {
		return Full
	}
	return p.Default
}

// Clean applies the caller's mode to c in place. It is the hook the
// gateway calls before a record reaches any sink.
func (p *Policy) Clean(c *track.Call) { Apply(c, p.ModeFor(c.KeyID, c.User)) }

// Apply cleans c in place for mode m and marks it (Call.Content) when
// anything was changed or withheld:
//   - Redacted masks the prompt, system, response and error message;
//   - None empties the prompt, system and response; the error message,
//     which the service writes but may quote the provider, is masked.
func Apply(c *track.Call, m Mode) {
	switch m {
	case Redacted:
		c.System, c.Prompt, c.Response = Mask(c.System), Mask(c.Prompt), Mask(c.Response)
		c.ErrorMessage = Mask(c.ErrorMessage)
		c.Content = track.ContentRedacted
	case None:
		c.System, c.Prompt, c.Response = "", "", ""
		c.ErrorMessage = Mask(c.ErrorMessage)
		c.Content = track.ContentNone
	}
}
