package anthropic

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeanthropic"
)

func newFake(t *testing.T, cfg Config) (*Client, *fakeanthropic.Server) {
	t.Helper()
	f := fakeanthropic.New(t)
	cfg.BaseURL = f.URL
	if cfg.APIKey == "" {
		cfg.APIKey = fakeanthropic.Key
	}
	return New(cfg), f
}

func TestConformance(t *testing.T) {
	llmtest.RunConformance(t, func(t *testing.T) (llm.Provider, llmtest.Scripter, string) {
		c, f := newFake(t, Config{})
		return c, f, "claude-haiku-4-5"
	})
}

func TestRequestHeaders(t *testing.T) {
	c, f := newFake(t, Config{})
	if _, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("claude-haiku-4-5"))); err != nil {
		t.Fatal(err)
	}
	r := f.LastRequest()
	for k, v := range map[string]string{"X-Api-Key": fakeanthropic.Key, "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.Path != "/v1/messages" {
		t.Errorf("path = %q", r.Path)
	}
}

func TestVersion2026(t *testing.T) {
	c, f := newFake(t, Config{Version: Version2026})
	_, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("claude-haiku-4-5")))
	if llm.KindOf(err) != llm.KindInvalid || !strings.Contains(err.Error(), "temperature") {
		t.Fatalf("err = %v, want invalid naming temperature", err)
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("a refused request reached the upstream (%d requests)", n)
	}
	req := llmtest.ConformanceRequest("claude-haiku-4-5")
	req.Temperature = nil
	if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
		t.Fatal(err)
	}
	if v := f.LastRequest().Header.Get("Anthropic-Version"); v != Version2026 {
		t.Errorf("version header = %q", v)
	}
}

func TestToolCallRoundTrip(t *testing.T) {
	c, f := newFake(t, Config{})
	f.Enqueue(fakeanthropic.Reply{
		Text:      []string{"Checking."},
		ToolCalls: []fakeanthropic.ToolCall{{ID: "toolu_1", Name: "get_weather", Input: `{"city":"Paris"}`}, {ID: "toolu_2", Name: "get_time", Input: `{"tz":"Europe/Paris"}`}},
		Usage:     &fakeanthropic.Usage{InputTokens: 30, CacheReadInputTokens: 200, CacheCreationInputTokens: 5, OutputTokens: 42, ThinkingTokens: 12},
	})
	req := llmtest.ConformanceRequest("claude-haiku-4-5")
	req.Tools = []llm.Tool{llmtest.WeatherTool, {Name: "get_time"}}
	req.ToolChoice = "auto"
	r, err := llm.Collect(c.Stream(context.Background(), req))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{
		Text: "Checking.",
		ToolCalls: []llm.ToolCall{
			{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
			{ID: "toolu_2", Name: "get_time", Arguments: `{"tz":"Europe/Paris"}`},
		},
		FinishReason: llm.FinishToolCalls,
		Usage:        llm.Usage{InputTokens: 235, CachedInputTokens: 200, CacheWriteTokens: 5, OutputTokens: 42, ThinkingTokens: 12, TotalTokens: 277},
		Model:        "claude-haiku-4-5", Provider: "anthropic",
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	// History goes back: two tool turns must merge into one user turn or
	// the (strict) fake refuses it.
	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, Content: r.Text, ToolCalls: r.ToolCalls},
		llm.Message{Role: llm.RoleTool, ToolCallID: "toolu_1", Content: `{"temp":21}`},
		llm.Message{Role: llm.RoleTool, ToolCallID: "toolu_2", Content: "12:00"})
	if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
		t.Fatalf("follow-up: %v", err)
	}
}

func TestBreakOutCancelsUpstream(t *testing.T) {
	c, f := newFake(t, Config{})
	f.Enqueue(fakeanthropic.Reply{Text: []string{"a", "b", "c"}, Fault: fakeanthropic.FaultStallAfter, After: 1})
	for ch, err := range c.Stream(context.Background(), llmtest.ConformanceRequest("m")) {
		if err != nil {
			t.Fatal(err)
		}
		if ch.Delta == "a" {
			break
		}
	}
	select {
	case <-f.Canceled():
	case <-time.After(10 * time.Second):
		t.Fatal("the fake never saw the request canceled")
	}
}

func TestFaults(t *testing.T) {
	t.Run("stall before first byte until deadline", func(t *testing.T) {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeanthropic.Reply{Fault: fakeanthropic.FaultStallBefore})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := llm.Collect(c.Stream(ctx, llmtest.ConformanceRequest("m")))
		if llm.KindOf(err) != llm.KindTimeout {
			t.Errorf("err = %v (kind %v)", err, llm.KindOf(err))
		}
	})
	t.Run("cut before first byte", func(t *testing.T) {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeanthropic.Reply{Fault: fakeanthropic.FaultCutBefore})
		_, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("m")))
		if llm.KindOf(err) != llm.KindUnavailable {
			t.Errorf("err = %v (kind %v)", err, llm.KindOf(err))
		}
	})
	for _, tt := range []struct {
		fault fakeanthropic.Fault
		kind  llm.Kind
	}{{fakeanthropic.FaultCutAfter, llm.KindUpstream}, {fakeanthropic.FaultMalformedAfter, llm.KindUpstream}, {fakeanthropic.FaultErrorAfter, llm.KindUnavailable}} {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeanthropic.Reply{Text: []string{"a", "b", "c"}, Fault: tt.fault, After: 2, Trickle: time.Millisecond})
		r, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("m")))
		if llm.KindOf(err) != tt.kind || r.Text != "ab" {
			t.Errorf("fault %d: text %q err %v (kind %v)", tt.fault, r.Text, err, llm.KindOf(err))
		}
	}
	t.Run("529 overloaded", func(t *testing.T) {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeanthropic.Reply{Status: 529, Error: fakeanthropic.APIError{Type: "overloaded_error", Message: "Overloaded"}, Header: http.Header{"Retry-After": {"4"}}})
		_, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("m")))
		if llm.KindOf(err) != llm.KindUnavailable || llm.RetryAfter(err) != 4*time.Second {
			t.Errorf("err = %v retry %v", err, llm.RetryAfter(err))
		}
	})
}

func TestBadKeyAndPing(t *testing.T) {
	c, _ := newFake(t, Config{APIKey: "sk-ant-wrong-1234"})
	_, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("m")))
	if llm.KindOf(err) != llm.KindUnauthorized || strings.Contains(err.Error(), "sk-ant-wrong-1234") {
		t.Errorf("err = %v", err)
	}
	if err := c.Ping(context.Background()); llm.KindOf(err) != llm.KindUnauthorized {
		t.Errorf("ping with a bad key: %v", err)
	}
	good, f := newFake(t, Config{})
	if err := good.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := f.LastRequest(); r.Method != http.MethodGet || r.Path != "/v1/models" {
		t.Errorf("ping sent %s %s", r.Method, r.Path)
	}
}

// CheckModel gets the configured model by id or alias: the deep health
// check (issue 18 item 10); an unknown one is not found.
func TestCheckModel(t *testing.T) {
	c, _ := newFake(t, Config{})
	if err := c.CheckModel(context.Background(), "claude-sonnet-4-5"); err != nil {
		t.Fatalf("known alias: %v", err)
	}
	if err := c.CheckModel(context.Background(), "claude-0-nonexistent"); llm.KindOf(err) != llm.KindNotFound {
		t.Errorf("unknown model: %v, want not found", err)
	}
}
