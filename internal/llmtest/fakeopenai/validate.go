package fakeopenai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// chatRequest is what the fake reads of a request body.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []message       `json:"messages"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	ResponseFormat      *responseFormat `json:"response_format"`
	Tools               []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type message struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		ID string `json:"id"`
	} `json:"tool_calls"`
	ToolCallID string `json:"tool_call_id"`
}

var (
	toolName       = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	reasoningModel = regexp.MustCompile(`^(o[1-9]|gpt-5)`)
)

func invalid(param, format string, args ...any) *APIError {
	return &APIError{Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

// validate checks a chat request as the real API does, for the rules the
// fake knows. n > 1 repeats the scripted answer for every choice.
func validate(body []byte) (*chatRequest, *APIError) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, invalid("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)")
	}
	switch {
	case req.Model == "":
		return nil, invalid("model", "you must provide a model parameter")
	case len(req.Messages) == 0:
		return nil, invalid("messages", "[] is too short - 'messages'")
	case req.N != nil && (*req.N < 1 || *req.N > 128):
		return nil, invalid("n", "Invalid 'n': integer out of range. Expected a value between 1 and 128, but got %d instead.", *req.N)
	case req.StreamOptions != nil && !req.Stream:
		return nil, invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2):
		return nil, invalid("temperature", "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got %v instead.", *req.Temperature)
	case req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1):
		return nil, invalid("top_p", "Invalid 'top_p': expected a value between 0 and 1, but got %v instead.", *req.TopP)
	case req.MaxTokens != nil && reasoningModel.MatchString(req.Model):
		e := invalid("max_tokens", "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.")
		e.Code = "unsupported_parameter"
		return nil, e
	}
	if e := validateStop(req.Stop); e != nil {
		return nil, e
	}
	for i, t := range req.Tools {
		if t.Type != "function" || !toolName.MatchString(t.Function.Name) {
			return nil, invalid(fmt.Sprintf("tools[%d].function.name", i), "Invalid 'tools[%d].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", i)
		}
	}
	if e := validateMessages(req.Messages); e != nil {
		return nil, e
	}
	if e := validateStructured(&req); e != nil {
		return nil, e
	}
	if req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object" && !mentionsJSON(req.Messages) {
		return nil, invalid("messages", "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.")
	}
	return &req, nil
}

func validateStop(raw json.RawMessage) *APIError {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil || len(many) > 4 {
		return invalid("stop", "Invalid 'stop': expected a string or an array of at most 4 strings.")
	}
	return nil
}

// validateMessages checks roles and that tool messages answer the tool
// calls of the assistant message right before them, and all of them.
func validateMessages(msgs []message) *APIError {
	var pending map[string]bool
	for i, m := range msgs {
		param := fmt.Sprintf("messages.[%d].role", i)
		if m.Role != "tool" && len(pending) > 0 {
			return invalid(param, "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: %s", keys(pending))
		}
		switch m.Role {
		case "system", "developer", "user":
			if len(m.Content) == 0 || string(m.Content) == "null" {
				return invalid(fmt.Sprintf("messages.[%d].content", i), "Invalid value for 'content': expected a string, got null.")
			}
		case "assistant":
			if len(m.ToolCalls) > 0 {
				pending = map[string]bool{}
				for _, tc := range m.ToolCalls {
					pending[tc.ID] = true
				}
			}
		case "tool":
			if !pending[m.ToolCallID] {
				return invalid(param, "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.")
			}
			delete(pending, m.ToolCallID)
		default:
			return invalid(param, "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'tool', 'function', and 'developer'.", m.Role)
		}
	}
	if len(pending) > 0 {
		return invalid(fmt.Sprintf("messages.[%d].role", len(msgs)), "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: %s", keys(pending))
	}
	return nil
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}

func mentionsJSON(msgs []message) bool {
	for _, m := range msgs {
		if bytes.Contains(bytes.ToLower(m.Content), []byte("json")) {
			return true
		}
	}
	return false
}

func setCommonHeaders(h http.Header) {
	h.Set("Openai-Version", "2020-10-01")
	h.Set("Openai-Processing-Ms", "7")
	h.Set("X-Request-Id", "req_fake")
	h.Set("X-Ratelimit-Limit-Requests", "10000")
	h.Set("X-Ratelimit-Remaining-Requests", "9999")
	h.Set("X-Ratelimit-Reset-Requests", "6ms")
}

type errorObj struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func errorBody(e APIError) map[string]*errorObj {
	o := &errorObj{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		o.Param = &e.Param
	}
	if e.Code != "" {
		o.Code = &e.Code
	}
	return map[string]*errorObj{"error": o}
}

func writeError(w http.ResponseWriter, status int, e APIError, extra http.Header) {
	fakeserver.CopyHeader(w.Header(), extra)
	writeJSON(w, status, errorBody(e))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
