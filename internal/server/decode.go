package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

// Field limits of the seed API.
const (
	maxTokensLimit = 65536
	maxTemperature = 2.0
)

// ChatRequest is the body of POST /chat. Unknown fields are ignored, as
// FastAPI does.
type ChatRequest struct {
	Prompt      *string  `json:"prompt"`
	Context     *string  `json:"context"`
	MaxTokens   *int     `json:"max_tokens"`
	Temperature *float64 `json:"temperature"`
	Stream      *bool    `json:"stream"`
	Model       *string  `json:"model"`
	Provider    *string  `json:"provider"`
}

// requestError is a client error: a status and FastAPI's detail.
type requestError struct {
	status int
	detail any
}

func (e *requestError) Error() string { return fmt.Sprint(e.detail) }

// fieldError is one entry of a FastAPI 422 detail list.
type fieldError struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input,omitempty"`
}

func unprocessable(field, typ, msg string, input any) *requestError {
	return &requestError{status: http.StatusUnprocessableEntity,
		detail: []fieldError{{Type: typ, Loc: []any{"body", field}, Msg: msg, Input: input}}}
}

func badRequest(detail string) *requestError {
	return &requestError{status: http.StatusBadRequest, detail: detail}
}

// readBody reads at most limit bytes: 413 past it, 400 when empty, not
// UTF-8, or not JSON.
// example is shown when the body is empty: a request of the endpoint's
// own API.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, example string) ([]byte, *requestError) {
	if r.ContentLength > limit {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge,
			detail: fmt.Sprintf("request body too large: limit is %d bytes", limit)}
	}
	body, err := upstream.ReadSized(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge,
				detail: fmt.Sprintf("request body too large: limit is %d bytes", limit)}
		}
		return nil, badRequest("could not read request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("request body is empty: send a JSON object such as " + example)
	}
	if !utf8.Valid(body) {
		return nil, badRequest("request body is not valid UTF-8")
	}
	if !json.Valid(body) {
		return nil, badRequest("request body is not valid JSON")
	}
	return body, nil
}

// DecodeChat parses and validates a /chat body. It is the fuzz target.
func DecodeChat(body []byte) (*ChatRequest, *requestError) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &requestError{status: http.StatusUnprocessableEntity, detail: []fieldError{{
			Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from"}}}
	}
	var req ChatRequest
	if !fastChatRequest(body, &req) {
		req = ChatRequest{}
		if err := json.Unmarshal(body, &req); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, typeError(te)
			}
			return nil, badRequest("request body is not valid JSON")
		}
	}
	if rerr := req.validate(); rerr != nil {
		return nil, rerr
	}
	return &req, nil
}

func typeError(te *json.UnmarshalTypeError) *requestError {
	field := te.Field
	want := map[string]string{
		"prompt": "string", "context": "string", "model": "string", "provider": "string",
		"max_tokens": "integer", "temperature": "number", "stream": "boolean",
	}[field]
	if want == "" {
		want = te.Type.String()
	}
	return unprocessable(field, want+"_type", "Input should be a valid "+want, nil)
}

func (c *ChatRequest) validate() *requestError {
	if c.Prompt == nil {
		return badRequest("prompt: field required")
	}
	if len(strings.TrimSpace(*c.Prompt)) == 0 {
		return badRequest("prompt: must not be empty")
	}
	if c.MaxTokens != nil && (*c.MaxTokens < 1 || *c.MaxTokens > maxTokensLimit) {
		op, bound := "greater than or equal to", 1
		if *c.MaxTokens > maxTokensLimit {
			op, bound = "less than or equal to", maxTokensLimit
		}
		return unprocessable("max_tokens", map[bool]string{true: "greater_than_equal", false: "less_than_equal"}[bound == 1],
			fmt.Sprintf("Input should be %s %d", op, bound), *c.MaxTokens)
	}
	if t := c.Temperature; t != nil && (*t < 0 || *t > maxTemperature) {
		return badRequest(fmt.Sprintf("temperature: must be between 0.0 and %.1f, got %g", maxTemperature, *t))
	}
	if msg := checkModelName("model", str(c.Model), maxModelName); msg != "" {
		return badRequest("model: " + msg)
	}
	if msg := checkModelName("provider", str(c.Provider), maxProviderName); msg != "" {
		return badRequest("provider: " + msg)
	}
	return nil
}

// Defaults of the seed API.
const (
	defaultMaxTokens   = 500
	defaultTemperature = 0.7
)

func (c *ChatRequest) maxTokens() int {
	if c.MaxTokens == nil {
		return defaultMaxTokens
	}
	return *c.MaxTokens
}

func (c *ChatRequest) temperature() float64 {
	if c.Temperature == nil {
		return defaultTemperature
	}
	return *c.Temperature
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
