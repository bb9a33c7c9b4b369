package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/llm-connector/llm-connector/internal/llm"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{" 2 ", 2 * time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"0", 0},
		{"-3", 0},
		{"NaN", 0},
		{"1e300", MaxHint},
		{"Inf", MaxHint},
		{"soon", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := RetryAfter(tt.in, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRetryAfterHeaders(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"none", http.Header{}, 0},
		{"nil header", nil, 0},
		{"ms wins", http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}, 1500 * time.Millisecond},
		{"ms fraction", http.Header{"Retry-After-Ms": {"2.5"}}, 2500 * time.Microsecond},
		{"ms zero falls back", http.Header{"Retry-After-Ms": {"0"}, "Retry-After": {"3"}}, 3 * time.Second},
		{"ms garbage falls back", http.Header{"Retry-After-Ms": {"soon"}, "Retry-After": {"3"}}, 3 * time.Second},
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"date", http.Header{"Retry-After": {now.Add(time.Minute).Format(http.TimeFormat)}}, time.Minute},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfterHeaders(tt.h, now); got != tt.want {
				t.Errorf("RetryAfterHeaders(%v) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

func TestPlainText(t *testing.T) {
	long := strings.Repeat("a", 199) + "é" // the 200-byte cut falls inside é
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"trimmed", "  upstream said no \n", "upstream said no"},
		{"html page", "\n<html><body>Bad Gateway</body></html>", ""},
		{"json of another shape", `{"error":"model 'x' not found"}`, `{"error":"model 'x' not found"}`},
		{"bounded", strings.Repeat("x", 300), strings.Repeat("x", 200)},
		{"no half rune", long, strings.Repeat("a", 199)},
		{"invalid utf-8 dropped", "ok\xffok", "okok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlainText([]byte(tt.in)); got != tt.want {
				t.Errorf("PlainText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		s, secret, want string
	}{
		{"Incorrect API key provided: sk-123.", "sk-123", "Incorrect API key provided: [REDACTED]."},
		{"sk-1234 and sk-1234 again", "sk-1234", "[REDACTED] and [REDACTED] again"},
		{"glued xsk-proj-0123456 and cut sk-proj-0", "sk-proj-0123456789", "glued x[REDACTED] and cut [REDACTED]"},
		{"nothing to hide", "sk-123", "nothing to hide"},
		{"no key configured", "", "no key configured"},
	}
	for _, tt := range tests {
		if got := Redact(tt.s, tt.secret); got != tt.want {
			t.Errorf("Redact(%q, %q) = %q, want %q", tt.s, tt.secret, got, tt.want)
		}
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		status      int
		label, text string
		want        string
	}{
		{429, "rate_limit_error", "slow down", "429 rate_limit_error: slow down"},
		{401, "authentication_error", "", "401 authentication_error"},
		{500, "", "boom", "500: boom"},
		{502, "", "", "502"},
		{0, "overloaded_error", "Overloaded", "stream error overloaded_error: Overloaded"},
		{0, "", "", "stream error"},
	}
	for _, tt := range tests {
		if got := Message(tt.status, tt.label, tt.text); got != tt.want {
			t.Errorf("Message(%d, %q, %q) = %q, want %q", tt.status, tt.label, tt.text, got, tt.want)
		}
	}
}

func TestKindForStatus(t *testing.T) {
	tests := []struct {
		status int
		want   llm.Kind
	}{
		{400, llm.KindInvalid},
		{401, llm.KindUnauthorized},
		{402, llm.KindForbidden},
		{403, llm.KindForbidden},
		{404, llm.KindNotFound},
		{408, llm.KindTimeout},
		{409, llm.KindUnavailable},
		{413, llm.KindInvalid},
		{422, llm.KindInvalid},
		{429, llm.KindRateLimited},
		{500, llm.KindUnavailable},
		{502, llm.KindUnavailable},
		{503, llm.KindUnavailable},
		{529, llm.KindUnavailable},
	}
	for _, tt := range tests {
		if got := KindForStatus(tt.status); got != tt.want {
			t.Errorf("KindForStatus(%d) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransportError(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	live := context.Background()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

	tests := []struct {
		name    string
		ctx     context.Context
		op      string
		err     error
		want    llm.Kind
		message string
	}{
		{"refused", live, OpSend, refused, llm.KindUnavailable, "send request: unavailable"},
		{"network timeout", live, OpSend, timeoutErr{}, llm.KindTimeout, "send request: timeout"},
		{"cut while reading", live, OpRead, io.ErrUnexpectedEOF, llm.KindUpstream, "read stream: upstream_error"},
		{"timeout while reading is a cut", live, OpRead, timeoutErr{}, llm.KindUpstream, "read stream: upstream_error"},
		{"caller canceled", canceled, OpSend, context.Canceled, llm.KindCanceled, "send request: canceled"},
		{"canceled wins over read", canceled, OpRead, io.ErrUnexpectedEOF, llm.KindCanceled, "read stream: canceled"},
		{"caller deadline", expired, OpRead, context.DeadlineExceeded, llm.KindTimeout, "read stream: timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TransportError(tt.ctx, "acme", tt.op, tt.err)
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T, want *llm.Error", err)
			}
			if e.Kind != tt.want || e.Provider != "acme" || e.Message != tt.message {
				t.Errorf("got kind %v provider %q message %q; want %v %q %q", e.Kind, e.Provider, e.Message, tt.want, "acme", tt.message)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("err does not wrap the cause %v", tt.err)
			}
			if want := "acme: " + tt.op + ": "; !strings.HasPrefix(e.Err.Error(), want) {
				t.Errorf("Err = %q, want prefix %q", e.Err, want)
			}
		})
	}
}

func TestBadAnswer(t *testing.T) {
	err := BadAnswer("acme", "stream ended without [DONE]", io.ErrUnexpectedEOF)
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T, want *llm.Error", err)
	}
	if e.Kind != llm.KindUpstream || e.Provider != "acme" || e.Message != "stream ended without [DONE]" {
		t.Errorf("got %+v", e)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("cause not wrapped")
	}
	if got, want := e.Err.Error(), "acme: stream ended without [DONE]: unexpected EOF"; got != want {
		t.Errorf("Err = %q, want %q", got, want)
	}

	err = BadAnswer("acme", "stream ended before finish", nil)
	if got, want := err.(*llm.Error).Err.Error(), "acme: stream ended before finish"; got != want {
		t.Errorf("nil cause: Err = %q, want %q", got, want)
	}
}

// closeRecorder notes whether the body of a response was closed.
type closeRecorder struct {
	io.ReadCloser
	closed bool
}

func (c *closeRecorder) Close() error {
	c.closed = true
	return c.ReadCloser.Close()
}

type recordingTransport struct {
	body *closeRecorder
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	rt.body = &closeRecorder{ReadCloser: resp.Body}
	resp.Body = rt.body
	return resp, nil
}

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":"busy"}`)
			return
		}
		_, _ = io.WriteString(w, "data: ok\n\n")
	}))
	defer srv.Close()

	newRequest := func(t *testing.T, ctx context.Context, path string) *http.Request {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	sentinel := errors.New("classified")

	t.Run("2xx is returned open", func(t *testing.T) {
		rt := &recordingTransport{}
		resp, err := Do(&http.Client{Transport: rt}, newRequest(t, context.Background(), "/ok"), "acme", func(*http.Response) error {
			t.Error("statusError called for a 200")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if rt.body.closed {
			t.Error("body closed before the caller read it")
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != "data: ok\n\n" {
			t.Errorf("body = %q", b)
		}
	})

	t.Run("non-2xx goes to statusError and is closed", func(t *testing.T) {
		rt := &recordingTransport{}
		var seen string
		_, err := Do(&http.Client{Transport: rt}, newRequest(t, context.Background(), "/fail"), "acme", func(resp *http.Response) error {
			seen = resp.Status + " " + string(ReadErrorBody(resp)) + " retry " + RetryAfter(resp.Header.Get("Retry-After"), time.Now()).String()
			return sentinel
		})
		if !errors.Is(err, sentinel) {
			t.Fatalf("err = %v, want statusError's", err)
		}
		if want := `503 Service Unavailable {"error":"busy"} retry 7s`; seen != want {
			t.Errorf("statusError saw %q, want %q", seen, want)
		}
		if !rt.body.closed {
			t.Error("error body left open")
		}
	})

	t.Run("transport failure is classified", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Do(http.DefaultClient, req, "acme", func(*http.Response) error { return sentinel })
		if k := llm.KindOf(err); k != llm.KindUnavailable {
			t.Errorf("kind = %v, want unavailable (%v)", k, err)
		}
	})

	t.Run("canceled caller", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Do(http.DefaultClient, newRequest(t, ctx, "/ok"), "acme", func(*http.Response) error { return sentinel })
		if k := llm.KindOf(err); k != llm.KindCanceled {
			t.Errorf("kind = %v, want canceled (%v)", k, err)
		}
	})
}

// TestStringsClone: a clone equals its source and keeps its value when
// the source's memory is rewritten (the reuse sse.ReadRaw makes), for
// short strings sharing a block and long ones copied alone.
func TestStringsClone(t *testing.T) {
	var a Strings
	src := make([]byte, 3000)
	var got, want []string
	for i := 0; i < 400; i++ {
		n := []int{0, 1, 7, 300, 1500}[i%5]
		for j := range src[:n] {
			src[j] = byte('a' + (i+j)%26)
		}
		s := unsafe.String(unsafe.SliceData(src), n)
		want = append(want, strings.Clone(s))
		got = append(got, a.Clone(s))
	}
	for j := range src {
		src[j] = '#'
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("clone %d: %q, want %q", i, got[i], want[i])
		}
	}
}
