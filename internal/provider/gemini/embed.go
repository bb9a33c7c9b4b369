package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

var _ llm.Embedder = (*Client)(nil)

// MaxEmbedBatch is the most texts batchEmbedContents takes in one call.
const MaxEmbedBatch = 100

type embedRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	TaskType             string  `json:"taskType,omitempty"`
	OutputDimensionality int     `json:"outputDimensionality,omitempty"`
}

type batchEmbedRequest struct {
	Requests []embedRequest `json:"requests"`
}

type batchEmbedResponse struct {
	Embeddings []struct {
		Values []float32 `json:"values"`
	} `json:"embeddings"`
}

// Embed implements llm.Embedder with models/{m}:batchEmbedContents, one
// call per MaxEmbedBatch texts, vectors in input order. The API reports
// no token usage for embeddings; the input is estimated at four bytes a
// token.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Inputs) == 0 {
		return nil, llm.Errorf(llm.KindInvalid, ProviderName, "embeddings need at least one input")
	}
	path, err := modelPath(req.Model)
	if err != nil {
		return nil, err
	}
	r := &llm.EmbedResponse{Model: modelID(req.Model), Provider: ProviderName}
	for start := 0; start < len(req.Inputs); start += MaxEmbedBatch {
		batch := req.Inputs[start:min(start+MaxEmbedBatch, len(req.Inputs))]
		vecs, err := c.embedBatch(ctx, path, req, batch)
		if err != nil {
			return nil, err
		}
		r.Vectors = append(r.Vectors, vecs...)
	}
	r.Usage.InputTokens = llm.EstimateEmbedTokens(req.Inputs)
	return r, nil
}

func (c *Client) embedBatch(ctx context.Context, path string, req *llm.EmbedRequest, batch []string) ([][]float32, error) {
	w := batchEmbedRequest{Requests: make([]embedRequest, len(batch))}
	for i, text := range batch {
		w.Requests[i] = embedRequest{Model: path, Content: textContent("", text),
			TaskType: req.TaskType, OutputDimensionality: req.Dimensions}
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, llm.Errorf(llm.KindInvalid, ProviderName, "encode embeddings request: %v", err)
	}
	hr, err := c.newRequest(ctx, http.MethodPost, "/v1beta/"+path+":batchEmbedContents", body)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", "application/json")
	resp, err := c.do(ctx, hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, tooLarge, err := upstream.ReadAnswer(resp.Body, upstream.MaxBody)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("gemini: read embeddings: %w", ctx.Err())
		}
		return nil, upstreamError("embeddings answer cut", err)
	}
	if tooLarge {
		return nil, upstreamError(fmt.Sprintf("embeddings answer larger than %d bytes", upstream.MaxBody), nil)
	}
	var out batchEmbedResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, upstreamError("embeddings answer is not valid JSON", err)
	}
	vecs := make([][]float32, len(out.Embeddings))
	for i, e := range out.Embeddings {
		vecs[i] = e.Values
	}
	if p := upstream.EmbedProblem(vecs, len(batch)); p != "" {
		return nil, upstreamError(p, nil)
	}
	return vecs, nil
}
