package fakegemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

const (
	msgNoKey = "Method doesn't allow unregistered callers (callers without established identity). " +
		"Please use API Key or other form of API consumer identity to call this API."
	msgBadKey = "API key not valid. Please pass a valid API key."
)

// serve routes /v1beta/... after checking the key, as Google does.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta/")
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()}
	rec.Model, rec.Action, _ = strings.Cut(rest, ":")
	if r.Method == http.MethodPost {
		rec.Raw = fakeserver.ReadBody(r)
	}
	req, decodeErr := decodeRequest(rec.Raw)
	if decodeErr == nil {
		rec.Body = req
	}
	s.requests.Add(rec)
	if st := s.checkKey(r); st != nil {
		writeError(w, st, nil)
		return
	}
	switch {
	case !ok:
		writeError(w, notFound("Requested entity was not found."), nil)
	case r.Method == http.MethodGet:
		s.serveModels(w, rest)
	case r.Method == http.MethodPost && rec.Action == "countTokens":
		s.serveCount(w, rec)
	case r.Method == http.MethodPost && rec.Action != "":
		s.serveGenerate(w, r, rec, decodeErr)
	default:
		writeError(w, notFound("Requested entity was not found."), nil)
	}
}

// checkKey wants the key in x-goog-api-key (or ?key=, which the real API
// also accepts). A missing key is 403, a wrong one 400 API_KEY_INVALID.
func (s *Server) checkKey(r *http.Request) *Status {
	key := r.Header.Get("x-goog-api-key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch key {
	case s.Key:
		return nil
	case "":
		return &Status{Code: 403, Status: "PERMISSION_DENIED", Message: msgNoKey}
	}
	return &Status{Code: 400, Status: "INVALID_ARGUMENT", Message: msgBadKey, Details: []map[string]any{
		{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
			"metadata": map[string]any{"service": "generativelanguage.googleapis.com"}},
		{"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": msgBadKey},
	}}
}

func (s *Server) serveGenerate(w http.ResponseWriter, r *http.Request, rec Recorded, decodeErr error) {
	stream := rec.Action == "streamGenerateContent"
	if !stream && rec.Action != "generateContent" {
		writeError(w, notFound("Requested entity was not found."), nil)
		return
	}
	if !s.known(rec.Model) {
		writeError(w, notFound(fmt.Sprintf("%s is not found for API version v1beta, or is not supported for %s. "+
			"Call ListModels to see the list of available models and their supported methods.", rec.Model, rec.Action)), nil)
		return
	}
	if decodeErr != nil {
		writeError(w, invalid("Invalid JSON payload received. "+decodeErr.Error()), nil)
		return
	}
	if msg := validate(rec.Model, rec.Body); msg != "" {
		writeError(w, invalid(msg), nil)
		return
	}
	x := &exchange{Call: fakeserver.NewCall(w, r, &s.cancels, s.closing.C()), w: w, eol: "\r\n\r\n"}
	if s.LF {
		x.eol = "\n\n"
	}
	rep := s.dequeue()
	if tc := rec.Body.GenerationConfig; tc == nil || tc.ThinkingConfig == nil || !tc.ThinkingConfig.IncludeThoughts {
		rep.Thoughts = nil // thought summaries come only when asked for
	}
	x.play(rep, rec.Model, stream, rec.Query.Get("alt") == "sse")
}

func (s *Server) known(model string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.models[model]
}

// decodeRequest decodes strictly: the real API rejects unknown fields.
func decodeRequest(raw []byte) (*Request, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return nil, err
	}
	return &req, nil
}

// validate returns the message of the 400 the real API would send, or "".
func validate(model string, req *Request) string {
	if len(req.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified\n"
	}
	for i, c := range req.Contents {
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return "Please use a valid role: user, model."
		}
		if len(c.Parts) == 0 {
			return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.\n", i)
		}
		for j, p := range c.Parts {
			if !p.hasData() {
				return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].data: required oneof field 'data' must have one initialized field\n", i, j)
			}
			if p.FunctionResponse != nil && p.FunctionResponse.Name == "" {
				return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].function_response.name: Name cannot be empty.\n", i, j)
			}
		}
	}
	return validateConfig(model, req.GenerationConfig)
}

func validateConfig(model string, g *GenerationConfig) string {
	if g == nil {
		return ""
	}
	if g.MaxOutputTokens < 0 || g.MaxOutputTokens > 65536 {
		return fmt.Sprintf("Unable to submit request because it has a maxOutputTokens value of %d but the supported range is from 1 (inclusive) to 65537 (exclusive). Update the value and try again.", g.MaxOutputTokens)
	}
	if len(g.StopSequences) > 5 {
		return "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed\n"
	}
	if tc := g.ThinkingConfig; tc != nil && tc.ThinkingBudget != nil && *tc.ThinkingBudget == 0 && strings.Contains(model, "-pro") {
		return "Budget 0 is invalid. This model only works in thinking mode."
	}
	return ""
}

// serveModels answers models.list and models.get.
func (s *Server) serveModels(w http.ResponseWriter, rest string) {
	s.mu.Lock()
	var names []string
	for n := range s.models {
		names = append(names, n)
	}
	s.mu.Unlock()
	slices.Sort(names)
	if rest == "models" || rest == "tunedModels" {
		var list []map[string]any
		for _, n := range names {
			if strings.HasPrefix(n, rest+"/") {
				list = append(list, modelInfo(n))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"models": list})
		return
	}
	if !slices.Contains(names, rest) {
		writeError(w, notFound(fmt.Sprintf("%s is not found for API version v1beta.", rest)), nil)
		return
	}
	writeJSON(w, http.StatusOK, modelInfo(rest))
}

func modelInfo(name string) map[string]any {
	id := name[strings.Index(name, "/")+1:]
	return map[string]any{
		"name": name, "baseModelId": id, "version": "001", "displayName": id,
		"inputTokenLimit": 1048576, "outputTokenLimit": 65536,
		"supportedGenerationMethods": []string{"generateContent", "countTokens"},
		"temperature":                1, "maxTemperature": 2, "topP": 0.95, "topK": 64,
		"thinking": strings.HasPrefix(id, "gemini-2.5"),
	}
}

func notFound(msg string) *Status { return &Status{Code: 404, Status: "NOT_FOUND", Message: msg} }
func invalid(msg string) *Status  { return &Status{Code: 400, Status: "INVALID_ARGUMENT", Message: msg} }

// writeError writes a google.rpc.Status body, indented as Google does.
func writeError(w http.ResponseWriter, st *Status, h http.Header) {
	fakeserver.CopyHeader(w.Header(), h)
	writeJSON(w, st.Code, errorBody{Error: st})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Vary", "Origin, X-Origin, Referer")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
