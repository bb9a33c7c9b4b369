// Package upstream holds what the provider adapters share about talking to
// an upstream HTTP API: sending a request, reading an error answer, and
// turning failures into classified *llm.Error values.
//
// It imports only internal/llm, internal/redact and the standard library.
// Each adapter keeps its own rules where the APIs differ (which status
// means what, which body fields refine it, provider-specific retry hints);
// what is here is the logic that is the same for every adapter that calls
// it.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/redact"
)

// MaxErrorBody bounds how much of an error answer is read.
const MaxErrorBody = 64 << 10

// MaxBody bounds a non-stream answer body (generateContent, a
// chat.completion, a message) read into memory: the answer text is cut at
// 8 MB further on, and JSON escaping at most doubles it. A stream is
// bounded by sse.MaxStream as it is read.
const MaxBody = 16 << 20

// maxPlainText bounds the text PlainText keeps.
const maxPlainText = 200

// The operations TransportError knows.
const (
	// OpSend is sending the request and waiting for the response headers.
	OpSend = "send request"
	// OpRead is reading the body of a response that has begun.
	OpRead = "read stream"
)

// Do sends req with hc. A transport failure is classified by
// TransportError (OpSend, under the request's context). A non-2xx
// response is handed to statusError and closed; a 2xx response is
// returned open, for the caller to read and close.
func Do(hc *http.Client, req *http.Request, provider string, statusError func(*http.Response) error) (*http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, TransportError(req.Context(), provider, OpSend, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	return resp, nil
}

// ReadErrorBody reads at most MaxErrorBody bytes of an error answer. A read
// error is ignored: what arrived is what there is to classify.
func ReadErrorBody(resp *http.Response) []byte {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
	return raw
}

// PlainText is a short, printable form of an error body that is not the
// API's error JSON (a proxy's page, a compatible server's own shape): at
// most 200 bytes, valid UTF-8, and empty for an HTML page, which is not
// worth showing.
func PlainText(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, "<") {
		return ""
	}
	if len(s) > maxPlainText {
		s = s[:maxPlainText]
	}
	return strings.ToValidUTF8(s, "")
}

// MaxMessage bounds the upstream text kept in a public error message.
const MaxMessage = 512

// Redact is the public form of an upstream error text: secret (an API
// key), any piece of it and any credential-shaped text redacted first
// (redact.String), then cut to MaxMessage bytes.
func Redact(s, secret string) string {
	return redact.Cut(s, MaxMessage, secret)
}

// Message is the public text of an upstream error: "429 rate_limit_error:
// text". status 0 (an in-band error after a 200) reads "stream error";
// an empty label or text is left out with its separator.
func Message(status int, label, text string) string {
	var b strings.Builder
	if status != 0 {
		b.WriteString(strconv.Itoa(status))
	} else {
		b.WriteString("stream error")
	}
	if label != "" {
		b.WriteString(" " + label)
	}
	if text != "" {
		b.WriteString(": " + text)
	}
	return b.String()
}

// KindForStatus classifies a non-2xx HTTP status the way OpenAI-style and
// Anthropic APIs use it: 401 Unauthorized; 402 and 403 Forbidden; 404
// NotFound; 429 RateLimited; 408 Timeout; 409 and 5xx Unavailable (worth a
// retry); any other status Invalid. Callers refine it from the error body
// first and handle status 0 (an in-band error) themselves.
func KindForStatus(status int) llm.Kind {
	switch {
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

// RetryAfter parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds
// (a fraction is accepted, as some servers send one) or an HTTP date,
// measured from now. It returns 0 for an empty, unparsable, non-positive
// or past value.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 { // NaN fails this too
			return capHint(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return capHint(float64(t.Sub(now)))
	}
	return 0
}

// MaxHint bounds a server's retry hint, so that a huge or infinite value
// cannot overflow time.Duration; any hint this long passes every request
// deadline anyway, which sends the router to the next target.
const MaxHint = 24 * time.Hour

func capHint(ns float64) time.Duration {
	if ns >= float64(MaxHint) {
		return MaxHint
	}
	return time.Duration(ns)
}

// RetryAfterHeaders reads the retry hint of OpenAI and Anthropic answers:
// Retry-After-Ms (milliseconds, a fraction accepted) when it is positive,
// else Retry-After as RetryAfter reads it.
func RetryAfterHeaders(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return capHint(ms * float64(time.Millisecond))
		}
	}
	return RetryAfter(h.Get("Retry-After"), now)
}

// TransportError classifies a failure to send (OpSend) or to read (OpRead):
// the caller's cancellation (KindCanceled) or deadline (KindTimeout) first;
// then a connection broken mid-answer while reading (KindUpstream); then a
// network timeout (KindTimeout); anything else is KindUnavailable. The
// public message is "<op>: <kind>"; err is kept, prefixed with provider
// and op, for the logs.
func TransportError(ctx context.Context, provider, op string, err error) error {
	kind := llm.KindUnavailable
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		kind = llm.KindCanceled
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind = llm.KindTimeout
	case op == OpRead:
		kind = llm.KindUpstream
	case llm.KindOf(err) == llm.KindTimeout:
		kind = llm.KindTimeout
	}
	return &llm.Error{Kind: kind, Provider: provider, Message: op + ": " + kind.String(), Err: fmt.Errorf("%s: %s: %w", provider, op, err)}
}

// BadAnswer is a KindUpstream error for an answer the adapter cannot use:
// garbled or cut. msg is the public message; err, which may be nil, the
// cause.
func BadAnswer(provider, msg string, err error) error {
	if err != nil {
		err = fmt.Errorf("%s: %s: %w", provider, msg, err)
	} else {
		err = fmt.Errorf("%s: %s", provider, msg)
	}
	return &llm.Error{Kind: llm.KindUpstream, Provider: provider, Message: msg, Err: err}
}
