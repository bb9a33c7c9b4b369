package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeanthropic"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// Structured output and images through the binary, with openai-go as
// the client.

var tinyPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

func oaClient(url string) openai.Client {
	return openai.NewClient(option.WithBaseURL(url+"/v1/"), option.WithAPIKey("unused"), option.WithHeaderDel("Authorization"), option.WithMaxRetries(0))
}

// schemaFormat is response_format json_schema, strict, as openai-go's
// structured-output helpers send it.
// oaAnswer sends params through the openai SDK, streamed or not, and
// returns the one-choice answer's text, its number of tool calls and its
// finish reason (a stream's deltas joined).
func oaAnswer(t *testing.T, c openai.Client, params openai.ChatCompletionNewParams, stream bool) (text string, calls int, finish string) {
	t.Helper()
	if !stream {
		resp, err := c.Chat.Completions.New(context.Background(), params)
		if err != nil {
			t.Fatal(err)
		}
		m := resp.Choices[0]
		return m.Message.Content, len(m.Message.ToolCalls), m.FinishReason
	}
	s := c.Chat.Completions.NewStreaming(context.Background(), params)
	for s.Next() {
		for _, ch := range s.Current().Choices {
			text += ch.Delta.Content
			calls += len(ch.Delta.ToolCalls)
			finish += ch.FinishReason
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return text, calls, finish
}

func schemaFormat(name string, schema map[string]any) openai.ChatCompletionNewParamsResponseFormatUnion {
	return openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
		JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: name, Schema: schema, Strict: openai.Bool(true)}}}
}

// verdictSchema is an object tiny's grammar-constrained answer closes
// quickly: a boolean and an enum.
var verdictSchema = map[string]any{"type": "object", "additionalProperties": false, "required": []any{"ok", "n"},
	"properties": map[string]any{"ok": map[string]any{"type": "boolean"}, "n": map[string]any{"type": "integer", "enum": []any{1, 2}}}}

type verdict struct {
	OK *bool `json:"ok"`
	N  int   `json:"n"`
}

// TestJSONSchemaGemini: a strict json_schema request reaches Gemini as
// responseMimeType application/json plus responseJsonSchema (the
// caller's schema, verbatim), streamed and not.
func TestJSONSchemaGemini(t *testing.T) {
	gem := fakegemini.New(t)
	url, _ := startService(t, map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "LLM_FALLBACK": "none"})
	c := oaClient(url)
	params := openai.ChatCompletionNewParams{Model: "default", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("judge")},
		ResponseFormat: schemaFormat("verdict", verdictSchema)}
	for _, stream := range []bool{false, true} {
		gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 3, CandidatesTokenCount: 5}, `{"ok":`, `true,"n":2}`))
		text, _, _ := oaAnswer(t, c, params, stream)
		var v verdict
		if err := json.Unmarshal([]byte(text), &v); err != nil || v.OK == nil || !*v.OK || v.N != 2 {
			t.Fatalf("stream=%v: answer %q: %v", stream, text, err)
		}
		g := gem.Last(t).Body.GenerationConfig
		var sent map[string]any
		if err := json.Unmarshal(g.ResponseJSONSchema, &sent); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(verdictSchema)
		var wantV map[string]any
		_ = json.Unmarshal(want, &wantV)
		if g.ResponseMimeType != "application/json" || len(g.ResponseSchema) != 0 || !cmp.Equal(sent, wantV) {
			t.Errorf("stream=%v: generationConfig mime %q schema %s", stream, g.ResponseMimeType, g.ResponseJSONSchema)
		}
	}
}

// TestJSONSchemaRealOllama: the same request to the real Ollama: the
// schema goes as "format" and tiny's constrained answer matches it.
func TestJSONSchemaRealOllama(t *testing.T) {
	url, _ := startService(t, map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none",
		"OLLAMA_HOST": fakeollama.RealURL(t), "OLLAMA_MODEL": "tiny"})
	c := oaClient(url)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "default", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("judge")},
		MaxTokens: openai.Int(100), ResponseFormat: schemaFormat("verdict", verdictSchema)})
	if err != nil {
		t.Fatal(err)
	}
	var v verdict
	if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), &v); err != nil || v.OK == nil || (v.N != 1 && v.N != 2) {
		t.Fatalf("answer %q does not match the schema: %v", resp.Choices[0].Message.Content, err)
	}
}

func imageMessage(url string) openai.ChatCompletionMessageParamUnion {
	return openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart("what is in the picture?"),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: url, Detail: "low"}),
	})
}

// TestImageToGemini: an image_url data URL reaches Gemini as an
// inlineData part with the same bytes.
func TestImageToGemini(t *testing.T) {
	gem := fakegemini.New(t)
	url, _ := startService(t, map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "LLM_FALLBACK": "none"})
	gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 260, CandidatesTokenCount: 3}, "a red dot"))
	c := oaClient(url)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "default",
		Messages: []openai.ChatCompletionMessageParamUnion{imageMessage("data:image/png;base64," + base64.StdEncoding.EncodeToString(tinyPNG))}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "a red dot" {
		t.Errorf("answer %q", resp.Choices[0].Message.Content)
	}
	parts := gem.Last(t).Body.Contents[0].Parts
	if len(parts) != 2 || parts[0].Text == nil || *parts[0].Text != "what is in the picture?" {
		t.Fatalf("parts = %+v", parts)
	}
	var blob struct {
		MIMEType string `json:"mimeType"`
		Data     []byte `json:"data"`
	}
	if err := json.Unmarshal(parts[1].InlineData, &blob); err != nil || blob.MIMEType != "image/png" || string(blob.Data) != string(tinyPNG) {
		t.Errorf("inlineData = %s (%v)", parts[1].InlineData, err)
	}
}

// TestImageRefusals: a 400 in OpenAI's shape, before any upstream call,
// naming why: the real Ollama's tiny is a text model (it would silently
// drop the image), a URL is not fetched unless IMAGE_FETCH is on, and
// with it on a private address is still refused.
func TestImageRefusals(t *testing.T) {
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the gateway fetched %s from a private address", r.URL)
	}))
	defer private.Close()
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(tinyPNG)
	ollama := map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none", "OLLAMA_HOST": fakeollama.RealURL(t), "OLLAMA_MODEL": "tiny"}
	tests := []struct {
		name     string
		env      map[string]string
		image    string
		contains []string
	}{
		{"a text-only backend", ollama, dataURL, []string{"ollama", "tiny", "does not accept images"}},
		{"URLs not fetched by default", ollama, "https://images.example.com/cat.png", []string{"IMAGE_FETCH is off"}},
		{"a private target with fetching on", map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none", "OLLAMA_HOST": fakeollama.RealURL(t),
			"OLLAMA_MODEL": "tiny", "IMAGE_FETCH": "true"}, private.URL + "/cat.png", []string{"non-public address"}},
		{"not an image", ollama, "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("plain text")), []string{"not an image"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := startService(t, tt.env)
			c := oaClient(url)
			_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "default",
				Messages: []openai.ChatCompletionMessageParamUnion{imageMessage(tt.image)}})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Type != "invalid_request_error" {
				t.Fatalf("err = %v, want a 400 invalid_request_error", err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(apiErr.Message, s) {
					t.Errorf("message %q does not say %q", apiErr.Message, s)
				}
			}
		})
	}
}

// TestCandidatesN: n=2 to Gemini is candidateCount 2 and two choices,
// streamed and not; the same deterministic request again is a cache hit
// with both choices. To the real Ollama it is a 400 naming Ollama.
func TestCandidatesN(t *testing.T) {
	gem := fakegemini.New(t)
	url, _ := startService(t, map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "LLM_FALLBACK": "none"})
	c := oaClient(url)
	params := openai.ChatCompletionNewParams{Model: "default", N: openai.Int(2), Temperature: openai.Float(0),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("name a colour")}}
	gem.Enqueue(fakegemini.Reply{Deltas: []string{"red"}, Alternatives: [][]string{{"blue"}}, Usage: fakegemini.Usage{PromptTokenCount: 3, CandidatesTokenCount: 2}})
	for range 2 { // the second is served from the cache
		resp, err := c.Chat.Completions.New(context.Background(), params)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, ch := range resp.Choices {
			if ch.Index != int64(i) || ch.FinishReason != "stop" {
				t.Errorf("choice %d: %+v", i, ch)
			}
			got = append(got, ch.Message.Content)
		}
		if !cmp.Equal(got, []string{"red", "blue"}) {
			t.Errorf("choices %q", got)
		}
	}
	if n := len(gem.Requests()); n != 1 {
		t.Errorf("%d upstream calls, want 1 (the second from the cache)", n)
	}
	params.Temperature = openai.Float(0.5)
	gem.Enqueue(fakegemini.Reply{Deltas: []string{"gre", "en"}, Alternatives: [][]string{{"yel", "low"}}})
	s := c.Chat.Completions.NewStreaming(context.Background(), params)
	text := map[int64]string{}
	finish := map[int64]string{}
	for s.Next() {
		for _, ch := range s.Current().Choices {
			text[ch.Index] += ch.Delta.Content
			if ch.FinishReason != "" {
				finish[ch.Index] = ch.FinishReason
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if text[0] != "green" || text[1] != "yellow" || finish[0] != "stop" || finish[1] != "stop" {
		t.Errorf("streamed choices %v, finish %v", text, finish)
	}
	if g := gem.Last(t).Body.GenerationConfig; g == nil || g.CandidateCount != 2 {
		t.Errorf("candidateCount not sent: %+v", g)
	}

	ourl, _ := startService(t, map[string]string{"LLM_PROVIDER": "ollama", "LLM_FALLBACK": "none", "OLLAMA_HOST": fakeollama.RealURL(t), "OLLAMA_MODEL": "tiny"})
	oc := oaClient(ourl)
	_, err := oc.Chat.Completions.New(context.Background(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, "ollama") || !strings.Contains(apiErr.Message, "n=2") {
		t.Fatalf("err = %v, want a 400 naming ollama and n", err)
	}
}

// TestJSONSchemaAnthropic: to Anthropic, json_schema is the forced
// json_answer tool; the caller gets its input as the message content
// with finish_reason stop and no tool call, streamed and not.
func TestJSONSchemaAnthropic(t *testing.T) {
	ant := fakeanthropic.New(t)
	url, _ := startService(t, map[string]string{"LLM_PROVIDER": "anthropic", "LLM_FALLBACK": "none",
		"ANTHROPIC_API_KEY": fakeanthropic.Key, "ANTHROPIC_BASE_URL": ant.URL})
	c := oaClient(url)
	params := openai.ChatCompletionNewParams{Model: "default", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("judge")},
		ResponseFormat: schemaFormat("verdict", verdictSchema)}
	for _, stream := range []bool{false, true} {
		ant.Enqueue(fakeanthropic.Reply{ToolCalls: []fakeanthropic.ToolCall{{ID: "toolu_1", Name: "json_answer", Input: `{"ok":true,"n":1}`}}})
		text, calls, finish := oaAnswer(t, c, params, stream)
		if text != `{"ok":true,"n":1}` || calls != 0 || finish != "stop" {
			t.Errorf("stream=%v: content %q, %d tool calls, finish %q", stream, text, calls, finish)
		}
		var sent struct {
			Tools []struct {
				Name        string         `json:"name"`
				InputSchema map[string]any `json:"input_schema"`
			} `json:"tools"`
			ToolChoice map[string]any `json:"tool_choice"`
		}
		if err := json.Unmarshal(ant.LastRequest().Body, &sent); err != nil {
			t.Fatal(err)
		}
		if len(sent.Tools) != 1 || sent.Tools[0].Name != "json_answer" || sent.ToolChoice["name"] != "json_answer" || sent.Tools[0].InputSchema["type"] != "object" {
			t.Errorf("stream=%v: sent tools %+v choice %v", stream, sent.Tools, sent.ToolChoice)
		}
	}
}
