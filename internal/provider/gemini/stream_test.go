package gemini_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
)

func hello(model string) *llm.Request {
	return &llm.Request{Model: model, MaxTokens: 64, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
}

func TestUsageNormalised(t *testing.T) {
	c, srv := newTest(t)
	srv.Enqueue(fakegemini.Reply{
		Thoughts:     []string{"**Planning** the greeting"},
		Deltas:       []string{"A", "B"},
		ModelVersion: "gemini-2.5-flash-preview-05-20",
		Usage: fakegemini.Usage{PromptTokenCount: 100, CandidatesTokenCount: 20, ThoughtsTokenCount: 50,
			CachedContentTokenCount: 40, ToolUsePromptTokenCount: 5, TotalTokenCount: 175},
	})
	r, err := llm.Collect(c.Stream(context.Background(), hello("gemini-2.5-flash")))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{
		Text: "AB", FinishReason: llm.FinishStop, Model: "gemini-2.5-flash-preview-05-20", Provider: "google",
		Usage: llm.Usage{InputTokens: 100, OutputTokens: 70, ThinkingTokens: 50, CachedInputTokens: 40, ToolUseInputTokens: 5, TotalTokens: 175},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

func TestModelDefaultsToRequested(t *testing.T) {
	c, srv := newTest(t)
	srv.Enqueue(fakegemini.Reply{Deltas: []string{"x"}, ModelVersion: ""})
	r, err := llm.Collect(c.Stream(context.Background(), hello("models/gemini-2.5-flash")))
	if err != nil {
		t.Fatal(err)
	}
	// The fake reports the requested id as modelVersion by default.
	if r.Model != "gemini-2.5-flash" {
		t.Errorf("model = %q", r.Model)
	}
}

func TestFinishReasons(t *testing.T) {
	tests := []struct {
		name   string
		reply  fakegemini.Reply
		finish string
	}{
		{"max tokens with text", fakegemini.Reply{Deltas: []string{"partial"}, FinishReason: "MAX_TOKENS"}, llm.FinishLength},
		{"safety after text", fakegemini.Reply{Deltas: []string{"partial"}, FinishReason: "SAFETY"}, llm.FinishContentFilter},
		{"recitation after text", fakegemini.Reply{Deltas: []string{"partial"}, FinishReason: "RECITATION"}, llm.FinishContentFilter},
		{"other", fakegemini.Reply{Deltas: []string{"x"}, FinishReason: "OTHER"}, llm.FinishStop},
		{"function call", fakegemini.ToolCallReply("f", `{"a":1}`), llm.FinishToolCalls},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newTest(t)
			srv.Enqueue(tt.reply)
			r, err := llm.Collect(c.Stream(context.Background(), hello("gemini-2.5-flash")))
			if err != nil {
				t.Fatal(err)
			}
			if r.FinishReason != tt.finish {
				t.Errorf("finish = %q, want %q", r.FinishReason, tt.finish)
			}
		})
	}
}

func TestEmptyAndBlocked(t *testing.T) {
	tests := []struct {
		name  string
		reply fakegemini.Reply
		kind  llm.Kind
		msg   []string
	}{
		{"thinking used the budget", fakegemini.EmptyThinkingReply(61), llm.KindEmpty,
			[]string{"MAX_TOKENS", "thoughtsTokenCount 61", "max_tokens", "thinking budget"}},
		{"prompt blocked", fakegemini.BlockedReply("SAFETY"), llm.KindBlocked, []string{"prompt", "SAFETY"}},
		{"prompt blocked, prohibited", fakegemini.BlockedReply("PROHIBITED_CONTENT"), llm.KindBlocked, []string{"PROHIBITED_CONTENT"}},
		{"answer blocked", fakegemini.Reply{FinishReason: "SAFETY"}, llm.KindBlocked, []string{"answer", "SAFETY"}},
		{"answer blocked, SPII", fakegemini.Reply{FinishReason: "SPII"}, llm.KindBlocked, []string{"SPII"}},
		{"empty stop", fakegemini.Reply{}, llm.KindEmpty, []string{"STOP"}},
		{"only thoughts", fakegemini.Reply{Thoughts: []string{"hmm"}, FinishReason: "MAX_TOKENS",
			Usage: fakegemini.Usage{ThoughtsTokenCount: 64}}, llm.KindEmpty, []string{"thoughtsTokenCount 64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newTest(t)
			srv.Enqueue(tt.reply)
			r, err := llm.Collect(c.Stream(context.Background(), hello("gemini-2.5-flash")))
			if llm.KindOf(err) != tt.kind {
				t.Fatalf("err = %v (kind %v), want %v", err, llm.KindOf(err), tt.kind)
			}
			if llm.Retryable(err) {
				t.Errorf("%v is retryable", err)
			}
			if r.Text != "" {
				t.Errorf("text = %q, want none", r.Text)
			}
			for _, m := range tt.msg {
				if !strings.Contains(llm.PublicMessage(err), m) {
					t.Errorf("message %q lacks %q", llm.PublicMessage(err), m)
				}
			}
		})
	}
}

func TestStreamFaults(t *testing.T) {
	tests := []struct {
		name      string
		reply     fakegemini.Reply
		kind      llm.Kind
		retryable bool
		text      string
	}{
		{"reset before first byte", fakegemini.Reply{Deltas: []string{"a"}, Fault: fakegemini.FaultReset}, llm.KindUnavailable, true, ""},
		{"cut after headers", fakegemini.Reply{Deltas: []string{"a"}, Fault: fakegemini.FaultCut}, llm.KindUpstream, true, ""},
		{"malformed chunk", fakegemini.Reply{Deltas: []string{"a", "b"}, Fault: fakegemini.FaultMalformed, After: 1}, llm.KindUpstream, true, "a"},
		{"in-band overload", fakegemini.Reply{Deltas: []string{"a", "b"}, Fault: fakegemini.FaultInBandError, After: 1,
			Error: &fakegemini.Status{Code: 503, Status: "UNAVAILABLE", Message: "The model is overloaded."}}, llm.KindUnavailable, true, "a"},
		{"in-band rate limit", fakegemini.Reply{Deltas: []string{"a"}, Fault: fakegemini.FaultInBandError,
			Error: fakegemini.RateLimitReply("4s").Error}, llm.KindRateLimited, true, ""},
		{"in-band bad request", fakegemini.Reply{Deltas: []string{"a"}, Fault: fakegemini.FaultInBandError,
			Error: &fakegemini.Status{Code: 400, Status: "INVALID_ARGUMENT", Message: "nope"}}, llm.KindInvalid, false, ""},
		{"http 503", fakegemini.ErrorReply(503, "The model is overloaded. Please try again later."), llm.KindUnavailable, true, ""},
		{"http 504", fakegemini.ErrorReply(504, "Deadline expired"), llm.KindUnavailable, true, ""},
		{"http 403", fakegemini.ErrorReply(403, "denied"), llm.KindForbidden, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newTest(t)
			srv.Enqueue(tt.reply)
			r, err := llm.Collect(c.Stream(context.Background(), hello("gemini-2.5-flash")))
			if llm.KindOf(err) != tt.kind || llm.Retryable(err) != tt.retryable {
				t.Fatalf("err = %v (kind %v, retryable %v), want %v", err, llm.KindOf(err), llm.Retryable(err), tt.kind)
			}
			if r.Text != tt.text {
				t.Errorf("partial text = %q, want %q", r.Text, tt.text)
			}
		})
	}
}

func TestInBandRetryHint(t *testing.T) {
	c, srv := newTest(t)
	srv.Enqueue(fakegemini.Reply{Deltas: []string{"a"}, Fault: fakegemini.FaultInBandError, Error: fakegemini.RateLimitReply("1.5s").Error})
	_, err := llm.Collect(c.Stream(context.Background(), hello("gemini-2.5-flash")))
	var e *llm.Error
	if !errors.As(err, &e) || e.RetryAfter != 1500*time.Millisecond || e.StatusCode != 429 {
		t.Fatalf("err = %#v", err)
	}
}

func TestCutAfterFinishLosesNothing(t *testing.T) {
	c, srv := newTest(t)
	srv.Enqueue(fakegemini.Reply{Deltas: []string{"a", "b"}, Fault: fakegemini.FaultCut, After: 2})
	r, err := llm.Collect(c.Stream(context.Background(), hello("gemini-2.5-flash")))
	if err != nil || r.Text != "ab" || r.FinishReason != llm.FinishStop {
		t.Fatalf("got %+v, %v", r, err)
	}
}

// TestBreakCancelsUpstream proves that leaving the loop early ends the
// upstream request: the fake sees its request context canceled.
func TestBreakCancelsUpstream(t *testing.T) {
	tests := []struct {
		name  string
		reply fakegemini.Reply
	}{
		{"stalled mid-stream", fakegemini.Reply{Deltas: []string{"a", "b", "c"}, Fault: fakegemini.FaultStall, After: 1}},
		{"slow trickle", fakegemini.Reply{Deltas: strings.Split(strings.Repeat("x", 200), ""), Delay: 20 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newTest(t)
			srv.Enqueue(tt.reply)
			n := 0
			for ch, err := range c.Stream(context.Background(), hello("gemini-2.5-flash")) {
				if err != nil {
					t.Fatal(err)
				}
				n++
				if ch.Delta != "" {
					break
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if !srv.WaitCanceled(ctx, 1) {
				t.Fatalf("the fake never saw the request canceled (chunks read: %d)", n)
			}
		})
	}
}

func TestContextErrors(t *testing.T) {
	t.Run("deadline while waiting for headers", func(t *testing.T) {
		c, srv := newTest(t)
		srv.Enqueue(fakegemini.Reply{Deltas: []string{"a"}, Fault: fakegemini.FaultHang})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := llm.Collect(c.Stream(ctx, hello("gemini-2.5-flash")))
		if llm.KindOf(err) != llm.KindTimeout {
			t.Fatalf("err = %v (kind %v), want timeout", err, llm.KindOf(err))
		}
	})
	t.Run("canceled mid-stream", func(t *testing.T) {
		c, srv := newTest(t)
		srv.Enqueue(fakegemini.Reply{Deltas: []string{"a", "b"}, Fault: fakegemini.FaultStall, After: 1})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var last error
		for ch, err := range c.Stream(ctx, hello("gemini-2.5-flash")) {
			if ch.Delta == "a" {
				cancel() // the client goes away while upstream stalls
			}
			last = err
		}
		if llm.KindOf(last) != llm.KindCanceled {
			t.Fatalf("err = %v (kind %v), want canceled", last, llm.KindOf(last))
		}
	})
	t.Run("stall released", func(t *testing.T) {
		c, srv := newTest(t)
		release := make(chan struct{})
		srv.Enqueue(fakegemini.Reply{Deltas: []string{"a", "b"}, Fault: fakegemini.FaultStall, After: 1, Release: release})
		var text string
		for ch, err := range c.Stream(context.Background(), hello("gemini-2.5-flash")) {
			if err != nil {
				t.Fatal(err)
			}
			if ch.Delta == "a" {
				close(release)
			}
			text += ch.Delta
		}
		if text != "ab" {
			t.Errorf("text = %q", text)
		}
	})
}

func TestWireRequest(t *testing.T) {
	c, srv := newTest(t)
	srv.AddModel("tunedModels/xyz")
	req := hello("tunedModels/xyz")
	if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
		t.Fatal(err)
	}
	got := srv.Last(t)
	if got.Path != "/v1beta/tunedModels/xyz:streamGenerateContent" || got.Query.Get("alt") != "sse" {
		t.Errorf("path %q query %v", got.Path, got.Query)
	}
	if got.Query.Has("key") || strings.Contains(got.Query.Encode(), srv.Key) {
		t.Errorf("key in the URL: %v", got.Query)
	}
	if got.Header.Get("x-goog-api-key") != srv.Key || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", got.Header)
	}
	if gc := got.Body.GenerationConfig; gc == nil || gc.MaxOutputTokens != 64 || gc.ThinkingConfig != nil {
		t.Errorf("generationConfig %+v", gc)
	}
}

func TestProModelAccepted(t *testing.T) {
	// The fake rejects thinkingBudget 0 on Pro, as Google does; the
	// adapter sends Pro's smallest budget instead, added to the limit.
	c, srv := newTest(t)
	req := hello("gemini-2.5-pro")
	req.ThinkingBudget = new(int)
	if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
		t.Fatal(err)
	}
	gc := srv.Last(t).Body.GenerationConfig
	if tc := gc.ThinkingConfig; tc == nil || tc.ThinkingBudget == nil || *tc.ThinkingBudget != 128 || gc.MaxOutputTokens != 64+128 {
		t.Errorf("generationConfig %+v thinking %+v", gc, gc.ThinkingConfig)
	}
}

func TestToolRoundTrip(t *testing.T) {
	c, srv := newTest(t)
	srv.Enqueue(fakegemini.ToolCallReply("get_weather", `{"city":"Paris"}`))
	req := hello("gemini-2.5-flash")
	req.Tools = []llm.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
	r, err := llm.Collect(c.Stream(context.Background(), req))
	if err != nil {
		t.Fatal(err)
	}
	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, ToolCalls: r.ToolCalls},
		llm.Message{Role: llm.RoleTool, ToolCallID: r.ToolCalls[0].ID, Content: "18C"})
	if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
		t.Fatal(err)
	}
	body := srv.Last(t).Body
	if len(body.Contents) != 3 || body.Contents[1].Role != "model" || body.Contents[2].Role != "user" {
		t.Fatalf("contents %+v", body.Contents)
	}
	fr := body.Contents[2].Parts[0].FunctionResponse
	if fr == nil || fr.Name != "get_weather" || string(fr.Response) != `{"output":"18C"}` {
		t.Errorf("function response %+v", fr)
	}
}

func TestKeyNeverLeaks(t *testing.T) {
	srv := fakegemini.New(t)
	const wrong = "wrong-key-0123456789"
	c := gemini.New(gemini.Config{BaseURL: srv.URL, APIKey: wrong})
	_, err := llm.Collect(c.Stream(context.Background(), hello("gemini-2.5-flash")))
	if llm.KindOf(err) != llm.KindUnauthorized {
		t.Fatalf("err = %v (kind %v), want unauthorized", err, llm.KindOf(err))
	}
	for _, s := range []string{err.Error(), llm.PublicMessage(err), fmtAll(err)} {
		if strings.Contains(s, wrong) {
			t.Errorf("key in error text %q", s)
		}
	}
	for _, r := range srv.Requests() {
		if strings.Contains(r.Path+r.Query.Encode(), wrong) {
			t.Errorf("key in URL %s?%s", r.Path, r.Query.Encode())
		}
	}
	// Unreachable host: the transport error names the URL, never the key.
	c = gemini.New(gemini.Config{BaseURL: "http://127.0.0.1:1", APIKey: wrong})
	_, err = llm.Collect(c.Stream(context.Background(), hello("gemini-2.5-flash")))
	if llm.KindOf(err) != llm.KindUnavailable || strings.Contains(fmtAll(err), wrong) {
		t.Errorf("unreachable: %v", err)
	}
}

// fmtAll renders the whole error chain, as a log line would.
func fmtAll(err error) string {
	var b strings.Builder
	for e := err; e != nil; e = errors.Unwrap(e) {
		b.WriteString(e.Error() + " | ")
	}
	return b.String()
}

func TestUnknownModel(t *testing.T) {
	c, _ := newTest(t)
	_, err := llm.Collect(c.Stream(context.Background(), hello("gemini-9-ultra")))
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindNotFound || e.StatusCode != http.StatusNotFound {
		t.Fatalf("err = %v", err)
	}
}

func TestPing(t *testing.T) {
	c, srv := newTest(t)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if r := srv.Last(t); r.Method != http.MethodGet || r.Path != "/v1beta/models" {
		t.Errorf("ping sent %s %s", r.Method, r.Path)
	}
	bad := gemini.New(gemini.Config{BaseURL: srv.URL, APIKey: "nope"})
	if err := bad.Ping(context.Background()); llm.KindOf(err) != llm.KindUnauthorized {
		t.Errorf("ping with a bad key: %v", err)
	}
}

func TestStreamIsLazy(t *testing.T) {
	c, srv := newTest(t)
	_ = c.Stream(context.Background(), hello("gemini-2.5-flash"))
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent before iterating", n)
	}
}

// Every content chunk carries the cumulative usage Gemini reported so
// far, so a caller that stops early is billed what was spent (issue 18
// item 5).
func TestContentChunksCarryUsageSoFar(t *testing.T) {
	c, srv := newTest(t)
	srv.Enqueue(fakegemini.Reply{Deltas: []string{"A", "B", "C", "D"},
		Usage: fakegemini.Usage{PromptTokenCount: 100, CandidatesTokenCount: 40, TotalTokenCount: 140}})
	var got []*llm.Usage
	for ch, err := range c.Stream(context.Background(), hello("gemini-2.5-flash")) {
		if err != nil {
			t.Fatal(err)
		}
		if ch.HasContent() {
			got = append(got, ch.Usage)
		}
		if len(got) == 3 {
			break // the client leaves before the end
		}
	}
	if len(got) != 3 {
		t.Fatalf("got %d content chunks", len(got))
	}
	for i, u := range got {
		if u == nil || u.InputTokens != 100 || u.OutputTokens == 0 {
			t.Fatalf("content chunk %d usage = %+v, want the usage reported so far", i, u)
		}
	}
	if got[2].OutputTokens < got[0].OutputTokens {
		t.Errorf("usage shrank: %+v then %+v", got[0], got[2])
	}
}

// CheckModel is models.get on the configured model: the deep health
// check (issue 18 item 10).
func TestCheckModel(t *testing.T) {
	c, srv := newTest(t)
	if err := c.CheckModel(context.Background(), "gemini-2.5-flash"); err != nil {
		t.Fatalf("known model: %v", err)
	}
	if r := srv.Last(t); r.Method != http.MethodGet || r.Path != "/v1beta/models/gemini-2.5-flash" {
		t.Errorf("check sent %s %s", r.Method, r.Path)
	}
	if err := c.CheckModel(context.Background(), "gemini-0-nonexistent"); llm.KindOf(err) != llm.KindNotFound {
		t.Errorf("unknown model: %v, want not found", err)
	}
}
