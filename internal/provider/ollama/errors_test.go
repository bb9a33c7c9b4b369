package ollama

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		reply      fakeollama.Reply
		model      string
		kind       llm.Kind
		retry      bool
		retryAfter time.Duration
		contains   []string
	}{
		{"unknown model (fake validation)", fakeollama.Reply{}, "does-not-exist", llm.KindNotFound, false, 0,
			[]string{`"does-not-exist"`, "ollama pull does-not-exist"}},
		{"400 capability", fakeollama.Reply{Status: 400, Body: `{"error":"\"tiny\" does not support tools"}`}, "tiny", llm.KindInvalid, false, 0,
			[]string{`"tiny" does not support tools`}},
		{"401 cloud auth", fakeollama.Reply{Status: 401, Body: `{"error":"unauthorized","signin_url":"https://ollama.com/connect?x"}`}, "tiny", llm.KindUnauthorized, false, 0,
			[]string{"unauthorized"}},
		{"403", fakeollama.Reply{Status: 403, Body: `{"error":"forbidden"}`}, "tiny", llm.KindForbidden, false, 0, nil},
		{"429 with Retry-After", fakeollama.Reply{Status: 429, Header: http.Header{"Retry-After": {"7"}}, Body: `{"error":"too many requests"}`}, "tiny",
			llm.KindRateLimited, true, 7 * time.Second, []string{"too many requests"}},
		{"429 without hint", fakeollama.Reply{Status: 429, Body: `{"error":"too many requests"}`}, "tiny", llm.KindRateLimited, true, 0, nil},
		{"503 server busy", fakeollama.Reply{Status: 503, Body: `{"error":"server busy, please try again.  maximum pending requests exceeded"}`}, "tiny",
			llm.KindUnavailable, true, 0, []string{"server busy"}},
		{"503 with Retry-After", fakeollama.Reply{Status: 503, Header: http.Header{"Retry-After": {"1"}}}, "tiny", llm.KindUnavailable, true, time.Second, nil},
		{"500 runner crash", fakeollama.Reply{Status: 500, Body: `{"error":"llama runner process has terminated: exit status 2"}`}, "tiny",
			llm.KindUnavailable, true, 0, []string{"runner process"}},
		{"502 proxy html body is not shown", fakeollama.Reply{Status: 502, Body: "<html><body>Bad Gateway secret-internal-host</body></html>"}, "tiny",
			llm.KindUnavailable, true, 0, []string{"http 502 Bad Gateway"}},
		{"504", fakeollama.Reply{Status: 504}, "tiny", llm.KindTimeout, true, 0, nil},
		{"499 canceled", fakeollama.Reply{Status: 499, Body: `{"error":"request canceled"}`}, "tiny", llm.KindCanceled, false, 0, nil},
		{"413", fakeollama.Reply{Status: 413}, "tiny", llm.KindInvalid, false, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeollama.New(t)
			if tt.reply.Status != 0 {
				f.Enqueue(tt.reply)
			}
			_, err := llm.Collect(newClient(t, f.URL).Stream(context.Background(), userRequest(tt.model)))
			if llm.KindOf(err) != tt.kind || llm.Retryable(err) != tt.retry {
				t.Fatalf("err = %v (kind %v, retryable %v), want %v retryable %v", err, llm.KindOf(err), llm.Retryable(err), tt.kind, tt.retry)
			}
			var e *llm.Error
			if !errors.As(err, &e) || e.Provider != "ollama" {
				t.Fatalf("err %v is not an ollama *llm.Error", err)
			}
			if want := tt.reply.Status; want != 0 && e.StatusCode != want {
				t.Errorf("status code %d, want %d", e.StatusCode, want)
			}
			if got := llm.RetryAfter(err); got != tt.retryAfter {
				t.Errorf("retry after %v, want %v", got, tt.retryAfter)
			}
			for _, s := range tt.contains {
				if !strings.Contains(llm.PublicMessage(err), s) {
					t.Errorf("message %q does not mention %q", llm.PublicMessage(err), s)
				}
			}
			if strings.Contains(llm.PublicMessage(err), "<html>") || strings.Contains(llm.PublicMessage(err), "secret-internal-host") {
				t.Errorf("message %q shows the raw body", llm.PublicMessage(err))
			}
		})
	}
}

// TestConnectionRefused points the adapter at a closed port; the message
// names the host but never the password in it.
func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(Config{Host: "http://admin:s3cret@" + addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = llm.Collect(c.Stream(context.Background(), userRequest("tiny")))
	if llm.KindOf(err) != llm.KindUnavailable || !llm.Retryable(err) {
		t.Fatalf("err = %v (kind %v), want unavailable", err, llm.KindOf(err))
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("message %q does not name the host %s", err, addr)
	}
	for _, s := range []string{err.Error(), errors.Unwrap(err).Error(), llm.PublicMessage(err)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("error text shows the password: %q", s)
		}
	}
	if err := c.Ping(context.Background()); llm.KindOf(err) != llm.KindUnavailable {
		t.Errorf("Ping: %v (kind %v), want unavailable", err, llm.KindOf(err))
	}
}

func TestCleanMessage(t *testing.T) {
	got := clean("line1\nline2\x00" + strings.Repeat("é", 400))
	if strings.ContainsAny(got, "\n\x00") || len(got) > maxMessage+len("…") {
		t.Errorf("clean = %q (%d bytes)", got, len(got))
	}
}
