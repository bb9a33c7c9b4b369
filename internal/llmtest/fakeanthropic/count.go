package fakeanthropic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// countTokens answers POST /v1/messages/count_tokens: the body is a
// Messages request without max_tokens (which the API refuses there);
// the answer is {"input_tokens": N} by the fake's tokenizer (Tokens).
func (s *Server) countTokens(w http.ResponseWriter, body []byte, version string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		writeError(w, http.StatusBadRequest, APIError{Type: "invalid_request_error", Message: "There was an error parsing the body of your request: " + err.Error()}, nil)
		return
	}
	for _, f := range []string{"max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k", "metadata"} {
		if _, ok := fields[f]; ok {
			writeError(w, http.StatusBadRequest, APIError{Type: "invalid_request_error", Message: f + ": Extra inputs are not permitted"}, nil)
			return
		}
	}
	fields["max_tokens"] = json.RawMessage("65536") // for the Messages validation below
	full, _ := json.Marshal(fields)
	req, msg := validate(full, version)
	if msg != "" {
		writeError(w, http.StatusBadRequest, APIError{Type: "invalid_request_error", Message: msg}, nil)
		return
	}
	n := Tokens(req)
	s.mu.Lock()
	s.counts = append(s.counts, n)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
}

// Counts returns the counts the fake answered, in order.
func (s *Server) Counts() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.counts...)
}

// Tokens is the fake's tokenizer: one token per word of the system
// text, the messages' raw content and the tool declarations, plus four
// per message. Deterministic and growing with the input; not Claude's.
func Tokens(req *messagesRequest) int {
	words := func(s string) int {
		return len(strings.Fields(s))
	}
	n := words(string(req.System))
	for _, m := range req.Messages {
		n += 4 + words(strings.NewReplacer(`","`, `" "`, `":"`, `" "`).Replace(string(m.Content)))
	}
	for _, t := range req.Tools {
		n += words(fmt.Sprintf("%s %s", t.Name, t.InputSchema))
	}
	return n
}
