package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

var _ llm.TokenCounter = (*Client)(nil)

// countRequest is the body of models.countTokens in the form that counts
// the system instruction and the tools too (wire.md §1.7): the whole
// generateContentRequest, model included.
type countRequest struct {
	GenerateContentRequest *countContent `json:"generateContentRequest"`
}

type countContent struct {
	Model string `json:"model"`
	generateRequest
}

type countResponse struct {
	TotalTokens             int `json:"totalTokens"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
}

// CountTokens counts req's input with POST {model}:countTokens, the
// exact count Gemini bills as promptTokenCount. Generation settings do
// not change the input, so none are sent.
func (c *Client) CountTokens(ctx context.Context, req *llm.Request) (llm.TokenCount, error) {
	w, err := toWire(req, c.think)
	if err != nil {
		return llm.TokenCount{}, err
	}
	path, err := modelPath(req.Model)
	if err != nil {
		return llm.TokenCount{}, err
	}
	w.GenerationConfig = nil
	body, err := json.Marshal(countRequest{GenerateContentRequest: &countContent{Model: path, generateRequest: *w}})
	if err != nil {
		return llm.TokenCount{}, &llm.Error{Kind: llm.KindInvalid, Provider: ProviderName,
			Message: "request cannot be encoded (tool parameters or arguments are not valid JSON)", Err: err}
	}
	hr, err := c.newRequest(ctx, http.MethodPost, "/v1beta/"+path+":countTokens", body)
	if err != nil {
		return llm.TokenCount{}, err
	}
	hr.Header.Set("Accept", "application/json")
	resp, err := c.do(ctx, hr)
	if err != nil {
		return llm.TokenCount{}, err
	}
	defer resp.Body.Close()
	raw, tooLarge, err := upstream.ReadAnswer(resp.Body, upstream.MaxErrorBody)
	if err != nil {
		return llm.TokenCount{}, upstreamError("count answer cut", err)
	}
	var out countResponse
	if err := json.Unmarshal(raw, &out); err != nil || tooLarge {
		return llm.TokenCount{}, upstreamError("malformed countTokens answer", fmt.Errorf("decode: %v", err))
	}
	return llm.TokenCount{InputTokens: out.TotalTokens}, nil
}
