package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

const anExample = `{"model": "default", "max_tokens": 256, "messages": [{"role": "user", "content": "..."}]}`

// anBody reads the body, answering Anthropic's error shape on failure.
func (s *Server) anBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, rerr := readBody(w, r, s.bodyLimit(), anExample)
	if rerr == nil {
		return body, true
	}
	f := anInvalid("%s", rerr.Error())
	if rerr.status == http.StatusRequestEntityTooLarge {
		f.status, f.typ = rerr.status, "request_too_large"
	}
	writeAnFail(w, r, f)
	return nil, false
}

// anInput builds the gateway input of a Messages request. The caller is
// who authentication says; without a key and without the user header,
// metadata.user_id names the caller for the records (never for limits,
// which a caller must not dodge by renaming itself).
func (s *Server) anInput(r *http.Request, endpoint string, ar *anRequest, req *llm.Request) *gateway.Input {
	in := s.input(r, endpoint, req, ar.Stream)
	in.Model, in.Provider = ar.Model, ar.Provider
	if req.User != "" && in.Who.KeyID == "" && r.Header.Get(s.userHeader()) == "" {
		in.Who.User = req.User
	}
	if req.User == "" {
		req.User = in.Who.User
	}
	return in
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	body, ok := s.anBody(w, r)
	if !ok {
		return
	}
	ar, req, f := DecodeAnthropic(body, false)
	if f != nil {
		writeAnFail(w, r, f)
		return
	}
	in := s.anInput(r, "/v1/messages", ar, req)
	id := "msg_" + RequestID(r.Context())
	w.Header().Set("Request-Id", RequestID(r.Context()))
	ev := &anEvents{id: id, model: ar.Model, r: r}
	s.answer(w, r, in, ev, func(res *gateway.Result) any { return anMessageOf(id, ar.Model, res) })
}

// countTokens answers POST /v1/messages/count_tokens: the route's
// primary backend counts when it can (Gemini countTokens, Anthropic
// count_tokens); else the gateway's estimate, marked "estimated": true.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	body, ok := s.anBody(w, r)
	if !ok {
		return
	}
	ar, req, f := DecodeAnthropic(body, true)
	if f != nil {
		writeAnFail(w, r, f)
		return
	}
	ar.Stream = false
	in := s.anInput(r, "/v1/messages/count_tokens", ar, req)
	w.Header().Set("Request-Id", RequestID(r.Context()))
	n, err := s.GW.CountTokens(r.Context(), in)
	if err != nil {
		s.anErrorFor(w, r, s.endErr(err))
		return
	}
	out := struct {
		InputTokens int  `json:"input_tokens"`
		Estimated   bool `json:"estimated,omitempty"`
	}{n.InputTokens, n.Estimated}
	if n.Estimated {
		w.Header().Set("X-Token-Count", "estimated")
	}
	writeJSON(w, http.StatusOK, out)
}

// Anthropic's answer shapes (wire.md §5.2).
type (
	anMessageOut struct {
		ID           string       `json:"id"`
		Type         string       `json:"type"`
		Role         string       `json:"role"`
		Model        string       `json:"model"`
		Content      []anBlockOut `json:"content"`
		StopReason   *string      `json:"stop_reason"`
		StopSequence *string      `json:"stop_sequence"`
		Usage        anUsage      `json:"usage"`
		// Extensions: who answered, and whether from the cache.
		Provider string `json:"provider,omitempty"`
		Cached   bool   `json:"cached,omitempty"`
	}
	anBlockOut struct {
		Type      string          `json:"type"`
		Text      *string         `json:"text,omitempty"`
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name,omitempty"`
		Input     json.RawMessage `json:"input,omitempty"`
		Thinking  *string         `json:"thinking,omitempty"`
		Signature *string         `json:"signature,omitempty"`
	}
	anUsage struct {
		InputTokens              int            `json:"input_tokens"`
		CacheCreationInputTokens int            `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int            `json:"cache_read_input_tokens"`
		CacheCreation            *anCacheDetail `json:"cache_creation,omitempty"`
		OutputTokens             int            `json:"output_tokens"`
	}
	anCacheDetail struct {
		Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
	}
)

// anUsageOf converts usage. Anthropic's input_tokens are the uncached
// ones only; cache reads and writes are reported beside them, whereas
// llm.Usage counts them inside InputTokens.
func anUsageOf(u llm.Usage) anUsage {
	write := u.CacheWriteTokens + u.CacheWrite1hTokens
	out := anUsage{
		InputTokens:              max(u.InputTokens-u.CachedInputTokens-write, 0),
		CacheCreationInputTokens: write,
		CacheReadInputTokens:     u.CachedInputTokens,
		OutputTokens:             u.OutputTokens,
	}
	if write > 0 {
		out.CacheCreation = &anCacheDetail{Ephemeral5m: u.CacheWriteTokens, Ephemeral1h: u.CacheWrite1hTokens}
	}
	return out
}

// anStopReason maps the finish reason to Anthropic's stop_reason.
func anStopReason(r llm.Response) (reason string, seq *string) {
	switch finishReason(r) {
	case llm.FinishLength:
		return "max_tokens", nil
	case llm.FinishToolCalls:
		return "tool_use", nil
	case llm.FinishContentFilter:
		return "refusal", nil
	}
	if r.StopSequence != "" {
		s := r.StopSequence
		return "stop_sequence", &s
	}
	return "end_turn", nil
}

func anMessageOf(id, model string, res *gateway.Result) anMessageOut {
	r := res.Response
	m := anMessageOut{ID: id, Type: "message", Role: "assistant", Model: cmpOr(r.Model, model),
		Content: []anBlockOut{}, Usage: anUsageOf(r.Usage), Provider: r.Provider, Cached: res.Cached}
	if r.Thinking != "" || r.ThinkingSignature != "" {
		th, sig := r.Thinking, r.ThinkingSignature
		m.Content = append(m.Content, anBlockOut{Type: "thinking", Thinking: &th, Signature: &sig})
	}
	if r.Text != "" || len(r.ToolCalls) == 0 {
		text := r.Text
		m.Content = append(m.Content, anBlockOut{Type: "text", Text: &text})
	}
	for i, tc := range r.ToolCalls {
		m.Content = append(m.Content, anToolUse(tc, i))
	}
	reason, seq := anStopReason(r)
	m.StopReason, m.StopSequence = &reason, seq
	return m
}

func anToolUse(tc llm.ToolCall, i int) anBlockOut {
	input := json.RawMessage(strings.TrimSpace(tc.Arguments))
	if len(input) == 0 || !json.Valid(input) {
		input = json.RawMessage("{}")
	}
	return anBlockOut{Type: "tool_use", ID: anToolID(tc.ID, i), Name: tc.Name, Input: input}
}

// anToolID keeps a backend's call id; Anthropic clients expect ids, so
// an empty one gets a stand-in numbered by the call's place.
func anToolID(id string, i int) string {
	if id == "" {
		return "toolu_" + strconv.Itoa(i)
	}
	return id
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
