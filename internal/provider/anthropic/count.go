package anthropic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

var _ llm.TokenCounter = (*Client)(nil)

// countRequest is the body of POST /v1/messages/count_tokens: a Messages
// request without max_tokens, stream, sampling or metadata.
type countRequest struct {
	Model      string      `json:"model"`
	System     string      `json:"system,omitempty"`
	Messages   []message   `json:"messages"`
	Tools      []tool      `json:"tools,omitempty"`
	ToolChoice *toolChoice `json:"tool_choice,omitempty"`
	Thinking   *thinking   `json:"thinking,omitempty"`
}

// CountTokens counts req's input with the API's own counter.
func (c *Client) CountTokens(ctx context.Context, req *llm.Request) (llm.TokenCount, error) {
	full, err := encodeRequest(req, c.version)
	if err != nil {
		return llm.TokenCount{}, &llm.Error{Kind: llm.KindInvalid, Provider: providerName, Message: err.Error(), Err: err}
	}
	var w messagesRequest
	if err := json.Unmarshal(full, &w); err != nil {
		return llm.TokenCount{}, &llm.Error{Kind: llm.KindInternal, Provider: providerName, Message: "request cannot be encoded", Err: err}
	}
	body, err := json.Marshal(countRequest{Model: w.Model, System: w.System, Messages: w.Messages, Tools: w.Tools,
		ToolChoice: w.ToolChoice, Thinking: w.Thinking})
	if err != nil {
		return llm.TokenCount{}, &llm.Error{Kind: llm.KindInternal, Provider: providerName, Message: "request cannot be encoded", Err: err}
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/messages/count_tokens", body, "application/json")
	if err != nil {
		return llm.TokenCount{}, err
	}
	defer resp.Body.Close()
	raw, tooLarge, err := upstream.ReadAnswer(resp.Body, upstream.MaxErrorBody)
	if err != nil {
		return llm.TokenCount{}, upstream.TransportError(ctx, providerName, upstream.OpRead, err)
	}
	var out struct {
		InputTokens *int `json:"input_tokens"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.InputTokens == nil || tooLarge {
		return llm.TokenCount{}, upstream.BadAnswer(providerName, "malformed count_tokens answer", fmt.Errorf("decode: %v", err))
	}
	return llm.TokenCount{InputTokens: *out.InputTokens}, nil
}
