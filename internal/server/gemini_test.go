package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

// geminiServer serves h's gateway with the Server edited by edit.
func geminiServer(t *testing.T, h *harness, edit func(s *Server)) string {
	t.Helper()
	s := &Server{GW: h.gw, Log: slog.New(slog.NewJSONHandler(h.logs, nil)), BodyLimit: 1 << 20}
	if edit != nil {
		edit(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func postTo(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const gmHi = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

func TestDecodeGemini(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, d *gmDecoded)
	}{
		{"text, system, config", `{"contents":[{"role":"user","parts":[{"text":"a"},{"text":"b"}]}],
			"systemInstruction":{"role":"user","parts":[{"text":"sys"}]},
			"generationConfig":{"maxOutputTokens":50,"temperature":0.5,"topP":0.9,"stopSequences":["X"],"seed":3,"candidateCount":1,
			"thinkingConfig":{"thinkingBudget":0,"includeThoughts":true},"responseModalities":["TEXT"]}}`,
			func(t *testing.T, d *gmDecoded) {
				r := d.req
				if r.System != "sys" || len(r.Messages) != 1 || r.Messages[0].Content != "ab" || r.MaxTokens != 50 ||
					*r.Temperature != 0.5 || *r.TopP != 0.9 || r.Stop[0] != "X" || *r.Seed != 3 || *r.ThinkingBudget != 0 || !d.includeThoughts {
					t.Errorf("%+v", r)
				}
			}},
		{"defaults", gmHi, func(t *testing.T, d *gmDecoded) {
			if d.req.MaxTokens != defaultGeminiMaxOutput || d.req.Temperature != nil || d.includeThoughts {
				t.Errorf("%+v", d.req)
			}
		}},
		{"images", `{"contents":[{"parts":[{"text":"what?"},{"inlineData":{"mimeType":"image/png","data":"aGVsbG8="}},
			{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/a.jpg"}}]}]}`,
			func(t *testing.T, d *gmDecoded) {
				im := d.req.Messages[0].Images
				if len(im) != 2 || string(im[0].Data) != "hello" || im[0].MIMEType != "image/png" || im[1].URL != "https://example.com/a.jpg" {
					t.Errorf("%+v", im)
				}
			}},
		{"function round trip pairs calls and results", `{"contents":[{"role":"user","parts":[{"text":"weather?"}]},
			{"role":"model","parts":[{"text":"thinking","thought":true},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},
			{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}]},
			{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"t": 20}}},
			{"functionResponse":{"name":"get_weather","response":{"t":25}}}]}],
			"tools":[{"functionDeclarations":[{"name":"get_weather","description":"d","parameters":{"type":"OBJECT",
			"properties":{"city":{"type":"STRING","nullable":true}},"required":["city"],"propertyOrdering":["city"]}}]}],
			"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}}`,
			func(t *testing.T, d *gmDecoded) {
				m := d.req.Messages
				if len(m) != 4 || m[1].Content != "" || len(m[1].ToolCalls) != 2 || m[2].Role != llm.RoleTool ||
					m[2].ToolCallID != m[1].ToolCalls[0].ID || m[3].ToolCallID != m[1].ToolCalls[1].ID || m[2].Content != `{"t":20}` ||
					m[1].ToolCalls[1].Arguments != `{"city":"Rome"}` {
					t.Errorf("%+v", m)
				}
				want := `{"properties":{"city":{"type":["string","null"]}},"required":["city"],"type":"object"}`
				if len(d.req.Tools) != 1 || string(d.req.Tools[0].Parameters) != want || d.req.ToolChoice != "get_weather" {
					t.Errorf("tools %s choice %q", d.req.Tools[0].Parameters, d.req.ToolChoice)
				}
			}},
		{"response schema", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json",
			"responseSchema":{"type":"ARRAY","items":{"type":"INTEGER"},"maxItems":"3"}}}`,
			func(t *testing.T, d *gmDecoded) {
				if !d.req.JSON || d.req.Schema == nil || string(d.req.Schema.Schema) != `{"items":{"type":"integer"},"maxItems":3,"type":"array"}` {
					t.Errorf("%+v", d.req.Schema)
				}
			}},
		{"response JSON schema", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json",
			"responseJsonSchema":{"type":"object","additionalProperties":false}}}`,
			func(t *testing.T, d *gmDecoded) {
				if d.req.Schema == nil || !strings.Contains(string(d.req.Schema.Schema), "additionalProperties") {
					t.Errorf("%+v", d.req.Schema)
				}
			}},
		{"mode NONE", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`,
			func(t *testing.T, d *gmDecoded) {
				if d.req.ToolChoice != "none" {
					t.Errorf("%q", d.req.ToolChoice)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, f := DecodeGemini([]byte(tt.body))
			if f != nil {
				t.Fatalf("refused: %d %s", f.status, f.message)
			}
			tt.check(t, d)
		})
	}
}

func TestDecodeGeminiRefuses(t *testing.T) {
	c := func(extra string) string { return `{"contents":[{"parts":[{"text":"x"}]}],` + extra + `}` }
	tests := []struct{ name, body, msg string }{
		{"not an object", `[]`, "JSON object"},
		{"unknown field", c(`"bogus":1`), `Unknown name "bogus"`},
		{"snake case", c(`"generation_config":{}`), `Unknown name "generation_config"`},
		{"wrong type", `{"contents":"hi"}`, "Invalid value at 'contents'"},
		{"no contents", `{}`, "contents is not specified"},
		{"empty parts", `{"contents":[{"role":"user","parts":[]}]}`, "parts must not be empty"},
		{"bad role", `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, `role "system"`},
		{"candidateCount", c(`"generationConfig":{"candidateCount":9}`), "candidateCount must be between 1 and 8"},
		{"maxOutputTokens", c(`"generationConfig":{"maxOutputTokens":0}`), "maxOutputTokens"},
		{"temperature", c(`"generationConfig":{"temperature":3}`), "temperature"},
		{"topK", c(`"generationConfig":{"topK":40}`), "topK"},
		{"stops", c(`"generationConfig":{"stopSequences":["a","b","c","d","e","f"]}`), "stopSequences"},
		{"schema without JSON", c(`"generationConfig":{"responseSchema":{"type":"STRING"}}`), "application/json"},
		{"enum mime", c(`"generationConfig":{"responseMimeType":"text/x.enum"}`), "text/x.enum"},
		{"thinkingLevel with thinkingBudget", c(`"generationConfig":{"thinkingConfig":{"thinkingLevel":"HIGH","thinkingBudget":100}}`), "thinking_budget and thinking_level are not supported together"},
		{"bad thinkingLevel", c(`"generationConfig":{"thinkingConfig":{"thinkingLevel":"EXTREME"}}`), "thinking_level"},
		{"safety", c(`"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]`), "safetySettings"},
		{"cached content", c(`"cachedContent":"cachedContents/x"`), "cachedContent"},
		{"search tool", c(`"tools":[{"googleSearch":{}}]`), "googleSearch"},
		{"code execution part", `{"contents":[{"parts":[{"executableCode":{"code":"1"}}]}]}`, "executableCode"},
		{"pdf", `{"contents":[{"parts":[{"inlineData":{"mimeType":"application/pdf","data":"aGk="}}]}]}`, "application/pdf"},
		{"bad base64", `{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}]}`, "base64"},
		{"orphan response", `{"contents":[{"parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, "no earlier functionCall"},
		{"call in user turn", `{"contents":[{"parts":[{"functionCall":{"name":"f"}}]}]}`, "model turn"},
		{"bad tool name", c(`"tools":[{"functionDeclarations":[{"name":"a b"}]}]`), "name must match"},
		{"duplicate tool", c(`"tools":[{"functionDeclarations":[{"name":"f"},{"name":"f"}]}]`), "declared twice"},
		{"non-object parameters", c(`"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"STRING"}}]}]`), "describe an object"},
		{"unknown schema key", c(`"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","$ref":"x"}}]}]`), "unknown schema field"},
		{"undeclared allowed name", c(`"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}`), "not declared"},
		{"validated mode", c(`"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"VALIDATED"}}`), "VALIDATED"},
		{"trailing data", gmHi + `{}`, "after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f := DecodeGemini([]byte(tt.body))
			if f == nil || f.status != 400 || !strings.Contains(f.message, tt.msg) {
				t.Fatalf("got %+v, want a 400 naming %q", f, tt.msg)
			}
		})
	}
}

// TestGeminiNonStream: the answer in GenerateContentResponse's shape,
// thought parts only when asked for, the record naming the surface.
func TestGeminiNonStream(t *testing.T) {
	h := newHarness(t)
	url := geminiServer(t, h, nil)
	for _, thoughts := range []bool{false, true} {
		h.primary.Push([]fakeprovider.Step{
			fakeprovider.Chunk(llm.Chunk{Thinking: "plan"}), fakeprovider.Text("Hi"),
			fakeprovider.Chunk(llm.Chunk{ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}}),
			fakeprovider.Chunk(llm.Chunk{FinishReason: llm.FinishToolCalls, Model: "gemini-2.5-flash",
				Usage: &llm.Usage{InputTokens: 9, OutputTokens: 7, ThinkingTokens: 4, CachedInputTokens: 2, TotalTokens: 16}}),
		})
		body := `{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":` + map[bool]string{true: "true", false: "false"}[thoughts] + `}}}`
		resp, b := postTo(t, url+"/v1beta/models/default:generateContent", body)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		var got gmResponse
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		parts := got.Candidates[0].Content.Parts
		wantParts := 2
		if thoughts {
			wantParts = 3
		}
		if len(parts) != wantParts || parts[0].Thought != thoughts || got.Candidates[0].FinishReason != "STOP" ||
			parts[len(parts)-1].FunctionCall == nil || string(parts[len(parts)-1].FunctionCall.Args) != `{"a":1}` {
			t.Errorf("thoughts=%v: %s", thoughts, b)
		}
		u := got.UsageMetadata
		if u.PromptTokenCount != 9 || u.CandidatesTokenCount != 3 || u.ThoughtsTokenCount != 4 || u.CachedContentTokenCount != 2 ||
			u.TotalTokenCount != 16 || got.ModelVersion != "gemini-2.5-flash" || got.ResponseID == "" {
			t.Errorf("usage %+v %s", u, b)
		}
		if c := <-h.calls; c.Endpoint != gmEndpointGenerate || c.RequestedModel != "default" || !c.Success {
			t.Errorf("record %+v", c)
		}
	}
}

// TestGeminiStreamFraming: CRLF data-only events, nothing but data lines
// (no heartbeat comment even when the stream idles past the interval,
// where /v1 sends one), the last event with finishReason and usage.
func TestGeminiStreamFraming(t *testing.T) {
	h := newHarness(t)
	url := geminiServer(t, h, func(s *Server) { s.Heartbeat = time.Millisecond })
	idle := func() []fakeprovider.Step {
		return []fakeprovider.Step{fakeprovider.Text("a"), fakeprovider.Do(func(context.Context) { time.Sleep(30 * time.Millisecond) }),
			fakeprovider.Text("b"), fakeprovider.Chunk(llm.Chunk{FinishReason: llm.FinishLength, Usage: &llm.Usage{InputTokens: 2, OutputTokens: 2}})}
	}
	h.primary.Push(idle(), idle())
	_, control := postTo(t, url+"/v1/chat/completions", `{"model":"default","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if !bytes.Contains(control, []byte(": keep-alive")) {
		t.Fatalf("the control stream (/v1) sent no heartbeat: the test proves nothing\n%s", control)
	}
	resp, b := postTo(t, url+"/v1beta/models/default:streamGenerateContent?alt=sse", gmHi)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	events := strings.Split(strings.TrimSuffix(string(b), "\r\n\r\n"), "\r\n\r\n")
	if len(events) != 3 {
		t.Fatalf("%d events: %q", len(events), b)
	}
	for _, ev := range events {
		if !strings.HasPrefix(ev, "data: {") || strings.ContainsAny(ev, "\r\n") {
			t.Fatalf("event %q is not one CRLF-framed data line", ev)
		}
	}
	var last gmResponse
	_ = json.Unmarshal([]byte(strings.TrimPrefix(events[2], "data: ")), &last)
	if last.Candidates[0].FinishReason != "MAX_TOKENS" || last.UsageMetadata.TotalTokenCount != 4 {
		t.Errorf("last event %s", events[2])
	}
	if c := <-h.calls; c.Endpoint != "/v1/chat/completions" {
		t.Errorf("record %+v", c)
	}
	if c := <-h.calls; c.Endpoint != gmEndpointStream || !c.Streamed {
		t.Errorf("record %+v", c)
	}
}

// TestGeminiStreamErrors: a failure before the first content is a JSON
// error with its status (after an invisible failover when there is a
// next target); after it, a data event holding {"error":...}.
func TestGeminiStreamErrors(t *testing.T) {
	h := newHarness(t)
	url := geminiServer(t, h, nil)
	cut := &llm.Error{Kind: llm.KindUpstream, Provider: "google", Message: "stream cut"}
	h.primary.Push([]fakeprovider.Step{fakeprovider.Text("a"), fakeprovider.Err(cut)})
	_, b := postTo(t, url+"/v1beta/models/default:streamGenerateContent?alt=sse", gmHi)
	events := strings.Split(strings.TrimSuffix(string(b), "\r\n\r\n"), "\r\n\r\n")
	var last map[string]gmStatus
	_ = json.Unmarshal([]byte(strings.TrimPrefix(events[len(events)-1], "data: ")), &last)
	if len(events) != 2 || last["error"].Code != 502 || last["error"].Status != "UNAVAILABLE" || !strings.Contains(last["error"].Message, "stream cut") {
		t.Errorf("stream %q", b)
	}

	bad := &llm.Error{Kind: llm.KindInvalid, Provider: "google", StatusCode: 400, Message: "bad request"}
	h.primary.Push([]fakeprovider.Step{fakeprovider.Err(bad)})
	resp, b := postTo(t, url+"/v1beta/models/google/gemini-2.5-flash:streamGenerateContent?alt=sse", gmHi)
	var body map[string]gmStatus
	if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != 400 || body["error"].Status != "INVALID_ARGUMENT" {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}

func TestGeminiRoutingErrors(t *testing.T) {
	h := newHarness(t)
	url := geminiServer(t, h, nil)
	tests := []struct {
		name, method, path, body string
		status                   int
		rpc                      string
	}{
		{"unknown path", "GET", "/v1beta/files", "", 404, "NOT_FOUND"},
		{"no method", "POST", "/v1beta/models/default", gmHi, 404, "NOT_FOUND"},
		{"unknown method", "POST", "/v1beta/models/default:predict", gmHi, 404, "NOT_FOUND"},
		{"stream without alt=sse", "POST", "/v1beta/models/default:streamGenerateContent", gmHi, 400, "INVALID_ARGUMENT"},
		{"bad model name", "POST", "/v1beta/models/a%20b:generateContent", gmHi, 400, "INVALID_ARGUMENT"},
		{"unknown provider", "POST", "/v1beta/models/nope/x:generateContent", gmHi, 404, "NOT_FOUND"},
		{"empty body", "POST", "/v1beta/models/default:generateContent", "", 400, "INVALID_ARGUMENT"},
		{"too large", "POST", "/v1beta/models/default:generateContent", `{"contents":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "INVALID_ARGUMENT"},
		{"unknown model", "GET", "/v1beta/models/nope", "", 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body map[string]gmStatus
			if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != tt.status || body["error"].Status != tt.rpc ||
				body["error"].Code != tt.status || body["error"].Message == "" {
				t.Errorf("%d %s", resp.StatusCode, b)
			}
		})
	}
	if h.primary.NumCalls() != 0 {
		t.Error("a refused request reached the provider")
	}
}

func TestGeminiStatusOf(t *testing.T) {
	rl := &llm.Error{Kind: llm.KindRateLimited, RetryAfter: 1500 * time.Millisecond, Message: "rate limit exceeded"}
	st := gmStatusOf(statusOf(rl), rl)
	if st.Code != 429 || st.Status != "RESOURCE_EXHAUSTED" || len(st.Details) != 1 || st.Details[0]["retryDelay"] != "2s" {
		t.Errorf("%+v", st)
	}
	// An upstream credential problem is the operator's: 502, not 401.
	up := &llm.Error{Kind: llm.KindUnauthorized, Provider: "google", Message: "upstream refused the key"}
	if st := gmStatusOf(statusOf(up), up); st.Code != 502 || st.Status != "UNAVAILABLE" {
		t.Errorf("%+v", st)
	}
}

func TestGeminiModels(t *testing.T) {
	h := newHarness(t)
	url := geminiServer(t, h, func(s *Server) {
		s.Models = func() []ModelInfo {
			return []ModelInfo{{ID: "fast", OwnedBy: "alias"}, {ID: "google/gemini-2.5-flash", OwnedBy: "google"}, {ID: "ollama/llama2", OwnedBy: "ollama"}}
		}
		s.AllowModel = func(_ context.Context, m string) bool { return m != "ollama/llama2" }
	})
	resp, err := http.Get(url + "/v1beta/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Models []gmModel }
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Models) != 2 || list.Models[1].Name != "models/google/gemini-2.5-flash" || list.Models[1].InputTokenLimit != 1048576 ||
		list.Models[0].Name != "models/fast" || list.Models[0].InputTokenLimit != 0 {
		t.Errorf("%+v", list)
	}
	for path, status := range map[string]int{"gemini-2.5-flash": 200, "google/gemini-2.5-flash": 200, "ollama/llama2": 404, "llama2": 404} {
		resp, err := http.Get(url + "/v1beta/models/" + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, status)
		}
	}
}

// TestGeminiCountAndEmbed drives countTokens and the embeddings through
// fakes of the gateway's calls: what reaches them, and the answer shapes.
func TestGeminiCountAndEmbed(t *testing.T) {
	h := newHarness(t)
	var counted *gateway.Input
	var embedded *gateway.EmbedInput
	url := geminiServer(t, h, func(s *Server) {
		s.gmCount = func(_ context.Context, in *gateway.Input) (llm.TokenCount, error) {
			counted = in
			if in.Model == "fail" {
				return llm.TokenCount{}, &llm.Error{Kind: llm.KindRateLimited, RetryAfter: time.Second, Message: "slow down"}
			}
			return llm.TokenCount{InputTokens: 31, Estimated: true}, nil
		}
		s.gmEmbed = func(_ context.Context, in *gateway.EmbedInput) (*gateway.EmbedResult, error) {
			embedded = in
			vecs := make([][]float32, len(in.Req.Inputs))
			for i := range vecs {
				vecs[i] = []float32{float32(i), 0.5}
			}
			return &gateway.EmbedResult{Response: &llm.EmbedResponse{Vectors: vecs, Provider: "ollama"}}, nil
		}
	})
	resp, b := postTo(t, url+"/v1beta/models/default:countTokens", `{"generateContentRequest":{"model":"models/default",`+
		`"contents":[{"parts":[{"text":"count me"}]}],"systemInstruction":{"parts":[{"text":"sys"}]}}}`)
	if resp.StatusCode != 200 || string(bytes.TrimSpace(b)) != `{"totalTokens":31}` || resp.Header.Get("X-Token-Count-Estimated") != "true" ||
		counted.Endpoint != gmEndpointCount || counted.Req.System != "sys" || counted.Req.Messages[0].Content != "count me" {
		t.Errorf("%d %s %+v", resp.StatusCode, b, counted)
	}
	resp, b = postTo(t, url+"/v1beta/models/fail:countTokens", gmHi)
	if resp.StatusCode != 429 || !strings.Contains(string(b), "RetryInfo") || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("%d %s", resp.StatusCode, b)
	}

	resp, b = postTo(t, url+"/v1beta/models/ollama/tiny:embedContent", `{"content":{"parts":[{"text":"a"}]},"taskType":"RETRIEVAL_QUERY","outputDimensionality":2}`)
	if resp.StatusCode != 200 || string(bytes.TrimSpace(b)) != `{"embedding":{"values":[0,0.5]}}` ||
		embedded.Model != "ollama/tiny" || embedded.Req.TaskType != "RETRIEVAL_QUERY" || embedded.Req.Dimensions != 2 || embedded.Endpoint != gmEndpointEmbed {
		t.Errorf("%d %s %+v", resp.StatusCode, b, embedded)
	}
	resp, b = postTo(t, url+"/v1beta/models/ollama/tiny:batchEmbedContents", `{"requests":[`+
		`{"model":"models/ollama/tiny","content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]}`)
	if resp.StatusCode != 200 || string(bytes.TrimSpace(b)) != `{"embeddings":[{"values":[0,0.5]},{"values":[1,0.5]}]}` ||
		len(embedded.Req.Inputs) != 2 || embedded.Endpoint != gmEndpointBatch {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	resp, b = postTo(t, url+"/v1beta/models/default:countTokens", `{"generateContentRequest":{"model":"models/other","contents":[{"parts":[{"text":"a"}]}]}}`)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "differs from the model of the URL") {
		t.Errorf("count with another model: %d %s", resp.StatusCode, b)
	}
	for _, bad := range []string{
		`{"requests":[]}`,
		`{"requests":[{"model":"models/other","content":{"parts":[{"text":"a"}]}}]}`,
		`{"requests":[{"content":{"parts":[{"text":"a"}]},"taskType":"CLUSTERING"},{"content":{"parts":[{"text":"b"}]}}]}`,
		`{"requests":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"aGk="}}]}}]}`,
		`{"requests":[{"content":{"parts":[{"text":"a"}]},"taskType":"NOPE"}]}`,
	} {
		resp, b = postTo(t, url+"/v1beta/models/ollama/tiny:batchEmbedContents", bad)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "INVALID_ARGUMENT") {
			t.Errorf("%s → %d %s", bad, resp.StatusCode, b)
		}
	}
}

// TestGeminiCountThroughGateway: countTokens through the real gateway
// (a backend without a counter: the gateway's stated estimate); the
// embed call on a backend without embeddings is a clear Gemini 404
// naming it.
func TestGeminiCountThroughGateway(t *testing.T) {
	h := newHarness(t)
	url := geminiServer(t, h, nil)
	resp, b := postTo(t, url+"/v1beta/models/default:countTokens", gmHi)
	var count struct{ TotalTokens int }
	if err := json.Unmarshal(b, &count); err != nil || resp.StatusCode != 200 || count.TotalTokens <= 0 ||
		resp.Header.Get("X-Token-Count-Estimated") != "true" {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	resp, b = postTo(t, url+"/v1beta/models/default:embedContent", `{"content":{"parts":[{"text":"a"}]}}`)
	var st map[string]gmStatus
	if err := json.Unmarshal(b, &st); err != nil || resp.StatusCode != 404 || st["error"].Status != "NOT_FOUND" ||
		!strings.Contains(st["error"].Message, "does not serve embeddings") {
		t.Errorf("embed: %d %s", resp.StatusCode, b)
	}
	if h.primary.NumCalls() != 0 {
		t.Error("counting or embedding generated")
	}
}
