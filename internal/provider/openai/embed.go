package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

var _ llm.Embedder = (*Client)(nil)

type embedRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	Dimensions     int      `json:"dimensions,omitempty"`
	EncodingFormat string   `json:"encoding_format"`
	User           string   `json:"user,omitempty"`
}

type embedResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
}

// Embed implements llm.Embedder with POST /embeddings (float vectors,
// put back in input order by their index).
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Inputs) == 0 {
		return nil, llm.Errorf(llm.KindInvalid, c.name, "embeddings need at least one input")
	}
	body, err := json.Marshal(embedRequest{Model: req.Model, Input: req.Inputs, Dimensions: req.Dimensions,
		EncodingFormat: "float", User: req.User})
	if err != nil {
		return nil, llm.Errorf(llm.KindInvalid, c.name, "encode embeddings request: %v", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/embeddings", body, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, tooLarge, err := upstream.ReadAnswer(resp.Body, upstream.MaxBody)
	if err != nil {
		return nil, upstream.TransportError(ctx, c.name, upstream.OpRead, err)
	}
	bad := func(msg string) error {
		return &llm.Error{Kind: llm.KindUpstream, Provider: c.name, StatusCode: http.StatusOK, Message: msg}
	}
	if tooLarge {
		return nil, bad(fmt.Sprintf("embeddings answer larger than %d bytes", upstream.MaxBody))
	}
	var out embedResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, bad("embeddings answer is not valid JSON")
	}
	if len(out.Data) != len(req.Inputs) {
		return nil, bad(fmt.Sprintf("embeddings answer has %d vectors for %d inputs", len(out.Data), len(req.Inputs)))
	}
	r := &llm.EmbedResponse{Vectors: make([][]float32, len(out.Data)), Model: out.Model, Provider: c.name}
	if r.Model == "" {
		r.Model = req.Model
	}
	for _, d := range out.Data {
		if d.Index < 0 || d.Index >= len(r.Vectors) || r.Vectors[d.Index] != nil || len(d.Embedding) == 0 {
			return nil, bad(fmt.Sprintf("embeddings answer has a bad or repeated index %d", d.Index))
		}
		r.Vectors[d.Index] = d.Embedding
	}
	r.Usage.InputTokens = out.Usage.PromptTokens
	return r, nil
}
