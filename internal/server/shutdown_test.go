package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

// shutdownServer serves s, which stops with the returned stop. With
// base, the HTTP server's base context is s.BaseContext (the service's
// own wiring: requests end at Stopping without a hook each); without,
// each model request hooks itself to Stopping.
func shutdownServer(t *testing.T, h *harness, base bool) (*httptest.Server, context.CancelFunc) {
	t.Helper()
	stopping, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	s := &Server{GW: h.gw, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Stopping: stopping}
	srv := httptest.NewUnstartedServer(s.Handler())
	if base {
		ctx := s.BaseContext(context.Background())
		srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, stop
}

// A stream still running when the service stops ends with the explicit
// error event of its API, never a silent cut (issue 18 item 13); the
// event says the service is shutting down.
func TestStreamCutByShutdownEndsWithError(t *testing.T) {
	tests := []struct {
		path, body string
		wantEnd    []string // substrings of the stream's last lines
	}{
		{"/chat", `{"prompt":"hi","stream":true}`, []string{"event: error", `"kind":"unavailable"`, "shutting down"}},
		{"/v1/chat/completions", `{"model":"default","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			[]string{`data: {"error":`, "shutting down"}},
	}
	for _, tc := range tests {
		for _, base := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/base context %v", tc.path, base), func(t *testing.T) {
				h := newHarness(t)
				h.primary.SetDefault(fakeprovider.Text("first words "), fakeprovider.Hang())
				srv, stop := shutdownServer(t, h, base)
				resp, err := http.Post(srv.URL+tc.path, "application/json", strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				rd := bufio.NewReader(resp.Body)
				var seen strings.Builder
				for !strings.Contains(seen.String(), "first words") {
					line, err := rd.ReadString('\n')
					if err != nil {
						t.Fatalf("stream ended before the first delta: %v: %q", err, seen.String())
					}
					seen.WriteString(line)
				}
				stop() // the service begins to shut down
				rest, _ := io.ReadAll(rd)
				for _, want := range tc.wantEnd {
					if !strings.Contains(string(rest), want) {
						t.Errorf("stream end %q lacks %q", rest, want)
					}
				}
				if strings.Contains(string(rest), "[DONE]") || strings.Contains(string(rest), "event: done") {
					t.Errorf("a cut stream ended cleanly: %q", rest)
				}
			})
		}
	}
}

// A non-streaming request still waiting for its answer at shutdown ends
// with a 503 saying so, and a Retry-After (issue 18 item 13).
func TestRequestCutByShutdownIs503(t *testing.T) {
	for _, base := range []bool{false, true} {
		t.Run(fmt.Sprintf("base context %v", base), func(t *testing.T) {
			h := newHarness(t)
			arrived := make(chan struct{})
			h.primary.SetDefault(fakeprovider.Do(func(context.Context) { close(arrived) }), fakeprovider.Hang())
			srv, stop := shutdownServer(t, h, base)
			go func() { <-arrived; stop() }()
			resp, err := http.Post(srv.URL+"/chat", "application/json", strings.NewReader(`{"prompt":"hi"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "shutting down") || resp.Header.Get("Retry-After") == "" {
				t.Errorf("status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
		})
	}
}

// TestRequestContextUnderBaseContext: under BaseContext a non-stream
// request runs on its own context as it is (no context, no hook of its
// own), which ends at shutdown; a stream still gets its own cancel.
func TestRequestContextUnderBaseContext(t *testing.T) {
	stopping, stop := context.WithCancel(context.Background())
	defer stop()
	s := &Server{Stopping: stopping}
	r := httptest.NewRequest("POST", "/chat", nil)
	r = r.WithContext(s.BaseContext(context.Background()))
	ctx, cancel := s.requestContext(r, false)
	defer cancel()
	if ctx != r.Context() {
		t.Error("a non-stream request under BaseContext got a context of its own")
	}
	sctx, scancel := s.requestContext(r, true)
	scancel()
	if sctx.Err() == nil {
		t.Error("a stream's cancel did not end its context")
	}
	stop()
	<-ctx.Done() // ends at shutdown (a hang fails the test by its timeout)
}
