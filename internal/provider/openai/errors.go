package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

// statusError classifies a non-2xx answer from its status, its
// {"error":{...}} body and its retry headers. A body that is not OpenAI's
// error JSON (a proxy's page, a compatible server's own shape) is shown
// as upstream.PlainText.
func (c *Client) statusError(resp *http.Response) error {
	raw := upstream.ReadErrorBody(resp)
	var body errorBody
	if json.Unmarshal(raw, &body) != nil || body.Error == nil {
		body.Error = &apiError{Message: upstream.PlainText(raw)}
	}
	return c.apiError(resp.StatusCode, body.Error, resp.Header)
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
	msg := upstream.Redact(e.Message, c.key)
	if kind == llm.KindUnauthorized {
		msg = "" // OpenAI echoes part of the key; never pass it on
	}
	out := &llm.Error{Kind: kind, Provider: c.name, StatusCode: status}
	if kind == llm.KindRateLimited {
		out.RetryAfter = retryAfter(h, e.Message)
	}
	out.Message = upstream.Message(status, strings.Join(nonEmpty(e.Type, code), "/"), msg)
	out.Err = errors.New(c.name + ": " + out.Message)
	if kind == llm.KindInvalid && contextWindow(code, e.Message) {
		out.Detail = llm.DetailContextWindow
	}
	return out
}

// contextWindow reports OpenAI's prompt-too-long 400: code
// context_length_exceeded ("This model's maximum context length is N
// tokens…"); compatible servers (vLLM) send the same text without a code.
func contextWindow(code, msg string) bool {
	return code == "context_length_exceeded" || strings.Contains(msg, "maximum context length")
}

func kindFor(status int, typ, code string) llm.Kind {
	if typ == "insufficient_quota" || code == "insufficient_quota" {
		return llm.KindForbidden
	}
	if status == 0 {
		return inBandKind(typ, code)
	}
	return upstream.KindForStatus(status)
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

var tryAgainIn = regexp.MustCompile(`(?i)try again in ((?:[0-9]+(?:\.[0-9]+)?(?:ms|h|m|s))+)`)

// retryAfter reads retry-after-ms, then retry-after (seconds or an HTTP
// date), then OpenAI's "Please try again in 1.5s" message text.
func retryAfter(h http.Header, msg string) time.Duration {
	if d := upstream.RetryAfterHeaders(h, time.Now()); d > 0 {
		return d
	}
	if m := tryAgainIn.FindStringSubmatch(msg); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil && d > 0 {
			return d
		}
	}
	return 0
}
