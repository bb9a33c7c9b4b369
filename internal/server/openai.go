package server

import "net/http"

// completions and models are the OpenAI-compatible surface; see
// openai_*.go.
func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	var list []ModelInfo
	if s.Models != nil {
		list = s.Models()
	}
	data := make([]map[string]any, 0, len(list))
	for _, m := range list {
		data = append(data, map[string]any{"id": m.ID, "object": "model", "created": 0, "owned_by": m.OwnedBy})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]any{"error": map[string]any{
		"message": "not implemented yet", "type": "server_error", "param": nil, "code": nil}})
}
