package fakegemini

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// CountRequest is a models.countTokens body: contents alone, or a whole
// generateContentRequest (which counts the system instruction and tools
// too). The API takes one or the other, never both.
type CountRequest struct {
	Contents               []Content     `json:"contents,omitempty"`
	GenerateContentRequest *CountContent `json:"generateContentRequest,omitempty"`
}

// CountContent is the generateContentRequest of a count: a Request with
// its model ("models/x").
type CountContent struct {
	Model string `json:"model"`
	Request
}

// serveCount answers models.countTokens with the fake's tokenizer
// (Tokens): {"totalTokens": N, "promptTokensDetails": [...]}.
func (s *Server) serveCount(w http.ResponseWriter, rec Recorded) {
	if !s.known(rec.Model) {
		writeError(w, notFound(rec.Model+" is not found for API version v1beta, or is not supported for countTokens."), nil)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Raw))
	dec.DisallowUnknownFields()
	var req CountRequest
	if err := dec.Decode(&req); err != nil {
		writeError(w, invalid("Invalid JSON payload received. "+err.Error()), nil)
		return
	}
	var body *Request
	switch {
	case req.GenerateContentRequest != nil && len(req.Contents) > 0:
		writeError(w, invalid("* CountTokensRequest: contents and generate_content_request must not both be set\n"), nil)
		return
	case req.GenerateContentRequest != nil:
		if m := req.GenerateContentRequest.Model; m != rec.Model {
			writeError(w, invalid("* CountTokensRequest.generate_content_request.model: the model must be "+rec.Model+", got "+m+"\n"), nil)
			return
		}
		body = &req.GenerateContentRequest.Request
	default:
		body = &Request{Contents: req.Contents}
	}
	if msg := validate(rec.Model, body); msg != "" {
		writeError(w, invalid(msg), nil)
		return
	}
	n := Tokens(body)
	s.mu.Lock()
	s.counts = append(s.counts, n)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"totalTokens": n,
		"promptTokensDetails": []map[string]any{{"modality": "TEXT", "tokenCount": n}}})
}

// Counts returns the totals the fake answered to countTokens, in order.
func (s *Server) Counts() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.counts...)
}

// Tokens is the fake's tokenizer: one token per word or punctuation
// run of every text, function call, response and declaration, plus
// three per turn. It is deterministic, grows with the input, and is not
// Gemini's (which no test can know).
func Tokens(req *Request) int {
	n := 0
	words := func(s string) {
		n += len(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' }))
	}
	turn := func(c Content) {
		n += 3
		for _, p := range c.Parts {
			if p.Text != nil {
				words(*p.Text)
			}
			if p.FunctionCall != nil {
				words(p.FunctionCall.Name + " " + string(p.FunctionCall.Args))
			}
			if p.FunctionResponse != nil {
				words(p.FunctionResponse.Name + " " + string(p.FunctionResponse.Response))
			}
		}
	}
	for _, c := range req.Contents {
		turn(c)
	}
	if req.SystemInstruction != nil {
		turn(*req.SystemInstruction)
	}
	for _, t := range req.Tools {
		for _, d := range t.FunctionDeclarations {
			words(d.Name + " " + d.Description + " " + string(d.ParametersJSONSchema) + " " + string(d.Parameters))
		}
	}
	return n
}
