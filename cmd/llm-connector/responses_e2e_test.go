package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// responsesService runs the binary with the fake Gemini as primary and
// the real Ollama's tiny as fallback, and an openai-go client with a key.
func responsesService(t *testing.T, extra map[string]string) (string, *fakegemini.Server, responses.ResponseService) {
	t.Helper()
	ollamaURL := fakeollama.RealURL(t)
	gem := fakegemini.New(t)
	env := map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"OLLAMA_HOST": ollamaURL, "OLLAMA_MODEL": "tiny", "LLM_ADMIN_KEY": "admin-secret-123", "LLM_RETRIES": "0"}
	for k, v := range extra {
		env[k] = v
	}
	url, _ := startService(t, env)
	c := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey(newKey(t, url, "sdk")), option.WithMaxRetries(0))
	return url, gem, c.Responses
}

var weatherTool = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name: "get_weather", Description: openai.String("The weather in a city"), Strict: openai.Bool(false),
	Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
}}

// collect reads a stream: the event types in order and the text.
func collect(t *testing.T, s interface {
	Next() bool
	Current() responses.ResponseStreamEventUnion
	Err() error
}) (types []string, text string, last responses.ResponseStreamEventUnion) {
	t.Helper()
	seq := int64(-1)
	for s.Next() {
		ev := s.Current()
		if ev.SequenceNumber != seq+1 {
			t.Errorf("event %s has sequence_number %d after %d", ev.Type, ev.SequenceNumber, seq)
		}
		seq = ev.SequenceNumber
		types = append(types, ev.Type)
		if ev.Type == "response.output_text.delta" {
			text += ev.Delta
		}
		last = ev
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return types, text, last
}

// TestResponsesSDK: openai-go's Responses client, not streamed and
// streamed, against the fake Gemini.
func TestResponsesSDK(t *testing.T) {
	_, gem, rs := responsesService(t, nil)
	ctx := context.Background()
	u := fakegemini.Usage{PromptTokenCount: 9, CandidatesTokenCount: 4, TotalTokenCount: 13}
	gem.Enqueue(fakegemini.TextReply(u, "MLOps ", "is DevOps for ML."))
	resp, err := rs.New(ctx, responses.ResponseNewParams{Model: "default", Instructions: openai.String("one line"),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is MLOps?")}, Store: openai.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != "MLOps is DevOps for ML." || resp.Status != "completed" || !strings.HasPrefix(resp.ID, "resp_") ||
		resp.Usage.InputTokens != 9 || resp.Usage.OutputTokens != 4 || resp.Usage.TotalTokens != 13 {
		t.Fatalf("response = %s", resp.RawJSON())
	}
	if rec := gem.Last(t); rec.Body.SystemInstruction == nil {
		t.Error("instructions were not sent as the system instruction")
	}
	gem.Enqueue(fakegemini.TextReply(u, "MLOps ", "is DevOps for ML."))
	types, text, last := collect(t, rs.NewStreaming(ctx, responses.ResponseNewParams{Model: "default",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is MLOps, streamed?")}}))
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
		"response.output_item.done", "response.completed"}
	if strings.Join(types, " ") != strings.Join(want, " ") || text != "MLOps is DevOps for ML." {
		t.Fatalf("events %v, text %q", types, text)
	}
	if last.Response.Usage.TotalTokens != 13 || last.Response.OutputText() != text {
		t.Errorf("response.completed = %s", last.RawJSON())
	}
}

// TestResponsesToolsOllama: a function-calling round trip with the real
// Ollama (tiny calls get_weather when offered it), the call streamed as
// function_call_arguments events, then the tool's output sent back as a
// function_call_output item.
func TestResponsesToolsOllama(t *testing.T) {
	_, _, rs := responsesService(t, nil)
	ctx := context.Background()
	params := responses.ResponseNewParams{Model: "ollama/tiny", Tools: []responses.ToolUnionParam{weatherTool},
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")}}
	resp, err := rs.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Output) != 1 || resp.Output[0].Type != "function_call" {
		t.Fatalf("output = %s", resp.RawJSON())
	}
	call := resp.Output[0].AsFunctionCall()
	if call.Name != "get_weather" || !strings.Contains(call.Arguments, "Paris") || call.CallID == "" {
		t.Fatalf("call = %+v", call)
	}
	types, _, _ := collect(t, rs.NewStreaming(ctx, params))
	if !strings.Contains(strings.Join(types, " "), "response.output_item.added response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done response.completed") {
		t.Errorf("streamed call events = %v", types)
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temperature_c": 18}`)
	out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("Weather in Paris?", responses.EasyInputMessageRoleUser),
		responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name),
		out,
	}}
	resp, err = rs.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != fakeollama.TinyAnswer || resp.Usage.OutputTokens == 0 {
		t.Errorf("after the tool result: %s", resp.RawJSON())
	}
}

// TestResponsesFailover: Gemini fails before the first content, the
// stream falls back to Ollama invisibly; a stream cut after content has
// started ends with an error event and response.failed.
func TestResponsesFailover(t *testing.T) {
	_, gem, rs := responsesService(t, nil)
	ctx := context.Background()
	gem.Enqueue(fakegemini.ErrorReply(503, "overloaded"))
	types, text, last := collect(t, rs.NewStreaming(ctx, responses.ResponseNewParams{Model: "default",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")}}))
	if text != fakeollama.TinyAnswer || types[0] != "response.created" || last.Type != "response.completed" ||
		last.Response.Model != "tiny" {
		t.Fatalf("fallback stream: %v %q %s", types, text, last.RawJSON())
	}
	gem.Enqueue(fakegemini.Reply{Deltas: []string{"partial ", "answer"}, Fault: fakegemini.FaultCut, After: 1})
	types, text, last = collect(t, rs.NewStreaming(ctx, responses.ResponseNewParams{Model: "default",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("cut me")}}))
	n := len(types)
	if text != "partial " || n < 2 || types[n-2] != "error" || types[n-1] != "response.failed" ||
		last.Response.Status != "failed" || last.Response.Error.Message == "" {
		t.Fatalf("after-start failure: %v %q %s", types, text, last.RawJSON())
	}
}

// TestResponsesRefused: what the Responses surface refuses, in OpenAI's
// error shape, through the SDK.
func TestResponsesRefused(t *testing.T) {
	url, _, rs := responsesService(t, nil)
	_, err := rs.New(context.Background(), responses.ResponseNewParams{Model: "default", PreviousResponseID: openai.String("resp_1"),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("again")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Param != "previous_response_id" {
		t.Errorf("previous_response_id: %v", err)
	}
	for _, tc := range []struct{ body, param string }{
		{`{"model":"default"}`, "input"},
		{`{"model":"default","input":"x","tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{`{"model":"default","input":[{"type":"item_reference","id":"x"}]}`, "input[0].type"},
		{`{"model":"default","input":"x","text":{"format":{"type":"json_schema","name":"x","schema":3}}}`, "text.format.schema"},
		{`{"model":"default","input":"x","max_output_tokens":0}`, "max_output_tokens"},
	} {
		resp, body := do(t, "POST", url+"/v1/responses", tc.body)
		if resp.StatusCode != 400 || !strings.Contains(body, `"param":"`+tc.param+`"`) {
			t.Errorf("%s: %d %s", tc.body, resp.StatusCode, body)
		}
	}
}

// TestLegacyCompletionsSDK: openai-go's legacy Completions client, not
// streamed (the real Ollama) and streamed (the fake Gemini).
func TestLegacyCompletionsSDK(t *testing.T) {
	url, gem, _ := responsesService(t, nil)
	c := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey(newKey(t, url, "legacy")), option.WithMaxRetries(0))
	ctx := context.Background()
	resp, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "ollama/tiny", MaxTokens: openai.Int(50),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Object != "text_completion" || len(resp.Choices) != 1 || resp.Choices[0].Text != fakeollama.TinyAnswer ||
		resp.Choices[0].FinishReason != "stop" || resp.Usage.CompletionTokens == 0 {
		t.Fatalf("completion = %s", resp.RawJSON())
	}
	gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 2, CandidatesTokenCount: 2, TotalTokenCount: 4}, "a ", "b"))
	s := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{Model: "default",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("stream it")}})
	var text, finish string
	for s.Next() {
		ch := s.Current()
		if len(ch.Choices) > 0 {
			text += ch.Choices[0].Text
			finish += string(ch.Choices[0].FinishReason)
		}
	}
	if s.Err() != nil || text != "a b" || finish != "stop" {
		t.Fatalf("stream: %v %q %q", s.Err(), text, finish)
	}
}
