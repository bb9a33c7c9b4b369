package gemini

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
	"github.com/llm-connector/llm-connector/internal/redact"
)

// maxMessage bounds the upstream message text kept in an error.
const maxMessage = 512

// classify maps an HTTP status and the google.rpc status and reason to a
// Kind. A bad key is a 400 INVALID_ARGUMENT with ErrorInfo reason
// API_KEY_INVALID: that is Unauthorized, not Invalid. FAILED_PRECONDITION
// (billing or region) is Forbidden: the key is good but may not call
// this API; retrying cannot help, a fallback can.
func classify(status int, e *apiError) llm.Kind {
	switch {
	case status == http.StatusBadRequest && badKey(e):
		return llm.KindUnauthorized
	case status == http.StatusBadRequest && e != nil && e.Status == "FAILED_PRECONDITION":
		return llm.KindForbidden
	}
	switch status {
	case http.StatusBadRequest:
		return llm.KindInvalid
	case http.StatusUnauthorized:
		return llm.KindUnauthorized
	case http.StatusForbidden:
		return llm.KindForbidden
	case http.StatusNotFound:
		return llm.KindNotFound
	case http.StatusTooManyRequests:
		return llm.KindRateLimited
	case http.StatusRequestTimeout:
		return llm.KindTimeout
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return llm.KindUnavailable
	}
	return llm.KindUpstream
}

func badKey(e *apiError) bool {
	if e == nil {
		return false
	}
	for _, d := range e.Details {
		if d.Reason == "API_KEY_INVALID" {
			return true
		}
	}
	return strings.Contains(e.Message, "API key not valid")
}

// errorMapper turns upstream failures into *llm.Error. It knows the key
// only to scrub it from any text it keeps.
type errorMapper struct {
	key string
	now func() time.Time
}

// fromResponse reads a non-2xx response. The body is a google.rpc.Status
// in {"error":{...}}; anything else (an HTML proxy page) is not echoed.
func (m errorMapper) fromResponse(resp *http.Response) error {
	var body errorBody
	raw := upstream.ReadErrorBody(resp) // a short read leaves body.Error nil
	if json.Unmarshal(raw, &body) != nil {
		body.Error = nil
	}
	return m.fromStatus(resp.StatusCode, resp.Header, body.Error)
}

// fromStatus builds the error for HTTP status (or an in-band error's
// code) and the decoded body e, which may be nil.
func (m errorMapper) fromStatus(status int, h http.Header, e *apiError) error {
	out := &llm.Error{
		Kind:       classify(status, e),
		Provider:   ProviderName,
		StatusCode: status,
		RetryAfter: m.retryAfter(h, e),
		Message:    m.message(status, e),
	}
	if out.Kind == llm.KindRateLimited && dailyQuota(e) {
		out.RetryAfter = max(out.RetryAfter, untilPacificMidnight(m.clock()))
		out.Message += " (daily quota: resets at midnight Pacific time)"
		out.Detail = llm.DetailDailyQuota
	}
	if out.Kind == llm.KindInvalid && e != nil && strings.Contains(e.Message, "input token count") {
		// "The input token count (3475108) exceeds the maximum number of
		// tokens allowed (1048576)."
		out.Detail = llm.DetailContextWindow
	}
	out.Err = fmt.Errorf("gemini: %s", out.Message)
	return out
}

func (m errorMapper) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// message is "429 RESOURCE_EXHAUSTED: <upstream text>", bounded, with
// the key scrubbed should the upstream ever echo it.
func (m errorMapper) message(status int, e *apiError) string {
	if e == nil || (e.Message == "" && e.Status == "") {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	text := redact.Cut(e.Message, maxMessage, m.key) // redact first, then cut
	prefix := strconv.Itoa(status)
	if e.Status != "" {
		prefix += " " + e.Status
	}
	if text == "" {
		return prefix
	}
	return prefix + ": " + text
}

// retryAfter prefers google.rpc.RetryInfo.retryDelay (a protobuf
// Duration such as "37s" or "1.5s"), then the Retry-After header.
func (m errorMapper) retryAfter(h http.Header, e *apiError) time.Duration {
	if e != nil {
		for _, d := range e.Details {
			if !strings.HasSuffix(d.Type, "google.rpc.RetryInfo") || d.RetryDelay == "" {
				continue
			}
			if v := retryDelay(d.RetryDelay); v > 0 {
				return v
			}
		}
	}
	return upstream.RetryAfter(h.Get("Retry-After"), m.clock())
}

// retryDelay reads a protobuf Duration in its JSON form ("37s", "1.5s").
// A negative or unreadable one is 0 (no hint); a huge one ("1e9s") is
// capped like every hint, never lost to an overflow.
func retryDelay(v string) time.Duration {
	num, ok := strings.CutSuffix(strings.TrimSpace(v), "s")
	if !ok {
		return 0
	}
	return upstream.RetryAfter(num, time.Time{})
}

// dailyQuota reports a per-day quota violation: backing off for seconds
// cannot help, it resets at midnight Pacific time.
func dailyQuota(e *apiError) bool {
	if e == nil {
		return false
	}
	for _, d := range e.Details {
		for _, v := range d.Violations {
			if strings.Contains(v.QuotaID, "PerDay") {
				return true
			}
		}
	}
	return false
}

// pacific is America/Los_Angeles when the zone database is present, else
// a fixed UTC-8 (at worst an hour off during daylight saving).
var pacific = func() *time.Location {
	if loc, err := time.LoadLocation("America/Los_Angeles"); err == nil {
		return loc
	}
	return time.FixedZone("PST", -8*3600)
}()

func untilPacificMidnight(now time.Time) time.Duration {
	t := now.In(pacific)
	next := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, pacific)
	return next.Sub(now)
}

// transportError classifies a failure to get a response at all.
func transportError(err error) error {
	e := &llm.Error{Kind: llm.KindUnavailable, Provider: ProviderName, Message: "upstream unreachable",
		Err: fmt.Errorf("gemini: send request: %w", err)}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		e.Kind, e.Message = llm.KindTimeout, "upstream timed out"
	}
	return e
}

// upstreamError is an answer the adapter cannot use: garbled or cut.
func upstreamError(msg string, err error) error {
	if err != nil {
		err = fmt.Errorf("gemini: %s: %w", msg, err)
	} else {
		err = fmt.Errorf("gemini: %s", msg)
	}
	return &llm.Error{Kind: llm.KindUpstream, Provider: ProviderName, Message: msg, Err: err}
}
