package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// The Anthropic Messages surface through the real wiring, with the
// official anthropic-sdk-go v2 as the client (anthropic-version
// 2026-10-21, Authorization: Bearer) and Gemini (fake), Ollama (real) and
// OpenAI (fake) behind it.

// anService starts the service with env and an admin key, and returns
// its URL and a client with a caller key made through the admin API (a
// key presented is checked even in open mode, and the SDK always sends one).
func anService(t *testing.T, env map[string]string) (string, anthropic.Client) {
	url, _, c := anServiceKey(t, env)
	return url, c
}

func anServiceKey(t *testing.T, env map[string]string) (string, string, anthropic.Client) {
	t.Helper()
	env["LLM_ADMIN_KEY"] = "change-me"
	url, _ := startService(t, env)
	_, key := readmeKey(t, url)
	return url, key, anSDK(t, url, key)
}

func anSDK(t *testing.T, url, key string) anthropic.Client {
	t.Helper()
	for _, k := range []string{"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS"} {
		t.Setenv(k, "")
	}
	return anthropic.NewClient(option.WithAPIKey(key), option.WithBaseURL(url), option.WithMaxRetries(0))
}

func anParams(text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "default",
		MaxTokens: 200,
		System:    []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
	}
}

func weatherTool() []anthropic.ToolUnionParam {
	return []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("Weather of a city"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}}}
}

// anStream runs a streaming call and returns the accumulated message,
// the event types in order and the stream's error.
func anStream(t *testing.T, c anthropic.Client, p anthropic.MessageNewParams) (anthropic.Message, []string, error) {
	t.Helper()
	s := c.Messages.NewStreaming(context.Background(), p)
	var msg anthropic.Message
	var types []string
	for s.Next() {
		ev := s.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", ev.Type, err)
		}
		if ev.Type == "message_start" && ev.Message.Usage.InputTokens == 0 && ev.Message.Usage.CacheReadInputTokens == 0 {
			types = append(types, "zero-usage-start")
		}
	}
	return msg, types, s.Err()
}

func geminiService(t *testing.T, gem *fakegemini.Server, ollama string) (string, anthropic.Client) {
	return anService(t, map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"OLLAMA_HOST": ollama, "OLLAMA_MODEL": "tiny"})
}

func TestAnthropicSDKGemini(t *testing.T) {
	gem := fakegemini.New(t)
	_, c := geminiService(t, gem, "127.0.0.1:1")
	u := fakegemini.Usage{PromptTokenCount: 21, CandidatesTokenCount: 4, CachedContentTokenCount: 5}

	t.Run("non-stream", func(t *testing.T) {
		gem.Enqueue(fakegemini.TextReply(u, "Hello", " there"))
		msg, err := c.Messages.New(context.Background(), anParams("hi"))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello there" || msg.StopReason != anthropic.StopReasonEndTurn ||
			!strings.HasPrefix(msg.ID, "msg_") || msg.Model != "gemini-2.5-flash" {
			t.Fatalf("message = %s", msg.RawJSON())
		}
		// Anthropic's input_tokens leave the cache reads out.
		if msg.Usage.InputTokens != 16 || msg.Usage.CacheReadInputTokens != 5 || msg.Usage.OutputTokens != 4 {
			t.Errorf("usage = %s", msg.Usage.RawJSON())
		}
		if sys := gem.Last(t).Body.SystemInstruction; sys == nil || *sys.Parts[0].Text != "Be brief." {
			t.Errorf("system not sent: %+v", sys)
		}
	})
	t.Run("stream", func(t *testing.T) {
		gem.Enqueue(fakegemini.TextReply(u, "Hel", "lo", "!"))
		msg, types, err := anStream(t, c, anParams("hi"))
		if err != nil {
			t.Fatal(err)
		}
		// (the SDK does not surface ping events; the recorded replay sees them)
		want := "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
		if strings.Join(types, " ") != want {
			t.Errorf("events:\n%s\nwant\n%s", strings.Join(types, " "), want)
		}
		if msg.Content[0].Text != "Hello!" || msg.Usage.InputTokens != 16 || msg.Usage.OutputTokens != 4 || msg.StopReason != "end_turn" {
			t.Errorf("message = %s", msg.RawJSON())
		}
	})
	t.Run("thinking", func(t *testing.T) {
		gem.Enqueue(fakegemini.Reply{Thoughts: []string{"**Plan** ", "greet"}, Deltas: []string{"Hi"},
			Usage: fakegemini.Usage{PromptTokenCount: 9, CandidatesTokenCount: 1, ThoughtsTokenCount: 30}})
		p := anParams("hi")
		p.MaxTokens = 3000
		p.Thinking = anthropic.ThinkingConfigParamOfEnabled(2048)
		msg, _, err := anStream(t, c, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Thinking != "**Plan** greet" || msg.Content[1].Text != "Hi" {
			t.Fatalf("message = %s", msg.RawJSON())
		}
		tc := gem.Last(t).Body.GenerationConfig.ThinkingConfig
		if tc == nil || !tc.IncludeThoughts || *tc.ThinkingBudget != 2048 || gem.Last(t).Body.GenerationConfig.MaxOutputTokens != 3000 {
			t.Errorf("thinking config %+v, generation config %+v", tc, gem.Last(t).Body.GenerationConfig)
		}
	})
	t.Run("count_tokens", func(t *testing.T) {
		n, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{Model: "default",
			Messages: anParams("how many tokens is this").Messages, Tools: toolsCount(weatherTool())})
		if err != nil {
			t.Fatal(err)
		}
		counts := gem.Counts()
		if len(counts) != 1 || n.InputTokens != int64(counts[0]) || n.InputTokens < 10 {
			t.Errorf("count %d, the fake answered %v", n.InputTokens, counts)
		}
		if strings.Contains(n.RawJSON(), "estimated") {
			t.Errorf("an exact count is marked estimated: %s", n.RawJSON())
		}
	})
}

func toolsCount(in []anthropic.ToolUnionParam) []anthropic.MessageCountTokensToolUnionParam {
	out := make([]anthropic.MessageCountTokensToolUnionParam, len(in))
	for i, t := range in {
		out[i] = anthropic.MessageCountTokensToolUnionParam{OfTool: t.OfTool}
	}
	return out
}

// TestAnthropicSDKToolsRoundTrip: a tool_use answer from Gemini, the
// SDK's own message sent back with the tool_result, Gemini gets the
// function response under the function's name.
func TestAnthropicSDKToolsRoundTrip(t *testing.T) {
	gem := fakegemini.New(t)
	_, c := geminiService(t, gem, "127.0.0.1:1")
	gem.Enqueue(fakegemini.ToolCallReply("get_weather", `{"city":"Paris"}`))
	p := anParams("weather in Paris?")
	p.Tools = weatherTool()
	msg, _, err := anStream(t, c, p)
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != anthropic.StopReasonToolUse || len(msg.Content) != 1 || msg.Content[0].Name != "get_weather" ||
		string(msg.Content[0].Input) != `{"city":"Paris"}` || msg.Content[0].ID == "" {
		t.Fatalf("message = %s", msg.RawJSON())
	}
	gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 40, CandidatesTokenCount: 3}, "21 degrees"))
	p.Messages = append(p.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[0].ID, `{"temp":21}`, false)))
	final, err := c.Messages.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if final.Content[0].Text != "21 degrees" {
		t.Errorf("final = %s", final.RawJSON())
	}
	contents := gem.Last(t).Body.Contents
	last := contents[len(contents)-1].Parts[0].FunctionResponse
	if len(contents) != 3 || contents[1].Parts[0].FunctionCall == nil || last == nil || last.Name != "get_weather" || string(last.Response) != `{"temp":21}` {
		t.Errorf("contents sent to Gemini: %s", mustJSON(contents))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAnthropicSDKFailover: Gemini fails before any content, Ollama
// answers, and the SDK's stream sees one clean answer.
func TestAnthropicSDKFailover(t *testing.T) {
	ollama := fakeollama.RealURL(t)
	gem := fakegemini.New(t)
	for range 4 {
		gem.Enqueue(fakegemini.ErrorReply(http.StatusServiceUnavailable, "The model is overloaded. Please try again later."))
	}
	_, c := geminiService(t, gem, ollama)
	msg, types, err := anStream(t, c, anParams("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != fakeollama.TinyAnswer || msg.Model != "tiny" || msg.Usage.OutputTokens != 11 || msg.Usage.InputTokens == 0 {
		t.Errorf("message = %s", msg.RawJSON())
	}
	if types[0] != "message_start" || types[len(types)-1] != "message_stop" || len(gem.Requests()) != 4 {
		t.Errorf("events %v, %d Gemini requests", types, len(gem.Requests()))
	}
}

// TestAnthropicSDKErrorAfterStart: Gemini fails after the first delta;
// the SDK's stream ends with an Anthropic error, not a clean end.
func TestAnthropicSDKErrorAfterStart(t *testing.T) {
	gem := fakegemini.New(t)
	_, c := geminiService(t, gem, "127.0.0.1:1")
	r := fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 3, CandidatesTokenCount: 3}, "one ", "two ", "three")
	r.Fault, r.After = fakegemini.FaultCut, 1
	gem.Enqueue(r)
	msg, types, err := anStream(t, c, anParams("count"))
	var e *anthropic.Error
	if !errors.As(err, &e) || e.Type() == "" {
		t.Fatalf("err = %v (events %v)", err, types)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "one " || types[len(types)-1] == "message_stop" {
		t.Errorf("partial %s, events %v", msg.RawJSON(), types)
	}
}

// TestAnthropicRealOllama: the real Ollama behind the surface: text,
// stream, tools round trip and an estimated count.
func TestAnthropicRealOllama(t *testing.T) {
	_, c := anService(t, map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none",
		"OLLAMA_HOST": fakeollama.RealURL(t), "OLLAMA_MODEL": "tiny"})
	msg, err := c.Messages.New(context.Background(), anParams("hello"))
	if err != nil || len(msg.Content) == 0 || msg.Content[0].Text != fakeollama.TinyAnswer || msg.Usage.OutputTokens != 11 || msg.Usage.InputTokens == 0 {
		t.Fatalf("err %v, message %s", err, msg.RawJSON())
	}
	smsg, types, err := anStream(t, c, anParams("hello"))
	if err != nil || smsg.Content[0].Text != fakeollama.TinyAnswer || smsg.Usage.InputTokens != msg.Usage.InputTokens {
		t.Fatalf("err %v, message %s, events %v", err, smsg.RawJSON(), types)
	}
	p := anParams("weather in Paris?")
	p.Tools = weatherTool()
	call, err := c.Messages.New(context.Background(), p)
	if err != nil || call.StopReason != anthropic.StopReasonToolUse || call.Content[len(call.Content)-1].Name != "get_weather" {
		t.Fatalf("err %v, tool call %s", err, call.RawJSON())
	}
	tu := call.Content[len(call.Content)-1]
	p.Messages = append(p.Messages, call.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(tu.ID, "21 degrees", false)))
	final, err := c.Messages.New(context.Background(), p)
	if err != nil || final.Content[0].Text != fakeollama.TinyAnswer {
		t.Fatalf("err %v, after the tool result %s", err, final.RawJSON())
	}
	short, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{Model: "default", Messages: anParams("hi").Messages})
	long, err2 := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{Model: "default",
		Messages: anParams(strings.Repeat("a longer prompt ", 40)).Messages})
	if err != nil || err2 != nil || !strings.Contains(short.RawJSON(), `"estimated":true`) || long.InputTokens <= short.InputTokens {
		t.Errorf("counts %s / %s: %v %v", short.RawJSON(), long.RawJSON(), err, err2)
	}
}

// TestAnthropicSDKOpenAI: the OpenAI fake behind the surface.
func TestAnthropicSDKOpenAI(t *testing.T) {
	oa := fakeopenai.New(t)
	_, c := anService(t, map[string]string{"LLM_PROVIDER": "openai", "LLM_FALLBACK": "none",
		"OPENAI_API_KEY": fakeopenai.Key, "OPENAI_BASE_URL": oa.BaseURL(), "OLLAMA_HOST": "127.0.0.1:1"})
	oa.Enqueue(fakeopenai.Reply{Text: []string{"Hi", " you"}, Usage: &fakeopenai.Usage{PromptTokens: 12, CompletionTokens: 2, CachedTokens: 2}})
	msg, err := c.Messages.New(context.Background(), anParams("hi"))
	if err != nil || msg.Content[0].Text != "Hi you" || msg.Usage.InputTokens != 10 || msg.Usage.CacheReadInputTokens != 2 {
		t.Fatalf("err %v, message %s", err, msg.RawJSON())
	}
	oa.Enqueue(fakeopenai.Reply{ToolCalls: []fakeopenai.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}})
	p := anParams("weather?")
	p.Tools = weatherTool()
	smsg, _, err := anStream(t, c, p)
	if err != nil || smsg.StopReason != "tool_use" || smsg.Content[0].ID != "call_1" || string(smsg.Content[0].Input) != `{"city":"Oslo"}` {
		t.Fatalf("err %v, message %s", err, smsg.RawJSON())
	}
}

// TestAnthropicBadInput: refusals in Anthropic's shape, seen by the SDK
// and on the wire.
func TestAnthropicBadInput(t *testing.T) {
	url, key, c := anServiceKey(t, map[string]string{"OLLAMA_HOST": "127.0.0.1:1"})
	for _, tc := range []struct{ name, body, want string }{
		{"no max_tokens", `{"model":"default","messages":[{"role":"user","content":"hi"}]}`, "max_tokens: Field required"},
		{"top_k", `{"model":"default","max_tokens":5,"top_k":3,"messages":[{"role":"user","content":"hi"}]}`, "top_k"},
		{"server tool", `{"model":"default","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]}`, "web_search_20250305"},
		{"not JSON", `{"model":`, "not valid JSON"},
	} {
		req, _ := http.NewRequest("POST", url+"/v1/messages", strings.NewReader(tc.body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if resp.StatusCode != 400 || json.Unmarshal(b, &body) != nil || body.Type != "error" || body.Error.Type != "invalid_request_error" ||
			!strings.Contains(body.Error.Message, tc.want) {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, b)
		}
	}
	p := anParams("hi")
	p.Model = "nosuch/model"
	_, err := c.Messages.New(context.Background(), p)
	var e *anthropic.Error
	if !errors.As(err, &e) || e.StatusCode != 404 || e.Type() != "not_found_error" {
		t.Errorf("unknown model: %v", err)
	}
}
