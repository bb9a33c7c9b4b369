package fakeopenai

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llmtest"
)

// embedModels are the embedding models the fake serves, with their
// default vector length and whether they take dimensions.
var embedModels = map[string]struct {
	dim        int
	dimensions bool
}{
	"text-embedding-3-small": {1536, true},
	"text-embedding-3-large": {3072, true},
	"text-embedding-ada-002": {1536, false},
}

const badInput = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."

// embeddings answers POST /v1/embeddings as the real API does for the
// rules the fake knows: a known model, input a non-empty string or an
// array of 1 to 2048 non-empty strings, dimensions only where the model
// takes them, encoding_format float or base64 (the fake sends float).
// A queued error reply is played first.
func (s *Server) embeddings(w http.ResponseWriter, body []byte) {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		Dimensions     *int            `json:"dimensions"`
		EncodingFormat string          `json:"encoding_format"`
		User           string          `json:"user"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, *invalid("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"), nil)
		return
	}
	m, ok := embedModels[req.Model]
	if !ok {
		writeError(w, http.StatusNotFound, APIError{Type: "invalid_request_error", Code: "model_not_found",
			Message: "The model `" + req.Model + "` does not exist or you do not have access to it."}, nil)
		return
	}
	var inputs []string
	if json.Unmarshal(req.Input, &inputs) != nil {
		var one string
		if json.Unmarshal(req.Input, &one) != nil {
			writeError(w, http.StatusBadRequest, *invalid("input", badInput), nil)
			return
		}
		inputs = []string{one}
	}
	if len(inputs) == 0 || len(inputs) > 2048 || slices.Contains(inputs, "") {
		writeError(w, http.StatusBadRequest, *invalid("input", badInput), nil)
		return
	}
	switch {
	case req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64":
		writeError(w, http.StatusBadRequest, *invalid("encoding_format", "Invalid value: '%s'. Supported values are: 'float' and 'base64'.", req.EncodingFormat), nil)
		return
	case req.Dimensions != nil && !m.dimensions:
		writeError(w, http.StatusBadRequest, *invalid("dimensions", "This model does not support specifying dimensions."), nil)
		return
	case req.Dimensions != nil && (*req.Dimensions < 1 || *req.Dimensions > m.dim):
		writeError(w, http.StatusBadRequest, *invalid("dimensions", "Invalid value for 'dimensions' = %d. Must be between 1 and %d.", *req.Dimensions, m.dim), nil)
		return
	}
	if reply, ok := s.queue.Pop(); ok && reply.Status != 0 && reply.Status != http.StatusOK {
		writeError(w, reply.Status, reply.Error, reply.Header)
		return
	}
	n := m.dim
	if req.Dimensions != nil {
		n = *req.Dimensions
	}
	data := make([]map[string]any, len(inputs))
	tokens := 0
	for i, in := range inputs {
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": llmtest.Vector(in, n)}
		tokens += max(1, len(strings.Fields(in)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens}})
}
