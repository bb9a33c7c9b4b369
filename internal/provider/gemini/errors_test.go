package gemini

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

func TestErrorMapping(t *testing.T) {
	// 2025-01-15 10:00 UTC is 02:00 PST: 22h to midnight Pacific (winter,
	// so the fixed-zone fallback agrees when tzdata is missing).
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	const key = "test-secret-key-123"
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       llm.Kind
		retryAfter time.Duration
		msg        string // a substring of the public message
	}{
		{"bad argument", 400, nil, `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}}`,
			llm.KindInvalid, 0, "400 INVALID_ARGUMENT: * GenerateContentRequest.contents"},
		{"bad key", 400, nil, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`,
			llm.KindUnauthorized, 0, "API key not valid"},
		{"bad key, message only", 400, nil, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`,
			llm.KindUnauthorized, 0, "API key not valid"},
		{"failed precondition", 400, nil, `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`,
			llm.KindForbidden, 0, "FAILED_PRECONDITION"},
		{"unauthenticated", 401, nil, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			llm.KindUnauthorized, 0, "401 UNAUTHENTICATED"},
		{"permission denied", 403, nil, `{"error":{"code":403,"message":"Method doesn't allow unregistered callers","status":"PERMISSION_DENIED"}}`,
			llm.KindForbidden, 0, "PERMISSION_DENIED"},
		{"unknown model", 404, nil, `{"error":{"code":404,"message":"models/x is not found for API version v1beta","status":"NOT_FOUND"}}`,
			llm.KindNotFound, 0, "models/x is not found"},
		{"rate limited, whole seconds", 429, nil, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`,
			llm.KindRateLimited, 37 * time.Second, "429 RESOURCE_EXHAUSTED"},
		{"rate limited, fractional", 429, nil, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}`,
			llm.KindRateLimited, 1500 * time.Millisecond, "quota"},
		{"rate limited, RetryInfo wins over header", 429, http.Header{"Retry-After": {"9"}}, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}`,
			llm.KindRateLimited, 3 * time.Second, "q"},
		{"rate limited, Retry-After header", 429, http.Header{"Retry-After": {"5"}}, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED"}}`,
			llm.KindRateLimited, 5 * time.Second, "q"},
		{"rate limited, negative RetryInfo falls to the header", 429, http.Header{"Retry-After": {"4"}}, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"-5s"}]}}`,
			llm.KindRateLimited, 4 * time.Second, "q"},
		{"rate limited, huge RetryInfo is capped", 429, nil, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e9s"}]}}`,
			llm.KindRateLimited, 24 * time.Hour, "q"},
		{"rate limited, no hint", 429, nil, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED"}}`,
			llm.KindRateLimited, 0, "q"},
		{"daily quota waits for midnight Pacific", 429, nil, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}`,
			llm.KindRateLimited, 22 * time.Hour, "daily quota"},
		{"internal", 500, nil, `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`,
			llm.KindUnavailable, 0, "500 INTERNAL"},
		{"overloaded", 503, nil, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			llm.KindUnavailable, 0, "overloaded"},
		{"deadline", 504, nil, `{"error":{"code":504,"message":"Deadline expired","status":"DEADLINE_EXCEEDED"}}`,
			llm.KindUnavailable, 0, "DEADLINE_EXCEEDED"},
		{"proxy page is not echoed", 502, nil, `<html><body>secret internals</body></html>`,
			llm.KindUnavailable, 0, "HTTP 502 Bad Gateway"},
		{"status without rpc name", 409, nil, `{"error":{"code":409,"message":"conflict"}}`,
			llm.KindUpstream, 0, "409: conflict"},
		{"other status", 418, nil, `{"error":{"code":418,"message":"teapot","status":"UNKNOWN"}}`,
			llm.KindUpstream, 0, "teapot"},
		{"echoed key is scrubbed", 400, nil, `{"error":{"code":400,"message":"bad request for key test-secret-key-123","status":"INVALID_ARGUMENT"}}`,
			llm.KindInvalid, 0, "[REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: tt.header, Body: io.NopCloser(strings.NewReader(tt.body))}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			err := errorMapper{key: key, now: func() time.Time { return now }}.fromResponse(resp)
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not *llm.Error", err)
			}
			if e.Kind != tt.kind || e.RetryAfter != tt.retryAfter || e.StatusCode != tt.status || e.Provider != "google" {
				t.Errorf("got kind %v, retry %v, status %d, provider %q; want %v, %v, %d",
					e.Kind, e.RetryAfter, e.StatusCode, e.Provider, tt.kind, tt.retryAfter, tt.status)
			}
			if msg := llm.PublicMessage(err); !strings.Contains(msg, tt.msg) || strings.Contains(msg, key) || strings.Contains(msg, "secret internals") {
				t.Errorf("message %q: want it to contain %q and neither key nor raw body", msg, tt.msg)
			}
		})
	}
}

func TestTransportErrorKinds(t *testing.T) {
	if k := llm.KindOf(transportError(errors.New("connection refused"))); k != llm.KindUnavailable {
		t.Errorf("refused: %v", k)
	}
	if k := llm.KindOf(transportError(timeoutErr{})); k != llm.KindTimeout {
		t.Errorf("timeout: %v", k)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestErrorMessageRedactsBeforeCut is issue 18 item 2: an upstream text of
// 475 bytes glued to the key, cut to maxMessage before redaction, handed
// 37 of the key's 39 bytes to the client, the spool and MLflow.
func TestErrorMessageRedactsBeforeCut(t *testing.T) {
	const key = "AI" + "zaSyD-0123456789abcdefghijklmnopqrstu"
	for _, text := range []string{
		strings.Repeat("p", 475) + key,             // the key cut by the bound
		strings.Repeat("p", 10) + key + "trailing", // glued on both sides
		"key " + key[:20] + " was refused",         // a prefix the upstream echoed
	} {
		body := `{"error":{"code":401,"message":"` + text + `","status":"UNAUTHENTICATED"}}`
		resp := &http.Response{StatusCode: 401, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
		err := errorMapper{key: key}.fromResponse(resp)
		for _, s := range []string{llm.PublicMessage(err), err.Error()} {
			if strings.Contains(s, key[:8]) {
				t.Errorf("message keeps a piece of the key: %q", s[max(0, len(s)-80):])
			}
		}
	}
}
