package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

var _ llm.Embedder = (*Client)(nil)

type embedRequest struct {
	Model      string          `json:"model"`
	Input      []string        `json:"input"`
	Dimensions int             `json:"dimensions,omitempty"`
	KeepAlive  json.RawMessage `json:"keep_alive,omitempty"`
}

type embedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

// Embed implements llm.Embedder with POST /api/embed (one call for every
// input; prompt_eval_count is the usage, estimated at four bytes a token
// when the server reports none). Dimensions is sent as Ollama's
// dimensions, which truncates the vectors.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Inputs) == 0 {
		return nil, llm.Errorf(llm.KindInvalid, providerName, "embeddings need at least one input")
	}
	body, err := json.Marshal(embedRequest{Model: req.Model, Input: req.Inputs, Dimensions: req.Dimensions, KeepAlive: c.keepAlive})
	if err != nil {
		return nil, llm.Errorf(llm.KindInvalid, providerName, "encode embeddings request: %v", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath("api", "embed").String(), bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Provider: providerName,
			Message: "cannot build the request to Ollama: check OLLAMA_HOST", Err: fmt.Errorf("build request: %w", err)}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, req.Model, time.Now())
	}
	raw, tooLarge, err := upstream.ReadAnswer(resp.Body, upstream.MaxBody)
	if err != nil {
		if ce := contextError(ctx, err); ce != nil {
			return nil, ce
		}
		return nil, upstreamError("embeddings answer cut: %v", err)
	}
	if tooLarge {
		return nil, upstreamError("embeddings answer larger than %d bytes", upstream.MaxBody)
	}
	var out embedResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, upstreamError("embeddings answer is not valid JSON")
	}
	if p := upstream.EmbedProblem(out.Embeddings, len(req.Inputs)); p != "" {
		return nil, upstreamError("%s", p)
	}
	r := &llm.EmbedResponse{Vectors: out.Embeddings, Model: req.Model, Provider: providerName}
	r.Usage.InputTokens = out.PromptEvalCount
	if r.Usage.InputTokens == 0 {
		r.Usage.InputTokens = llm.EstimateEmbedTokens(req.Inputs)
	}
	return r, nil
}
