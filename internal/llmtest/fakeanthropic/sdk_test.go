package fakeanthropic_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeanthropic"
)

// The official SDK (v2: anthropic-version 2026-10-21, Authorization:
// Bearer), used as a client, proves the fake speaks the Messages API.

func sdkClient(t *testing.T, f *fakeanthropic.Server, key string) anthropic.Client {
	t.Helper()
	for _, k := range []string{"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS"} {
		t.Setenv(k, "")
	}
	return anthropic.NewClient(option.WithAPIKey(key), option.WithBaseURL(f.URL), option.WithMaxRetries(0))
}

func params() anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "claude-haiku-4-5",
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello"))},
	}
}

func TestSDKNew(t *testing.T) {
	f := fakeanthropic.New(t)
	f.Enqueue(fakeanthropic.Reply{Text: []string{"Hello", ", world"}, Usage: &fakeanthropic.Usage{InputTokens: 9, OutputTokens: 2, CacheReadInputTokens: 4}})
	c := sdkClient(t, f, fakeanthropic.Key)
	msg, err := c.Messages.New(context.Background(), params())
	if err != nil {
		t.Fatal(err)
	}
	if msg.Role != "assistant" || len(msg.Content) != 1 || msg.Content[0].Text != "Hello, world" || msg.StopReason != anthropic.StopReasonEndTurn {
		t.Fatalf("message = %s", msg.RawJSON())
	}
	if msg.Usage.InputTokens != 9 || msg.Usage.OutputTokens != 2 || msg.Usage.CacheReadInputTokens != 4 {
		t.Errorf("usage = %s", msg.Usage.RawJSON())
	}
	r := f.LastRequest()
	if r.Header.Get("Authorization") != "Bearer "+fakeanthropic.Key || r.Header.Get("Anthropic-Version") != "2026-10-21" {
		t.Errorf("SDK headers: auth %q version %q", r.Header.Get("Authorization"), r.Header.Get("Anthropic-Version"))
	}
}

func TestSDKStreamAccumulate(t *testing.T) {
	f := fakeanthropic.New(t)
	f.Enqueue(fakeanthropic.Reply{
		Text:      []string{"Let me ", "check."},
		ToolCalls: []fakeanthropic.ToolCall{{ID: "toolu_1", Name: "get_weather", Input: `{"city":"Paris","unit":"celsius"}`}},
		Usage:     &fakeanthropic.Usage{InputTokens: 20, OutputTokens: 31, ThinkingTokens: 5},
	})
	c := sdkClient(t, f, fakeanthropic.Key)
	p := params()
	p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}},
	}}}}
	stream := c.Messages.NewStreaming(context.Background(), p)
	var msg anthropic.Message
	events := 0
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Text != "Let me check." {
		t.Fatalf("content = %s", msg.RawJSON())
	}
	tu := msg.Content[1]
	if tu.Type != "tool_use" || tu.ID != "toolu_1" || tu.Name != "get_weather" || string(tu.Input) != `{"city":"Paris","unit":"celsius"}` {
		t.Errorf("tool use = %+v input %s", tu, tu.Input)
	}
	if msg.StopReason != anthropic.StopReasonToolUse || msg.Usage.OutputTokens != 31 || msg.Usage.InputTokens != 20 || msg.Usage.OutputTokensDetails.ThinkingTokens != 5 {
		t.Errorf("stop %q usage %s", msg.StopReason, msg.Usage.RawJSON())
	}

	// The answer goes back with the tool result; the fake checks pairing.
	p.Messages = append(p.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_1", `{"temp":21}`, false)))
	if _, err := c.Messages.New(context.Background(), p); err != nil {
		t.Fatalf("tool result turn: %v", err)
	}
	// A tool_use left unanswered is refused as the API does.
	p.Messages = p.Messages[:2]
	p.Messages = append(p.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock("never mind")))
	if _, err := c.Messages.New(context.Background(), p); !isStatus(err, 400) {
		t.Errorf("unanswered tool_use: err = %v", err)
	}
}

func isStatus(err error, status int) bool {
	var e *anthropic.Error
	return errors.As(err, &e) && e.StatusCode == status
}

func TestSDKErrors(t *testing.T) {
	t.Run("429 rate limit", func(t *testing.T) {
		f := fakeanthropic.New(t)
		f.Enqueue(fakeanthropic.Reply{Status: 429, Error: fakeanthropic.APIError{Type: "rate_limit_error", Message: "slow down"}, Header: http.Header{"Retry-After": {"2"}}})
		c := sdkClient(t, f, fakeanthropic.Key)
		_, err := c.Messages.New(context.Background(), params())
		var e *anthropic.Error
		if !errors.As(err, &e) || e.StatusCode != 429 || e.Type() != "rate_limit_error" {
			t.Fatalf("err = %v", err)
		}
		if e.Response.Header.Get("Retry-After") != "2" || len(f.Requests()) != 1 {
			t.Errorf("retry-after %q, %d requests", e.Response.Header.Get("Retry-After"), len(f.Requests()))
		}
	})
	t.Run("529 overloaded", func(t *testing.T) {
		f := fakeanthropic.New(t)
		f.Enqueue(fakeanthropic.Reply{Status: 529, Error: fakeanthropic.APIError{Type: "overloaded_error", Message: "Overloaded"}})
		c := sdkClient(t, f, fakeanthropic.Key)
		_, err := c.Messages.New(context.Background(), params())
		var e *anthropic.Error
		if !errors.As(err, &e) || e.StatusCode != 529 || e.Type() != "overloaded_error" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("401", func(t *testing.T) {
		f := fakeanthropic.New(t)
		c := sdkClient(t, f, "sk-ant-wrong")
		_, err := c.Messages.New(context.Background(), params())
		var e *anthropic.Error
		if !errors.As(err, &e) || e.StatusCode != 401 || e.Type() != "authentication_error" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("in-band error event", func(t *testing.T) {
		f := fakeanthropic.New(t)
		f.Enqueue(fakeanthropic.Reply{Text: []string{"a", "b"}, Fault: fakeanthropic.FaultErrorAfter, After: 1})
		c := sdkClient(t, f, fakeanthropic.Key)
		s := c.Messages.NewStreaming(context.Background(), params())
		var msg anthropic.Message
		for s.Next() {
			_ = msg.Accumulate(s.Current())
		}
		var e *anthropic.Error
		if !errors.As(s.Err(), &e) || e.Type() != "overloaded_error" {
			t.Fatalf("err = %v", s.Err())
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "a" {
			t.Errorf("partial = %s", msg.RawJSON())
		}
	})
}
