package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
	"github.com/llm-connector/llm-connector/internal/redact"
)

// maxMessage bounds the upstream text copied into a public message.
const maxMessage = 300

// statusError classifies a non-200 answer. Ollama answers
// {"error":"..."} with a JSON content type [routes.go]; a proxy in front
// may answer anything, so the body is parsed, never shown raw.
func statusError(resp *http.Response, model string, now time.Time) error {
	body := upstream.ReadErrorBody(resp)
	var eb errorBody
	said := "" // the server's own error text
	if json.Unmarshal(body, &eb) == nil {
		said = clean(eb.Error)
	}
	code := resp.StatusCode
	e := &llm.Error{Provider: providerName, StatusCode: code, Kind: kindForStatus(code)}
	e.Err = fmt.Errorf("ollama: http %d: %s", code, clean(string(body)))
	switch {
	case code == http.StatusNotFound && model != "" && (said == "" || strings.Contains(said, "model")):
		e.Message = fmt.Sprintf("model %q not found on the Ollama server; pull it with `ollama pull %s`", model, model)
	case said != "":
		e.Message = said
	default:
		e.Message = fmt.Sprintf("http %d %s", code, http.StatusText(code))
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		e.RetryAfter = upstream.RetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return e
}

func kindForStatus(code int) llm.Kind {
	switch {
	case code == http.StatusBadRequest, code == http.StatusUnprocessableEntity, code == http.StatusRequestEntityTooLarge:
		return llm.KindInvalid
	case code == http.StatusUnauthorized:
		return llm.KindUnauthorized
	case code == http.StatusForbidden:
		return llm.KindForbidden
	case code == http.StatusNotFound:
		return llm.KindNotFound
	case code == http.StatusTooManyRequests:
		return llm.KindRateLimited
	case code == http.StatusRequestTimeout, code == http.StatusGatewayTimeout:
		return llm.KindTimeout
	case code == 499: // Ollama's "request canceled"
		return llm.KindCanceled
	case code >= 500:
		return llm.KindUnavailable
	case code >= 400:
		return llm.KindInvalid
	}
	return llm.KindUpstream
}

// transportError classifies a failure to send or to read: the caller's
// context first, then everything else as an unreachable server. The
// message names the host (password redacted), never a header.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ce := contextError(ctx, err); ce != nil {
		return ce
	}
	msg := "connection to the Ollama server at " + c.Host() + " failed"
	if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" {
		msg = "cannot reach the Ollama server at " + c.Host()
	}
	return &llm.Error{Kind: llm.KindUnavailable, Provider: providerName, Message: msg,
		Err: fmt.Errorf("ollama: send: %w", redactErr(err, c))}
}

// contextError reports the caller's cancellation or deadline, or nil when
// ctx is still live.
func contextError(ctx context.Context, err error) error {
	switch ctxErr := ctx.Err(); {
	case ctxErr == nil:
		return nil
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return &llm.Error{Kind: llm.KindTimeout, Provider: providerName, Message: "request timed out", Err: errors.Join(ctxErr, err)}
	default:
		return &llm.Error{Kind: llm.KindCanceled, Provider: providerName, Message: "request canceled", Err: errors.Join(ctxErr, err)}
	}
}

// redactErr drops the password of the base URL from a transport error
// (url.Error prints the whole URL).
func redactErr(err error, c *Client) error {
	if c.base.User == nil {
		return err
	}
	p, _ := c.base.User.Password()
	if msg := redact.String(err.Error(), p); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}

// upstreamError reports an answer that cannot be used: cut, garbled or an
// in-band error line.
func upstreamError(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &llm.Error{Kind: llm.KindUpstream, Provider: providerName, StatusCode: http.StatusOK, Message: err.Error(), Err: err}
}

// clean makes upstream text safe for a one-line public message: valid
// UTF-8, no control characters, credentials redacted, then bounded.
func clean(s string) string {
	s = redact.String(strings.ToValidUTF8(strings.TrimSpace(s), "?"))
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
