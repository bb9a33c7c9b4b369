package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// The OpenAI-compatible surface: POST /v1/chat/completions and
// GET /v1/models, in OpenAI's exact shapes (wire.md §4), so that existing
// SDKs work unchanged. Every request field is either honoured or refused
// with a 400 that names it.

type oaRequest struct {
	Model               string            `json:"model"`
	Messages            []oaMessage       `json:"messages"`
	MaxTokens           *int              `json:"max_tokens"`
	MaxCompletionTokens *int              `json:"max_completion_tokens"`
	Temperature         *float64          `json:"temperature"`
	TopP                *float64          `json:"top_p"`
	N                   *int              `json:"n"`
	Stop                json.RawMessage   `json:"stop"`
	Seed                *int64            `json:"seed"`
	User                string            `json:"user"`
	ResponseFormat      *oaResponseFormat `json:"response_format"`
	Tools               []oaTool          `json:"tools"`
	ToolChoice          json.RawMessage   `json:"tool_choice"`
	Stream              bool              `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	PresencePenalty   *float64        `json:"presence_penalty"`
	FrequencyPenalty  *float64        `json:"frequency_penalty"`
	Logprobs          *bool           `json:"logprobs"`
	TopLogprobs       *int            `json:"top_logprobs"`
	LogitBias         json.RawMessage `json:"logit_bias"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	ReasoningEffort   string          `json:"reasoning_effort"`
	// Provider pins the provider, as on /chat (an extension).
	Provider string `json:"provider"`
}

type oaMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name,omitempty"`
	ToolCalls  []oaToolCall    `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type oaToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// oaError is OpenAI's error body.
type oaError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func invalidParam(param, format string, args ...any) *oaFail {
	return &oaFail{status: http.StatusBadRequest, err: oaError{
		Message: fmt.Sprintf(format, args...), Type: "invalid_request_error", Param: &param}}
}

type oaFail struct {
	status int
	err    oaError
}

func writeOAError(w http.ResponseWriter, f *oaFail) {
	writeJSON(w, f.status, map[string]oaError{"error": f.err})
}

// decodeOA parses and validates a completions body into an llm.Request.
func decodeOA(body []byte) (*oaRequest, *llm.Request, *oaFail) {
	var r oaRequest
	if !fastOARequest(body, &r) {
		r = oaRequest{}
		if e := unmarshalObject(body, &r); e != nil {
			return nil, nil, e.oa()
		}
	}
	if f := r.refuseUnsupported(); f != nil {
		return nil, nil, f
	}
	req, f := r.toLLM()
	if f != nil {
		return nil, nil, f
	}
	return &r, req, nil
}

// jsonType names a Go type by the JSON type it decodes from: the
// client wrote JSON, not Go.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return "a different type"
}

// refuseUnsupported rejects fields that would change the answer and that
// the gateway does not carry to providers.
func (r *oaRequest) refuseUnsupported() *oaFail {
	switch {
	case r.Model == "":
		return invalidParam("model", "you must provide a model parameter")
	case checkModelName("model", r.Model, maxModelName) != "":
		return invalidParam("model", "%s", checkModelName("model", r.Model, maxModelName))
	case len(r.Messages) == 0:
		return invalidParam("messages", "'messages' must contain at least one message")
	case r.N != nil && (*r.N < 1 || *r.N > llm.MaxCandidates):
		return invalidParam("n", "n must be between 1 and %d, got %d", llm.MaxCandidates, *r.N)
	case r.PresencePenalty != nil && *r.PresencePenalty != 0:
		return invalidParam("presence_penalty", "presence_penalty is not supported by this gateway")
	case r.FrequencyPenalty != nil && *r.FrequencyPenalty != 0:
		return invalidParam("frequency_penalty", "frequency_penalty is not supported by this gateway")
	case r.Logprobs != nil && *r.Logprobs, r.TopLogprobs != nil:
		return invalidParam("logprobs", "logprobs are not supported by this gateway")
	case len(r.LogitBias) > 0 && string(r.LogitBias) != "null" && string(r.LogitBias) != "{}":
		return invalidParam("logit_bias", "logit_bias is not supported by this gateway")
	case r.ParallelToolCalls != nil && !*r.ParallelToolCalls:
		return invalidParam("parallel_tool_calls", "parallel_tool_calls=false is not supported by this gateway")
	case r.MaxTokens != nil && r.MaxCompletionTokens != nil && *r.MaxTokens != *r.MaxCompletionTokens:
		return invalidParam("max_tokens", "set either max_tokens or max_completion_tokens, not both")
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2):
		return invalidParam("temperature", "temperature must be between 0 and 2")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return invalidParam("top_p", "top_p must be between 0 and 1")
	}
	return nil
}

func (r *oaRequest) toLLM() (*llm.Request, *oaFail) {
	req := &llm.Request{Model: r.Model, Temperature: r.Temperature, TopP: r.TopP, Seed: r.Seed, User: r.User}
	if r.N != nil && *r.N > 1 {
		req.Candidates = *r.N // the adapter refuses it when its backend has no candidates
	}
	req.MaxTokens = defaultOAMaxTokens
	for _, f := range []struct {
		name string
		v    *int
	}{{"max_tokens", r.MaxTokens}, {"max_completion_tokens", r.MaxCompletionTokens}} {
		if f.v == nil {
			continue
		}
		if *f.v < 1 || *f.v > maxTokensLimit {
			return nil, invalidParam(f.name, "%s must be between 1 and %d, got %d", f.name, maxTokensLimit, *f.v)
		}
		req.MaxTokens = *f.v
	}
	if f := r.ResponseFormat.apply(req); f != nil {
		return nil, f
	}
	if f := applyEffort("reasoning_effort", r.ReasoningEffort, req); f != nil {
		return nil, f
	}
	stop, f := parseStop(r.Stop)
	if f != nil {
		return nil, f
	}
	req.Stop = stop
	if f := r.convertTools(req); f != nil {
		return nil, f
	}
	if f := r.convertMessages(req); f != nil {
		return nil, f
	}
	return req, nil
}

// defaultOAMaxTokens applies when neither max_tokens field is sent: a
// bounded answer, since every provider needs some limit.
const defaultOAMaxTokens = 4096

func parseStop(raw json.RawMessage) ([]string, *oaFail) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) > 4 {
		return nil, invalidParam("stop", "stop must be a string or an array of at most 4 strings")
	}
	return many, nil
}

func (r *oaRequest) convertTools(req *llm.Request) *oaFail {
	declared := map[string]bool{}
	for i, t := range r.Tools {
		if f := checkTool(i, &t); f != nil {
			return f
		}
		declared[t.Function.Name] = true
		req.Tools = append(req.Tools, llm.Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	if len(r.ToolChoice) == 0 || string(r.ToolChoice) == "null" {
		return nil
	}
	var mode string
	if json.Unmarshal(r.ToolChoice, &mode) == nil {
		switch mode {
		case "auto", "none", "required":
			req.ToolChoice = mode
			return nil
		}
		return invalidParam("tool_choice", "tool_choice must be none, auto, required or a function")
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(r.ToolChoice, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return invalidParam("tool_choice", "tool_choice must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":...}}")
	}
	if !declared[named.Function.Name] {
		return invalidParam("tool_choice", "tool_choice names the function %q, which is not declared in tools", named.Function.Name)
	}
	req.ToolChoice = named.Function.Name
	return nil
}

// checkTool validates one declared tool: a function with a name of
// ^[a-zA-Z0-9_-]{1,64}$ (what OpenAI enforces) whose parameters, when
// given, are a JSON Schema object describing an object.
func checkTool(i int, t *oaTool) *oaFail {
	param := fmt.Sprintf("tools[%d]", i)
	if t.Type != "function" {
		return invalidParam(param+".type", "each tool must be {\"type\":\"function\",\"function\":{\"name\":...}}")
	}
	if !validToolName(t.Function.Name) {
		return invalidParam(param+".function.name", "a function name must match ^[a-zA-Z0-9_-]{1,64}$, got %q", truncate(t.Function.Name, 80))
	}
	p := bytes.TrimSpace(t.Function.Parameters)
	if len(p) == 0 || string(p) == "null" {
		return nil
	}
	var schema map[string]json.RawMessage
	if p[0] != '{' || json.Unmarshal(p, &schema) != nil {
		return invalidParam(param+".function.parameters", "parameters must be a JSON Schema object, such as {\"type\": \"object\", \"properties\": {...}}")
	}
	if typ, ok := schema["type"]; ok && string(bytes.TrimSpace(typ)) != `"object"` {
		return invalidParam(param+".function.parameters", "parameters must describe the arguments object: its schema needs \"type\": \"object\"")
	}
	return nil
}

func validToolName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (r *oaRequest) convertMessages(req *llm.Request) *oaFail {
	var system []string
	var names map[string]string // tool call ID → function name
	for i, m := range r.Messages {
		param := func() string { return "messages[" + strconv.Itoa(i) + "]" } // for an error only
		text, imgs, f := contentParts(m.Content, i, m.Role == "user")
		if f != nil {
			return f
		}
		switch m.Role {
		case "system", "developer":
			system = append(system, text)
		case "user":
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Content: text, Images: imgs})
		case "assistant":
			msg := llm.Message{Role: llm.RoleAssistant, Content: text}
			for _, tc := range m.ToolCalls {
				msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
				if names == nil {
					names = map[string]string{}
				}
				names[tc.ID] = tc.Function.Name
			}
			req.Messages = append(req.Messages, msg)
		case "tool":
			if m.ToolCallID == "" {
				return invalidParam(param()+".tool_call_id", "a tool message needs tool_call_id")
			}
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleTool, Content: text, ToolCallID: m.ToolCallID, Name: names[m.ToolCallID]})
		default:
			return invalidParam(param()+".role", "unsupported role %q: use system, developer, user, assistant or tool", m.Role)
		}
	}
	if len(req.Messages) == 0 {
		return invalidParam("messages", "messages must contain at least one user message")
	}
	req.System = strings.Join(system, "\n\n")
	return nil
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	list := s.allowedModels(r.Context())
	data := make([]map[string]any, 0, len(list))
	for _, m := range list {
		data = append(data, map[string]any{"id": m.ID, "object": "model", "created": 0, "owned_by": m.OwnedBy})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}
