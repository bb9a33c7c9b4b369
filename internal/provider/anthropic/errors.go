package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

const maxErrorBody = 64 << 10

// statusError classifies a non-2xx answer from its status, its
// {"type":"error","error":{...}} body and its retry-after header.
func (c *Client) statusError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body errorBody
	if json.Unmarshal(raw, &body) != nil || body.Error == nil {
		body.Error = &apiError{Message: plainText(raw)}
	}
	return c.apiError(resp.StatusCode, body.Error, resp.Header)
}

func plainText(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, "<") {
		return ""
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "")
}

// apiError classifies an error object; status is 0 for an in-band
// "event: error" (the HTTP status was already 200).
//
// 429 rate_limit_error and 529 overloaded_error are retryable with the
// retry-after hint. A 429 whose details.error_code is
// enforced_spend_limit_reached (a monthly cap) is KindForbidden: waiting
// does not help, but the router may fall back.
func (c *Client) apiError(status int, e *apiError, h http.Header) error {
	kind := kindFor(status, e)
	out := &llm.Error{Kind: kind, Provider: providerName, StatusCode: status}
	if kind == llm.KindRateLimited || kind == llm.KindUnavailable {
		out.RetryAfter = retryAfter(h)
	}
	msg := c.redact(e.Message)
	if kind == llm.KindUnauthorized {
		msg = ""
	}
	var b strings.Builder
	if status != 0 {
		b.WriteString(strconv.Itoa(status))
	} else {
		b.WriteString("stream error")
	}
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	out.Message = b.String()
	out.Err = errors.New("anthropic: " + out.Message)
	return out
}

func kindFor(status int, e *apiError) llm.Kind {
	if e.Details != nil && e.Details.ErrorCode == "enforced_spend_limit_reached" {
		return llm.KindForbidden
	}
	switch e.Type {
	case "invalid_request_error", "request_too_large":
		return llm.KindInvalid
	case "authentication_error":
		return llm.KindUnauthorized
	case "permission_error", "billing_error":
		return llm.KindForbidden
	case "not_found_error":
		return llm.KindNotFound
	case "rate_limit_error":
		return llm.KindRateLimited
	case "overloaded_error", "api_error":
		return llm.KindUnavailable
	case "timeout_error":
		return llm.KindTimeout
	}
	switch {
	case status == 0:
		return llm.KindUpstream
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

func (c *Client) redact(s string) string {
	if c.key != "" && strings.Contains(s, c.key) {
		s = strings.ReplaceAll(s, c.key, "[redacted]")
	}
	return s
}

// retryAfter reads retry-after-ms, then retry-after (seconds or an HTTP
// date).
func retryAfter(h http.Header) time.Duration {
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
	return 0
}

// transportError classifies a failure to send or to read.
func transportError(ctx context.Context, op string, err error) error {
	kind := llm.KindUnavailable
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		kind = llm.KindCanceled
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind = llm.KindTimeout
	case op == "read stream":
		kind = llm.KindUpstream
	case llm.KindOf(err) == llm.KindTimeout:
		kind = llm.KindTimeout
	}
	return &llm.Error{Kind: kind, Provider: providerName, Message: op + ": " + kind.String(), Err: fmt.Errorf("anthropic: %s: %w", op, err)}
}

func upstreamError(msg string, err error) error {
	return &llm.Error{Kind: llm.KindUpstream, Provider: providerName, Message: msg, Err: fmt.Errorf("anthropic: %s: %w", msg, err)}
}
