package anthropic

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

// statusError classifies a non-2xx answer from its status, its
// {"type":"error","error":{...}} body and its retry-after header.
func (c *Client) statusError(resp *http.Response) error {
	raw := upstream.ReadErrorBody(resp)
	var body errorBody
	if json.Unmarshal(raw, &body) != nil || body.Error == nil {
		body.Error = &apiError{Message: upstream.PlainText(raw)}
	}
	return c.apiError(resp.StatusCode, body.Error, resp.Header)
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
		out.RetryAfter = upstream.RetryAfterHeaders(h, time.Now())
	}
	msg := upstream.Redact(e.Message, c.key)
	if kind == llm.KindUnauthorized {
		msg = ""
	}
	out.Message = upstream.Message(status, e.Type, msg)
	out.Err = errors.New("anthropic: " + out.Message)
	if kind == llm.KindInvalid && strings.HasPrefix(e.Message, "prompt is too long") {
		out.Detail = llm.DetailContextWindow // "prompt is too long: 208656 tokens > 200000 maximum"
	}
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
	if status == 0 {
		return llm.KindUpstream
	}
	return upstream.KindForStatus(status)
}
