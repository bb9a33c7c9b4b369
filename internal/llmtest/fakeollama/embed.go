package fakeollama

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llmtest"
)

// EmbedDims is the length of the fake's vectors (tiny's: 64).
const EmbedDims = 64

// embed answers POST /api/embed as Ollama 0.17.4 does (recorded in
// reference/ollama-recorded/31-embed.txt): input a string or an array
// of strings, an empty array answered with no vectors, dimensions
// truncating, prompt_eval_count the input's tokens; an unknown model is
// a 404 naming it.
func (s *Server) embed(w http.ResponseWriter, body []byte) {
	var req struct {
		Model      string          `json:"model"`
		Input      json.RawMessage `json:"input"`
		Dimensions int             `json:"dimensions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "model is required")
		return
	}
	s.mu.Lock()
	known := s.models[baseName(req.Model)]
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first", req.Model))
		return
	}
	var inputs []string
	if json.Unmarshal(req.Input, &inputs) != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			writeError(w, http.StatusBadRequest, "invalid input type")
			return
		}
		inputs = []string{one}
	}
	n := EmbedDims
	if req.Dimensions > 0 && req.Dimensions < n {
		n = req.Dimensions
	}
	vecs := make([][]float32, len(inputs))
	tokens := 0
	for i, in := range inputs {
		vecs[i] = llmtest.Vector(in, n)
		tokens += 1 + len(strings.Fields(in))
	}
	out := map[string]any{"model": req.Model, "embeddings": vecs}
	if len(inputs) > 0 {
		out["total_duration"], out["load_duration"], out["prompt_eval_count"] = 1000000, 500000, tokens
	}
	writeJSON(w, http.StatusOK, out)
}
