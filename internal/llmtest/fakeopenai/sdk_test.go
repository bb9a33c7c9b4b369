package fakeopenai_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// The official SDK, used as a client, proves the fake speaks OpenAI's wire
// protocol: if the SDK parses it, so will every OpenAI client.

func sdkClient(t *testing.T, f *fakeopenai.Server, key string) openai.Client {
	t.Helper()
	t.Setenv("OPENAI_BASE_URL", "")
	t.Setenv("OPENAI_API_KEY", "")
	return openai.NewClient(option.WithAPIKey(key), option.WithBaseURL(f.URL+"/v1/"), option.WithMaxRetries(0))
}

func params(stream bool) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Say hello")},
	}
	if stream {
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	return p
}

func TestSDKNonStream(t *testing.T) {
	f := fakeopenai.New(t)
	f.Enqueue(fakeopenai.Reply{Text: []string{"Hello", ", world"}, Usage: &fakeopenai.Usage{PromptTokens: 9, CompletionTokens: 2, CachedTokens: 4, ReasoningTokens: 1}})
	c := sdkClient(t, f, fakeopenai.Key)
	resp, err := c.Chat.Completions.New(context.Background(), params(false))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Object != "chat.completion" || len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "Hello, world" || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("response = %s", resp.RawJSON())
	}
	u := resp.Usage
	if u.PromptTokens != 9 || u.CompletionTokens != 2 || u.TotalTokens != 11 || u.PromptTokensDetails.CachedTokens != 4 || u.CompletionTokensDetails.ReasoningTokens != 1 {
		t.Errorf("usage = %s", u.RawJSON())
	}
	if !resp.JSON.ID.Valid() || !resp.JSON.Created.Valid() || !resp.Choices[0].Message.JSON.Content.Valid() {
		t.Errorf("required fields missing: %s", resp.RawJSON())
	}
	r := f.LastRequest()
	if r.Header.Get("Authorization") != "Bearer "+fakeopenai.Key || r.Path != "/v1/chat/completions" {
		t.Errorf("request %s with auth %q", r.Path, r.Header.Get("Authorization"))
	}
}

func TestSDKStreamWithUsage(t *testing.T) {
	f := fakeopenai.New(t)
	c := sdkClient(t, f, fakeopenai.Key)
	stream := c.Chat.Completions.NewStreaming(context.Background(), params(true))
	var acc openai.ChatCompletionAccumulator
	var last openai.ChatCompletionChunk
	n := 0
	for stream.Next() {
		last = stream.Current()
		if last.Object != "chat.completion.chunk" {
			t.Errorf("chunk object = %q", last.Object)
		}
		acc.AddChunk(last)
		n++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != strings.Join(fakeopenai.DefaultText, "") {
		t.Errorf("content = %q", got)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish = %q", acc.Choices[0].FinishReason)
	}
	if len(last.Choices) != 0 || !last.JSON.Usage.Valid() || last.Usage.TotalTokens != last.Usage.PromptTokens+last.Usage.CompletionTokens {
		t.Errorf("last chunk is not the usage chunk: %s", last.RawJSON())
	}
	if acc.Usage.PromptTokens != 10 {
		t.Errorf("accumulated usage = %+v", acc.Usage)
	}
	if n != len(fakeopenai.DefaultText)+3 {
		t.Errorf("got %d chunks, want role + deltas + finish + usage", n)
	}
}

func TestSDKToolCall(t *testing.T) {
	f := fakeopenai.New(t)
	const args = `{"city":"Paris","unit":"celsius"}`
	c := sdkClient(t, f, fakeopenai.Key)
	p := params(false)
	p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	})}
	for _, stream := range []bool{false, true} {
		f.Enqueue(fakeopenai.Reply{ToolCalls: []fakeopenai.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: args}}})
		var msg openai.ChatCompletionMessage
		var finish string
		if stream {
			ps := p
			ps.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			s := c.Chat.Completions.NewStreaming(context.Background(), ps)
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			msg, finish = acc.Choices[0].Message, acc.Choices[0].FinishReason
		} else {
			resp, err := c.Chat.Completions.New(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			msg, finish = resp.Choices[0].Message, resp.Choices[0].FinishReason
		}
		if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].ID != "call_1" || msg.ToolCalls[0].Function.Name != "get_weather" || msg.ToolCalls[0].Function.Arguments != args || finish != "tool_calls" {
			t.Errorf("stream=%v: message %+v finish %q", stream, msg.ToolCalls, finish)
		}
	}
	// The tool result goes back; the fake checks it answers the call.
	p.Messages = append(p.Messages,
		openai.ChatCompletionMessageParamUnion{OfAssistant: &openai.ChatCompletionAssistantMessageParam{
			ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: "call_1", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_weather", Arguments: args},
			}}},
		}},
		openai.ToolMessage(`{"temp":21}`, "call_1"))
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: p.Model, Messages: p.Messages, Tools: p.Tools}); err != nil {
		t.Fatalf("tool result turn: %v", err)
	}
	// A tool message answering nothing is refused as OpenAI does.
	bad := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x"), openai.ToolMessage("y", "call_9")}}
	if _, err := c.Chat.Completions.New(context.Background(), bad); !isStatus(err, 400) {
		t.Errorf("orphan tool message: err = %v", err)
	}
}

func isStatus(err error, status int) bool {
	var e *openai.Error
	return errors.As(err, &e) && e.StatusCode == status
}

func TestSDKErrors(t *testing.T) {
	t.Run("429 with retry headers", func(t *testing.T) {
		f := fakeopenai.New(t)
		f.Enqueue(fakeopenai.Reply{Status: 429, Error: fakeopenai.APIError{Type: "tokens", Code: "rate_limit_exceeded", Message: "Please try again in 2s."},
			Header: http.Header{"Retry-After": {"2"}, "Retry-After-Ms": {"2000"}}})
		c := sdkClient(t, f, fakeopenai.Key)
		_, err := c.Chat.Completions.New(context.Background(), params(false))
		var e *openai.Error
		if !errors.As(err, &e) || e.StatusCode != 429 || e.Code != "rate_limit_exceeded" || e.Type != "tokens" || e.Message != "Please try again in 2s." {
			t.Fatalf("err = %#v", err)
		}
		if e.Response.Header.Get("Retry-After") != "2" {
			t.Errorf("retry-after header lost")
		}
		if len(f.Requests()) != 1 {
			t.Errorf("the SDK retried: %d requests", len(f.Requests()))
		}
	})
	t.Run("401 bad key", func(t *testing.T) {
		f := fakeopenai.New(t)
		c := sdkClient(t, f, "sk-wrong")
		_, err := c.Chat.Completions.New(context.Background(), params(false))
		var e *openai.Error
		if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != "invalid_api_key" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("400 validation", func(t *testing.T) {
		f := fakeopenai.New(t)
		p := params(false)
		p.Model = "o4-mini"
		p.MaxTokens = openai.Int(10)
		c := sdkClient(t, f, fakeopenai.Key)
		_, err := c.Chat.Completions.New(context.Background(), p)
		var e *openai.Error
		if !errors.As(err, &e) || e.StatusCode != 400 || e.Param != "max_tokens" || e.Code != "unsupported_parameter" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("in-band stream error", func(t *testing.T) {
		f := fakeopenai.New(t)
		f.Enqueue(fakeopenai.Reply{Text: []string{"a", "b"}, Fault: fakeopenai.FaultErrorAfter, After: 1})
		c := sdkClient(t, f, fakeopenai.Key)
		s := c.Chat.Completions.NewStreaming(context.Background(), params(true))
		var text string
		for s.Next() {
			if len(s.Current().Choices) > 0 {
				text += s.Current().Choices[0].Delta.Content
			}
		}
		if s.Err() == nil || text != "a" {
			t.Fatalf("text %q err %v", text, s.Err())
		}
	})
}

func TestHandlerWithSDK(t *testing.T) {
	for _, opts := range []fakeopenai.HandlerOptions{
		{},
		{Text: "The quick brown fox jumps over the lazy dog", Deltas: 9, Model: "gpt-4o", DeltaDelay: time.Millisecond, Delay: time.Millisecond},
	} {
		srv := httptest.NewServer(fakeopenai.NewHandler(opts))
		defer srv.Close()
		c := openai.NewClient(option.WithAPIKey("any"), option.WithBaseURL(srv.URL+"/v1/"), option.WithMaxRetries(0))
		want := opts.Text
		if want == "" {
			want = "Hello, world"
		}
		resp, err := c.Chat.Completions.New(context.Background(), params(false))
		if err != nil || resp.Choices[0].Message.Content != want {
			t.Fatalf("non-stream: %v %+v", err, resp)
		}
		s := c.Chat.Completions.NewStreaming(context.Background(), params(true))
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for s.Next() {
			acc.AddChunk(s.Current())
			chunks++
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		deltas := opts.Deltas
		if deltas == 0 {
			deltas = 3
		}
		if acc.Choices[0].Message.Content != want || acc.Usage.CompletionTokens != int64(deltas) || chunks != deltas+3 {
			t.Errorf("stream: %q usage %+v, %d chunks", acc.Choices[0].Message.Content, acc.Usage, chunks)
		}
	}
}
