package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// The Gemini-native surface proved with the official genai SDK as the
// client, through the real wiring, against the fake Gemini and the real
// Ollama: the gateway's own key in x-goog-api-key, never forwarded.

type geminiEnv struct {
	url, key string
	gem      *fakegemini.Server
	logs     *syncBuffer
	client   *genai.Client
}

func startGeminiSurface(t *testing.T, env map[string]string, keyArgs ...string) *geminiEnv {
	t.Helper()
	ollamaURL := fakeollama.RealURL(t)
	gem := fakegemini.New(t)
	dir := t.TempDir()
	_, key := cliKey(t, dir, append([]string{"-user", "gina"}, keyArgs...)...)
	all := map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"OLLAMA_HOST": ollamaURL, "OLLAMA_MODEL": "tiny", "DATA_DIR": dir, "AUTH_REQUIRED": "true",
		"CACHE_ENABLED": "false",
	}
	for k, v := range env {
		all[k] = v
	}
	url, logs := startService(t, all)
	return &geminiEnv{url: url, key: key, gem: gem, logs: logs, client: genaiClient(t, url, key)}
}

func genaiClient(t *testing.T, url, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: url + "/", APIVersion: "v1beta"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkKeys: the fake saw its own key, never the gateway's; the log has
// neither.
func (e *geminiEnv) checkKeys(t *testing.T) {
	t.Helper()
	for _, r := range e.gem.Requests() {
		if got := r.Header.Get("x-goog-api-key"); got != e.gem.Key || strings.Contains(r.Query.Encode(), e.key) {
			t.Errorf("upstream request carried key %q (query %q), want the configured upstream key", got, r.Query.Encode())
		}
	}
	if s := e.logs.String(); strings.Contains(s, e.key) || strings.Contains(s, e.gem.Key) {
		t.Error("a key appears in the log")
	}
}

func TestGeminiSDKGenerate(t *testing.T) {
	e := startGeminiSurface(t, nil)
	ctx := context.Background()
	e.gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 7, CandidatesTokenCount: 4}, "MLOps ", "is DevOps for ML."))
	cfg := &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText("one line", genai.RoleUser),
		Temperature:       genai.Ptr[float32](0), MaxOutputTokens: 100, StopSequences: []string{"END"},
	}
	resp, err := e.client.Models.GenerateContent(ctx, "google/gemini-2.5-flash", genai.Text("What is MLOps?"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := resp.UsageMetadata
	if resp.Text() != "MLOps is DevOps for ML." || resp.Candidates[0].FinishReason != genai.FinishReasonStop ||
		u == nil || u.PromptTokenCount != 7 || u.CandidatesTokenCount != 4 || u.TotalTokenCount != 11 || resp.ModelVersion != "gemini-2.5-flash" {
		t.Errorf("response %+v usage %+v", resp, u)
	}
	up := e.gem.Last(t).Body
	if up == nil || up.SystemInstruction == nil || up.GenerationConfig == nil || up.GenerationConfig.MaxOutputTokens != 100 {
		t.Errorf("upstream request %+v", up)
	}

	// Stream: the same answer in pieces, the last chunk with STOP and usage.
	e.gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 5, CandidatesTokenCount: 3}, "a", "b", "c"))
	var text string
	var last *genai.GenerateContentResponse
	for chunk, err := range e.client.Models.GenerateContentStream(ctx, "google/gemini-2.5-flash", genai.Text("abc"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		text += chunk.Text()
		last = chunk
	}
	if text != "abc" || last == nil || last.Candidates[0].FinishReason != genai.FinishReasonStop || last.UsageMetadata.TotalTokenCount != 8 {
		t.Errorf("stream text %q last %+v", text, last)
	}
	e.checkKeys(t)
}

// TestGeminiSDKFailover: Gemini keeps answering 429; the default chain
// falls back to the real Ollama, invisibly, streamed and not.
func TestGeminiSDKFailover(t *testing.T) {
	e := startGeminiSurface(t, nil)
	ctx := context.Background()
	for _, stream := range []bool{false, true} {
		for range 4 { // the first try and 3 retries
			e.gem.Enqueue(fakegemini.RateLimitReply("0.001s"))
		}
		var text, model string
		if stream {
			for chunk, err := range e.client.Models.GenerateContentStream(ctx, "default", genai.Text("hello"), nil) {
				if err != nil {
					t.Fatal(err)
				}
				text += chunk.Text()
				model = chunk.ModelVersion
			}
		} else {
			resp, err := e.client.Models.GenerateContent(ctx, "default", genai.Text("hello"), nil)
			if err != nil {
				t.Fatal(err)
			}
			text, model = resp.Text(), resp.ModelVersion
		}
		if text != fakeollama.TinyAnswer || model != "tiny" {
			t.Errorf("stream=%v: text %q model %q, want Ollama's answer", stream, text, model)
		}
	}
	e.checkKeys(t)
}

// TestGeminiSDKErrorAfterStart: a failure after the first content is an
// explicit error in the stream (an APIError for the SDK), never a clean
// end; a failure before it is a normal Gemini error body.
func TestGeminiSDKErrorAfterStart(t *testing.T) {
	e := startGeminiSurface(t, nil)
	ctx := context.Background()
	e.gem.Enqueue(fakegemini.Reply{Deltas: []string{"partial ", "answer"}, Fault: fakegemini.FaultCut, After: 1})
	var text string
	var got error
	for chunk, err := range e.client.Models.GenerateContentStream(ctx, "google/gemini-2.5-flash", genai.Text("hi"), nil) {
		if err != nil {
			got = err
			break
		}
		text += chunk.Text()
	}
	var apiErr genai.APIError
	if text != "partial " || !errors.As(got, &apiErr) || apiErr.Code < 500 || apiErr.Status == "" {
		t.Errorf("text %q err %v", text, got)
	}
}

func TestGeminiSDKBadInput(t *testing.T) {
	e := startGeminiSurface(t, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		model  string
		cfg    *genai.GenerateContentConfig
		code   int
		status string
		msg    string
	}{
		{"candidateCount", "default", &genai.GenerateContentConfig{CandidateCount: 9}, 400, "INVALID_ARGUMENT", "candidateCount must be between 1 and 8"},
		{"thinkingLevel with thinkingBudget", "default", &genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{
			ThinkingLevel: genai.ThinkingLevelLow, ThinkingBudget: genai.Ptr[int32](100)}}, 400, "INVALID_ARGUMENT", "not supported together"},
		{"topK", "default", &genai.GenerateContentConfig{TopK: genai.Ptr[float32](3)}, 400, "INVALID_ARGUMENT", "topK"},
		{"google search tool", "default", &genai.GenerateContentConfig{Tools: []*genai.Tool{{GoogleSearch: &genai.GoogleSearch{}}}}, 400, "INVALID_ARGUMENT", "googleSearch"},
		{"unknown provider", "nope/model", nil, 404, "NOT_FOUND", "unknown provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.Models.GenerateContent(ctx, tt.model, genai.Text("hi"), tt.cfg)
			var apiErr genai.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != tt.code || apiErr.Status != tt.status || !strings.Contains(apiErr.Message, tt.msg) {
				t.Errorf("err = %v", err)
			}
		})
	}
	if n := len(e.gem.Requests()); n != 0 {
		t.Errorf("refused requests reached the upstream %d times", n)
	}
	// A wrong key: 401 UNAUTHENTICATED, the key not echoed.
	bad := genaiClient(t, e.url, "lc-wrong-"+strings.Repeat("x", 20))
	_, err := bad.Models.GenerateContent(ctx, "default", genai.Text("hi"), nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 401 || apiErr.Status != "UNAUTHENTICATED" || strings.Contains(apiErr.Message, "lc-wrong") {
		t.Errorf("wrong key: %v", err)
	}
}

// TestGeminiSDKModels: the list holds only what the key may use, in
// Gemini's model shape.
func TestGeminiSDKModels(t *testing.T) {
	e := startGeminiSurface(t, nil, "-models", "ollama/*")
	ctx := context.Background()
	var names []string
	for m, err := range e.client.Models.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m.Name)
		if len(m.SupportedActions) == 0 || !strings.HasPrefix(m.Name, "models/ollama/") {
			t.Errorf("model %+v", m)
		}
	}
	if len(names) == 0 {
		t.Fatal("no model listed")
	}
	m, err := e.client.Models.Get(ctx, "ollama/tiny", nil)
	if err != nil || m.Name != "models/ollama/tiny" {
		t.Errorf("get: %+v %v", m, err)
	}
	_, err = e.client.Models.Get(ctx, "google/gemini-2.5-flash", nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 404 {
		t.Errorf("a model outside the key's list: %v", err)
	}
	_, err = e.client.Models.GenerateContent(ctx, "google/gemini-2.5-flash", genai.Text("hi"), nil)
	if !errors.As(err, &apiErr) || apiErr.Code != 403 || apiErr.Status != "PERMISSION_DENIED" {
		t.Errorf("generate outside the key's list: %v", err)
	}
	resp, err := e.client.Models.GenerateContent(ctx, "ollama/tiny", genai.Text("hi"), nil)
	if err != nil || resp.Text() != fakeollama.TinyAnswer {
		t.Errorf("ollama/tiny: %v", err)
	}
}

// TestGeminiQueryKey: ?key= works, as Google's API accepts it, and the
// access log never prints it.
func TestGeminiQueryKey(t *testing.T) {
	e := startGeminiSurface(t, nil)
	body := `{"contents":[{"parts":[{"text":"hi"}]}]}`
	resp, err := http.Post(e.url+"/v1beta/models/ollama/tiny:generateContent?key="+e.key, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"finishReason":"STOP"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if !strings.Contains(e.logs.String(), "/v1beta/models/ollama/tiny:generateContent") {
		t.Error("no access log line for the request")
	}
	e.checkKeys(t)
}

// TestGeminiSDKToolRoundTrip: a function declared in Gemini's schema
// dialect reaches the real Ollama, its call comes back as a functionCall
// part, and the functionResponse turn is answered.
func TestGeminiSDKToolRoundTrip(t *testing.T) {
	e := startGeminiSurface(t, nil)
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
		Name: "get_weather", Description: "weather of a city",
		Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"city": {Type: genai.TypeString}}, Required: []string{"city"}},
	}}}}}
	contents := genai.Text("weather in Paris?")
	resp, err := e.client.Models.GenerateContent(ctx, "ollama/tiny", contents, cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 1 || calls[0].Name != "get_weather" || calls[0].Args["city"] != "Paris" {
		t.Fatalf("calls %+v in %+v", calls, resp.Candidates[0].Content)
	}
	contents = append(contents, resp.Candidates[0].Content,
		genai.NewContentFromFunctionResponse("get_weather", map[string]any{"temperature": 21}, genai.RoleUser))
	resp, err = e.client.Models.GenerateContent(ctx, "ollama/tiny", contents, cfg)
	if err != nil || resp.Text() != fakeollama.TinyAnswer {
		t.Fatalf("after the function response: %v %+v", err, resp)
	}
}

func TestGeminiSDKCountTokens(t *testing.T) {
	e := startGeminiSurface(t, nil)
	resp, err := e.client.Models.CountTokens(context.Background(), "ollama/tiny", genai.Text("What is MLOps?"), nil)
	if err != nil || resp.TotalTokens <= 0 {
		t.Fatalf("%+v %v", resp, err)
	}
	if n := len(e.gem.Requests()); n != 0 {
		t.Errorf("counting on ollama/tiny called Gemini %d times", n)
	}
}

func TestGeminiSDKEmbedContent(t *testing.T) {
	e := startGeminiSurface(t, nil)
	resp, err := e.client.Models.EmbedContent(context.Background(), "ollama/tiny",
		[]*genai.Content{genai.NewContentFromText("a", genai.RoleUser), genai.NewContentFromText("b", genai.RoleUser)}, nil)
	if err != nil || len(resp.Embeddings) != 2 || len(resp.Embeddings[0].Values) == 0 {
		t.Fatalf("%+v %v", resp, err)
	}
}

// TestGeminiSDKRateLimited: the gateway's own limit answers 429
// RESOURCE_EXHAUSTED with a RetryInfo detail the SDK exposes.
func TestGeminiSDKRateLimited(t *testing.T) {
	e := startGeminiSurface(t, map[string]string{"RATE_LIMIT_RPM": "1"})
	ctx := context.Background()
	if _, err := e.client.Models.GenerateContent(ctx, "ollama/tiny", genai.Text("one"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.Models.GenerateContent(ctx, "ollama/tiny", genai.Text("two"), nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 429 || apiErr.Status != "RESOURCE_EXHAUSTED" || len(apiErr.Details) != 1 ||
		apiErr.Details[0]["@type"] != "type.googleapis.com/google.rpc.RetryInfo" || apiErr.Details[0]["retryDelay"] == "" {
		t.Fatalf("%+v", err)
	}
}

// TestGeminiSDKAliasedModelName: an alias named like a Gemini model
// gives that name, as the SDK's users write it, a fallback chain.
func TestGeminiSDKAliasedModelName(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "llm.yaml")
	yaml := "aliases:\n  gemini-2.5-flash:\n    targets: [google/gemini-2.5-flash, ollama/tiny]\n    retries: 0\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startGeminiSurface(t, map[string]string{"LLM_CONFIG": cfgFile})
	e.gem.Enqueue(fakegemini.ErrorReply(503, "The model is overloaded. Please try again later."))
	resp, err := e.client.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hello"), nil)
	if err != nil || resp.Text() != fakeollama.TinyAnswer || resp.ModelVersion != "tiny" {
		t.Fatalf("%v %+v", err, resp)
	}
	if n := len(e.gem.Requests()); n != 1 {
		t.Errorf("gemini got %d requests, want 1", n)
	}
}

// TestGeminiSDKThoughts: with includeThoughts and a thinking budget the
// backend's thought summaries come back as "thought": true parts (which
// resp.Text() skips), streamed and not, with thoughtsTokenCount; without
// includeThoughts none are shown.
func TestGeminiSDKThoughts(t *testing.T) {
	e := startGeminiSurface(t, nil)
	ctx := context.Background()
	reply := func() fakegemini.Reply {
		return fakegemini.Reply{Thoughts: []string{"**Planning**"}, Deltas: []string{"4"},
			Usage: fakegemini.Usage{PromptTokenCount: 6, CandidatesTokenCount: 1, ThoughtsTokenCount: 30}}
	}
	thinking := func(include bool) *genai.GenerateContentConfig {
		return &genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: include, ThinkingBudget: genai.Ptr[int32](512)}}
	}
	thoughtsOf := func(c *genai.Candidate) (s string) {
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				if p.Thought {
					s += p.Text
				}
			}
		}
		return s
	}
	e.gem.Enqueue(reply())
	resp, err := e.client.Models.GenerateContent(ctx, "google/gemini-2.5-flash", genai.Text("2+2?"), thinking(true))
	if err != nil || resp.Text() != "4" || thoughtsOf(resp.Candidates[0]) != "**Planning**" || resp.UsageMetadata.ThoughtsTokenCount != 30 {
		t.Fatalf("%v %+v", err, resp)
	}
	e.gem.Enqueue(reply())
	var text, thoughts string
	for chunk, err := range e.client.Models.GenerateContentStream(ctx, "google/gemini-2.5-flash", genai.Text("2+2?"), thinking(true)) {
		if err != nil {
			t.Fatal(err)
		}
		text += chunk.Text()
		thoughts += thoughtsOf(chunk.Candidates[0])
	}
	if text != "4" || thoughts != "**Planning**" {
		t.Errorf("stream: text %q thoughts %q", text, thoughts)
	}
	e.gem.Enqueue(reply())
	resp, err = e.client.Models.GenerateContent(ctx, "google/gemini-2.5-flash", genai.Text("2+2?"), thinking(false))
	if err != nil || resp.Text() != "4" || thoughtsOf(resp.Candidates[0]) != "" {
		t.Errorf("without includeThoughts: %v %+v", err, resp)
	}
}
