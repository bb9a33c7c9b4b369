package server

import "github.com/llm-connector/llm-connector/internal/gateway"

// APITypes are the values this package's handlers encode and decode, by
// schema name: the OpenAPI document (internal/openapi) is generated from
// them, so it describes the same types the handlers use.
func APITypes() map[string]any {
	return map[string]any{
		"ChatRequest":           ChatRequest{},
		"ChatResponse":          ChatResponse{},
		"Health":                Health{},
		"Info":                  Info{},
		"ChatCompletionRequest": oaRequest{},
		"ChatCompletion":        completion("", &gateway.Result{}),
		"ModelList": struct {
			Object string `json:"object"`
			Data   []struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Created int64  `json:"created"`
				OwnedBy string `json:"owned_by"`
			} `json:"data"`
		}{},
		"OpenAIError": struct {
			Error oaError `json:"error"`
		}{},
		"DetailError": struct {
			Detail any `json:"detail"`
		}{},
	}
}
