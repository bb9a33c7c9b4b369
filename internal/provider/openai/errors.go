package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// statusError classifies a non-2xx answer from its status, its
// {"error":{...}} body and its retry headers.
func (c *Client) statusError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body errorBody
	if json.Unmarshal(raw, &body) != nil || body.Error == nil {
		body.Error = &apiError{Message: plainText(raw)}
	}
	return c.apiError(resp.StatusCode, body.Error, resp.Header)
}

// plainText is a short, printable form of a body that is not OpenAI's
// error JSON (a proxy's page, a compatible server's own shape).
func plainText(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, "<") {
		return "" // an HTML page: not worth showing
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "")
}

// apiError classifies an upstream error object. status is 0 for an
// in-band stream error (the HTTP status was already 200).
//
// A 429 whose type or code is insufficient_quota (billing: the account is
// out of credit) is KindForbidden, not KindRateLimited: waiting does not
// help, so it is not retryable, but the router may still fall back to
// another provider as it does for 403.
func (c *Client) apiError(status int, e *apiError, h http.Header) error {
	code := fmt.Sprint(e.Code)
	if e.Code == nil {
		code = ""
	}
	kind := kindFor(status, e.Type, code)
	msg := c.redact(e.Message)
	if kind == llm.KindUnauthorized {
		msg = "" // OpenAI echoes part of the key; never pass it on
	}
	out := &llm.Error{Kind: kind, Provider: c.name, StatusCode: status}
	if kind == llm.KindRateLimited {
		out.RetryAfter = retryAfter(h, e.Message)
	}
	out.Message = publicText(status, e.Type, code, msg)
	out.Err = errors.New(c.name + ": " + out.Message)
	return out
}

func kindFor(status int, typ, code string) llm.Kind {
	if typ == "insufficient_quota" || code == "insufficient_quota" {
		return llm.KindForbidden
	}
	switch {
	case status == 0:
		return inBandKind(typ, code)
	case status == http.StatusUnauthorized:
		return llm.KindUnauthorized
	case status == http.StatusForbidden, status == http.StatusPaymentRequired:
		return llm.KindForbidden
	case status == http.StatusNotFound:
		return llm.KindNotFound
	case status == http.StatusTooManyRequests:
		return llm.KindRateLimited
	case status == http.StatusRequestTimeout:
		return llm.KindTimeout
	case status == http.StatusConflict, status >= 500:
		return llm.KindUnavailable
	}
	return llm.KindInvalid
}

// inBandKind classifies an error event sent after a 200.
func inBandKind(typ, code string) llm.Kind {
	switch {
	case strings.Contains(typ, "rate_limit") || strings.Contains(code, "rate_limit"):
		return llm.KindRateLimited
	case typ == "invalid_request_error":
		return llm.KindInvalid
	}
	return llm.KindUpstream // server_error and the unknown: the answer broke in transit
}

func publicText(status int, typ, code, msg string) string {
	var b strings.Builder
	if status != 0 {
		b.WriteString(strconv.Itoa(status))
	} else {
		b.WriteString("stream error")
	}
	if t := strings.Join(nonEmpty(typ, code), "/"); t != "" {
		b.WriteString(" " + t)
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	return b.String()
}

func nonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" && !containsString(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// redact removes the API key from upstream text.
func (c *Client) redact(s string) string {
	if c.key != "" && strings.Contains(s, c.key) {
		s = strings.ReplaceAll(s, c.key, "[redacted]")
	}
	return s
}

var tryAgainIn = regexp.MustCompile(`(?i)try again in ((?:[0-9]+(?:\.[0-9]+)?(?:ms|h|m|s))+)`)

// retryAfter reads retry-after-ms, then retry-after (seconds or an HTTP
// date), then OpenAI's "Please try again in 1.5s" message text.
func retryAfter(h http.Header, msg string) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := time.Until(t); d > 0 {
				return d
			}
		}
	}
	if m := tryAgainIn.FindStringSubmatch(msg); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil && d > 0 {
			return d
		}
	}
	return 0
}

// transportError classifies a failure to send or to read: the caller's
// cancellation or deadline first, then the network.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	kind := llm.KindUnavailable
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		kind = llm.KindCanceled
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind = llm.KindTimeout
	case op == "read stream":
		kind = llm.KindUpstream // the connection broke mid-answer
	case llm.KindOf(err) == llm.KindTimeout:
		kind = llm.KindTimeout
	}
	return &llm.Error{Kind: kind, Provider: c.name, Message: op + ": " + kind.String(), Err: fmt.Errorf("%s: %s: %w", c.name, op, err)}
}

func (c *Client) upstreamError(msg string, err error) error {
	return &llm.Error{Kind: llm.KindUpstream, Provider: c.name, Message: msg, Err: fmt.Errorf("%s: %s: %w", c.name, msg, err)}
}
