package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// embedService runs the binary with the fake Gemini's embedding model
// as the default embeddings route and the real Ollama's tiny (64
// dimensions) as its fallback.
func embedService(t *testing.T, extra map[string]string) (url string, gem *fakegemini.Server, client openai.Client) {
	t.Helper()
	ollamaURL := fakeollama.RealURL(t)
	gem = fakegemini.New(t)
	env := map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"OLLAMA_HOST": ollamaURL, "OLLAMA_MODEL": "tiny",
		"EMBEDDING_MODEL": "google/gemini-embedding-001, ollama/tiny",
		"LLM_ADMIN_KEY":   "admin-secret-123",
	}
	for k, v := range extra {
		env[k] = v
	}
	url, _ = startService(t, env)
	client = openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey(newKey(t, url, "sdk")), option.WithMaxRetries(0))
	return url, gem, client
}

// newKey creates an API key for user with the admin key
// "admin-secret-123" (LLM_ADMIN_KEY of the service).
func newKey(t *testing.T, url, user string) string {
	t.Helper()
	resp, body := do(t, "POST", url+"/admin/keys", `{"user":"`+user+`"}`, "Authorization", "Bearer admin-secret-123")
	var created struct {
		Key string `json:"key"`
	}
	if resp.StatusCode >= 300 || json.Unmarshal([]byte(body), &created) != nil || created.Key == "" {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	return created.Key
}

func close32(a []float64, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-float64(b[i])) > 1e-6 {
			return false
		}
	}
	return true
}

// TestEmbeddingsSDK: the openai-go Embeddings client against the
// service: float and base64 give the fake Gemini's vectors in input
// order, dimensions reaches Gemini as outputDimensionality, the same
// inputs again are a cache hit whatever the encoding, and the ledger
// prices the calls.
func TestEmbeddingsSDK(t *testing.T) {
	url, gem, client := embedService(t, nil)
	ctx := context.Background()
	inputs := []string{"the first text", "the second text"}
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{
		openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64,
	} {
		resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "gemini-embedding-001", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
			Dimensions: openai.Int(256), EncodingFormat: format,
		})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		// The base64 call is the float call again: a cache hit, which bills nothing.
		hit := format == openai.EmbeddingNewParamsEncodingFormatBase64
		if len(resp.Data) != 2 || resp.Model != "gemini-embedding-001" || (resp.Usage.PromptTokens > 0) == hit {
			t.Fatalf("%s: %d vectors, model %q, usage %+v", format, len(resp.Data), resp.Model, resp.Usage)
		}
		for i, d := range resp.Data {
			if d.Index != int64(i) || !close32(d.Embedding, llmtest.Vector(inputs[i], 256)) {
				t.Errorf("%s: vector %d (index %d, len %d) is not the fake's", format, i, d.Index, len(d.Embedding))
			}
		}
	}
	embeds := gem.Embeddings()
	if len(embeds) != 2 || *embeds[0].OutputDimensionality != 256 || embeds[0].Model != "models/gemini-embedding-001" {
		t.Fatalf("gemini got %+v, want one batch of 2 with outputDimensionality 256 (the second call a cache hit)", embeds)
	}
	resp, body := do(t, "POST", url+"/v1/embeddings", `{"model":"gemini-embedding-001","input":["the first text","the second text"],"dimensions":256}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "HIT" || !strings.Contains(body, `"cached":true`) {
		t.Errorf("third call: %d %s %v", resp.StatusCode, resp.Header, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = do(t, "GET", url+"/admin/usage?group_by=model", "", "Authorization", "Bearer admin-secret-123")
		// The ledger writes in batches: wait for all three rows.
		if resp.StatusCode == 200 && strings.Contains(body, "gemini-embedding-001") && strings.Contains(body, `"requests":3`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger never showed the embeddings: %d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(body, `"cost_usd":0,`) || strings.Contains(body, `"cost_unknown":1`) {
		t.Errorf("usage = %s, want gemini-embedding-001 priced", body)
	}
	_, metrics := do(t, "GET", url+"/metrics", "")
	for _, series := range []string{
		`gen_ai_client_token_usage_count{gen_ai_operation_name="embeddings",gen_ai_provider_name="google",gen_ai_request_model="gemini-embedding-001"`,
		`llm_connector_http_requests_total{code="200",route="POST /v1/embeddings"} 3`,
	} {
		if !strings.Contains(metrics, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// TestEmbeddingsFailover: with dimensions set, a Gemini that keeps
// answering 503 falls back to Ollama (the same dimension); without
// dimensions, the fallback's 64-dimension vectors are never served for
// a route whose primary returns 3072.
func TestEmbeddingsFailover(t *testing.T) {
	_, gem, client := embedService(t, map[string]string{"LLM_RETRIES": "1"})
	ctx := context.Background()
	resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "default",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("warm up")}})
	if err != nil || len(resp.Data[0].Embedding) != 3072 {
		t.Fatalf("primary: %v", err)
	}
	for range 2 {
		gem.EnqueueEmbed(fakegemini.Reply{Status: 503})
	}
	resp, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "default", Dimensions: openai.Int(64),
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello", "world"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "tiny" || len(resp.Data) != 2 || len(resp.Data[0].Embedding) != 64 || resp.Data[0].Embedding[0] != 1 {
		t.Fatalf("fallback answer: model %q, %d vectors", resp.Model, len(resp.Data))
	}
	for range 2 {
		gem.EnqueueEmbed(fakegemini.Reply{Status: 503})
	}
	_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "default",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("no dimensions")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable ||
		!strings.Contains(apiErr.Message, "64-dimension vectors where the route's are 3072") {
		t.Fatalf("fallback of another dimension: %v", err)
	}
}

// TestEmbeddingsBadInput: what the edge refuses, in OpenAI's error shape.
func TestEmbeddingsBadInput(t *testing.T) {
	url, _, _ := embedService(t, nil)
	for _, tc := range []struct{ body, param, msg string }{
		{`{"input":"x"}`, "model", "you must provide a model"},
		{`{"model":"default","input":[1,2,3]}`, "input", "token arrays are not supported"},
		{`{"model":"default","input":[]}`, "input", "1 to 2048"},
		{`{"model":"default","input":["a",""]}`, "input", "input[1] is empty"},
		{`{"model":"default","input":"x","encoding_format":"int8"}`, "encoding_format", "float or base64"},
		{`{"model":"default","input":"x","dimensions":0}`, "dimensions", "between 1 and"},
	} {
		resp, body := do(t, "POST", url+"/v1/embeddings", tc.body)
		if resp.StatusCode != 400 || !strings.Contains(body, `"param":"`+tc.param+`"`) || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %s", tc.body, resp.StatusCode, body)
		}
	}
	resp, body := do(t, "POST", url+"/v1/embeddings", `{"model":"nope/x","input":"x"}`)
	if resp.StatusCode != 404 || !strings.Contains(body, "model_not_found") {
		t.Errorf("unknown provider: %d %s", resp.StatusCode, body)
	}
}
