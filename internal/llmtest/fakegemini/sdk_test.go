package fakegemini_test

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// The official SDK, used as a client, proves the fake speaks Gemini.

func newSDK(t *testing.T, srv *fakegemini.Server, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
		HTTPClient:  srv.Client(),
	})
	if err != nil {
		t.Fatalf("genai client: %v", err)
	}
	return c
}

func sdkConfig() *genai.GenerateContentConfig {
	return &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText("Be brief.", genai.RoleUser),
		Temperature:       genai.Ptr[float32](0.2),
		TopP:              genai.Ptr[float32](0.9),
		MaxOutputTokens:   64,
		StopSequences:     []string{"END"},
		Seed:              genai.Ptr[int32](7),
		ThinkingConfig:    &genai.ThinkingConfig{ThinkingBudget: genai.Ptr[int32](0)},
	}
}

func TestSDKGenerateContent(t *testing.T) {
	srv := fakegemini.New(t)
	c := newSDK(t, srv, srv.Key)
	srv.Enqueue(fakegemini.Reply{
		Thoughts: []string{"**Planning**"},
		Deltas:   []string{"Hello", ", ", "world"},
		Usage:    fakegemini.Usage{PromptTokenCount: 12, CandidatesTokenCount: 3, ThoughtsTokenCount: 20, CachedContentTokenCount: 4},
	})
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("Say hello"), sdkConfig())
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if got := resp.Text(); got != "Hello, world" {
		t.Errorf("text = %q", got)
	}
	u := resp.UsageMetadata
	if u == nil || u.PromptTokenCount != 12 || u.CandidatesTokenCount != 3 || u.ThoughtsTokenCount != 20 ||
		u.CachedContentTokenCount != 4 || u.TotalTokenCount != 35 {
		t.Errorf("usage = %+v", u)
	}
	if resp.Candidates[0].FinishReason != genai.FinishReasonStop || resp.ModelVersion != "gemini-2.5-flash" || resp.ResponseID == "" {
		t.Errorf("response = %+v", resp)
	}
	got := srv.Last(t)
	if got.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || got.Body == nil {
		t.Fatalf("request %s body %v", got.Path, got.Body)
	}
	if gc := got.Body.GenerationConfig; gc == nil || gc.MaxOutputTokens != 64 || *gc.ThinkingConfig.ThinkingBudget != 0 {
		t.Errorf("generationConfig %+v", gc)
	}
}

func TestSDKGenerateContentStream(t *testing.T) {
	for _, lf := range []bool{false, true} {
		name := map[bool]string{false: "CRLF", true: "LF"}[lf]
		t.Run(name, func(t *testing.T) {
			srv := fakegemini.New(t)
			srv.LF = lf
			c := newSDK(t, srv, srv.Key)
			srv.Enqueue(fakegemini.Reply{
				Thoughts: []string{"thinking"},
				Deltas:   []string{"Hel", "lo ", "there"},
				Usage:    fakegemini.Usage{PromptTokenCount: 5, CandidatesTokenCount: 9, ThoughtsTokenCount: 11},
			})
			var text strings.Builder
			var last *genai.GenerateContentResponse
			n := 0
			cfg := sdkConfig() // thought summaries come only when asked for
			cfg.ThinkingConfig = &genai.ThinkingConfig{ThinkingBudget: genai.Ptr[int32](64), IncludeThoughts: true}
			for resp, err := range c.Models.GenerateContentStream(context.Background(), "models/gemini-2.5-flash", genai.Text("hi"), cfg) {
				if err != nil {
					t.Fatalf("chunk %d: %v", n, err)
				}
				if resp.UsageMetadata == nil || resp.ModelVersion == "" || resp.ResponseID == "" {
					t.Errorf("chunk %d lacks usage, modelVersion or responseId: %+v", n, resp)
				}
				text.WriteString(resp.Text())
				last = resp
				n++
			}
			if n != 4 || text.String() != "Hello there" {
				t.Errorf("%d chunks, text %q", n, text.String())
			}
			if last == nil || last.UsageMetadata.TotalTokenCount != 25 || last.UsageMetadata.CandidatesTokenCount != 9 ||
				last.Candidates[0].FinishReason != genai.FinishReasonStop {
				t.Errorf("last chunk = %+v", last)
			}
			if q := srv.Last(t).Query; q.Get("alt") != "sse" || q.Has("key") {
				t.Errorf("query %v", q)
			}
		})
	}
}

func TestSDKErrors(t *testing.T) {
	tests := []struct {
		name    string
		reply   *fakegemini.Reply
		key     string
		model   string
		code    int
		status  string
		details string // an @type suffix the details must hold
	}{
		{"rate limited", ptr(fakegemini.ScenarioReply(llmtest.ScenarioRateLimited)), "", "gemini-2.5-flash", 429, "RESOURCE_EXHAUSTED", "google.rpc.RetryInfo"},
		{"server error", ptr(fakegemini.ScenarioReply(llmtest.ScenarioServerError)), "", "gemini-2.5-flash", 500, "INTERNAL", ""},
		{"wrong key", nil, "not-the-key", "gemini-2.5-flash", 400, "INVALID_ARGUMENT", "google.rpc.ErrorInfo"},
		{"unknown model", nil, "", "gemini-0-nope", 404, "NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakegemini.New(t)
			if tt.reply != nil {
				srv.Enqueue(*tt.reply, *tt.reply)
			}
			c := newSDK(t, srv, cmp.Or(tt.key, srv.Key))
			_, err := c.Models.GenerateContent(context.Background(), tt.model, genai.Text("hi"), nil)
			checkAPIError(t, "unary", err, tt.code, tt.status, tt.details)
			for _, err := range c.Models.GenerateContentStream(context.Background(), tt.model, genai.Text("hi"), nil) {
				checkAPIError(t, "stream", err, tt.code, tt.status, tt.details)
				break
			}
		})
	}
}

func checkAPIError(t *testing.T, what string, err error, code int, status, detail string) {
	t.Helper()
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("%s: err = %v, want a genai.APIError", what, err)
	}
	if apiErr.Code != code || apiErr.Status != status {
		t.Errorf("%s: APIError code %d status %q, want %d %q", what, apiErr.Code, apiErr.Status, code, status)
	}
	if detail == "" {
		return
	}
	for _, d := range apiErr.Details {
		if typ, _ := d["@type"].(string); strings.HasSuffix(typ, detail) {
			return
		}
	}
	t.Errorf("%s: details %v lack %s", what, apiErr.Details, detail)
}

func TestSDKInBandError(t *testing.T) {
	srv := fakegemini.New(t)
	c := newSDK(t, srv, srv.Key)
	srv.Enqueue(fakegemini.Reply{Deltas: []string{"a", "b"}, Fault: fakegemini.FaultInBandError, After: 1,
		Error: &fakegemini.Status{Code: 503, Status: "UNAVAILABLE", Message: "The model is overloaded."}})
	var texts []string
	var last error
	for resp, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
		if err != nil {
			last = err
			break
		}
		texts = append(texts, resp.Text())
	}
	if len(texts) != 1 || texts[0] != "a" {
		t.Errorf("texts before the error: %q", texts)
	}
	checkAPIError(t, "in-band", last, 503, "UNAVAILABLE", "")
}

func TestSDKToolCallAndTunedModel(t *testing.T) {
	srv := fakegemini.New(t)
	srv.AddModel("tunedModels/xyz")
	c := newSDK(t, srv, srv.Key)
	srv.Next(llmtest.ScenarioToolCall)
	cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
		Name: "get_weather", Description: "weather", ParametersJsonSchema: map[string]any{"type": "object"},
	}}}}, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny}}}
	var calls []*genai.FunctionCall
	for resp, err := range c.Models.GenerateContentStream(context.Background(), "tunedModels/xyz", genai.Text("weather?"), cfg) {
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, resp.FunctionCalls()...)
	}
	if len(calls) != 1 || calls[0].Name != llmtest.ToolName || calls[0].Args["city"] != "Paris" {
		t.Fatalf("calls = %+v", calls)
	}
	if p := srv.Last(t).Path; p != "/v1beta/tunedModels/xyz:streamGenerateContent" {
		t.Errorf("path %q", p)
	}
}

func TestSDKEmptyThinkingAndModelsGet(t *testing.T) {
	srv := fakegemini.New(t)
	c := newSDK(t, srv, srv.Key)
	srv.Enqueue(fakegemini.EmptyThinkingReply(63))
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "" || resp.Candidates[0].FinishReason != genai.FinishReasonMaxTokens || resp.UsageMetadata.ThoughtsTokenCount != 63 {
		t.Errorf("empty-thinking answer = %+v", resp)
	}
	m, err := c.Models.Get(context.Background(), "gemini-2.5-flash", nil)
	if err != nil || m.Name != "models/gemini-2.5-flash" {
		t.Errorf("models.get = %+v, %v", m, err)
	}
}

func ptr[T any](v T) *T { return &v }
