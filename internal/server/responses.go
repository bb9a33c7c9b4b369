package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// POST /v1/responses, OpenAI's Responses API, decoded into the same
// llm.Request as chat completions and answered through the same
// gateway.Chat pipeline. Every field is honoured or refused with a 400
// naming it. Responses are not stored: previous_response_id is refused
// (send the conversation in input), and store is accepted but the
// answer always says store: false.

// maxResponseItems bounds the input items of one request.
const maxResponseItems = 2048

type rsRequest struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       *string         `json:"instructions"`
	Tools              []rsTool        `json:"tools"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"top_p"`
	Text               *rsText         `json:"text"`
	Stream             bool            `json:"stream"`
	PreviousResponseID string          `json:"previous_response_id"`
	Store              *bool           `json:"store"`
	User               string          `json:"user"`
	Metadata           map[string]any  `json:"metadata"`
	ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
	Background         *bool           `json:"background"`
	Truncation         string          `json:"truncation"`
	Include            []string        `json:"include"`
	Reasoning          json.RawMessage `json:"reasoning"`
	Prompt             json.RawMessage `json:"prompt"`
	Conversation       json.RawMessage `json:"conversation"`
	TopLogprobs        *int            `json:"top_logprobs"`
	MaxToolCalls       *int            `json:"max_tool_calls"`
	// Provider pins the provider, as on /chat (an extension).
	Provider string `json:"provider"`
}

type rsTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

type rsText struct {
	Format *rsFormat `json:"format"`
}

type rsFormat struct {
	Type   string          `json:"type"`
	Name   string          `json:"name,omitempty"`
	Schema json.RawMessage `json:"schema,omitempty"`
	Strict *bool           `json:"strict,omitempty"`
}

// rsItem is one input item: a message (type "message" or absent) or a
// function call and its output.
type rsItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	CallID  string          `json:"call_id"`
	Name    string          `json:"name"`
	Args    *string         `json:"arguments"`
	Output  json.RawMessage `json:"output"`
}

// decodeResponses parses and validates a /v1/responses body.
func decodeResponses(body []byte) (*rsRequest, *llm.Request, *oaFail) {
	var r rsRequest
	if e := unmarshalObject(body, &r); e != nil {
		return nil, nil, e.oa()
	}
	if f := r.refuseUnsupported(); f != nil {
		return nil, nil, f
	}
	req := &llm.Request{Model: r.Model, Temperature: r.Temperature, TopP: r.TopP, User: sanitize(r.User, 128),
		MaxTokens: defaultOAMaxTokens}
	if v := r.MaxOutputTokens; v != nil {
		if *v < 1 || *v > maxTokensLimit {
			return nil, nil, invalidParam("max_output_tokens", "max_output_tokens must be between 1 and %d, got %d", maxTokensLimit, *v)
		}
		req.MaxTokens = *v
	}
	if f := applyReasoning(r.Reasoning, req); f != nil {
		return nil, nil, f
	}
	if f := r.convertFormat(req); f != nil {
		return nil, nil, f
	}
	if f := r.convertTools(req); f != nil {
		return nil, nil, f
	}
	if f := r.convertInput(req); f != nil {
		return nil, nil, f
	}
	return &r, req, nil
}

func nonNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

// refuseUnsupported rejects what the gateway cannot honour.
func (r *rsRequest) refuseUnsupported() *oaFail {
	switch {
	case modelFail(r.Model, r.Provider) != nil:
		return modelFail(r.Model, r.Provider)
	case r.PreviousResponseID != "":
		return invalidParam("previous_response_id", "previous_response_id is not supported: this gateway does not store responses; send the whole conversation in input")
	case nonNull(r.Conversation):
		return invalidParam("conversation", "conversation is not supported: this gateway does not store conversations; send the whole conversation in input")
	case nonNull(r.Prompt):
		return invalidParam("prompt", "prompt templates are not supported by this gateway")
	case r.Background != nil && *r.Background:
		return invalidParam("background", "background responses are not supported by this gateway")
	case len(r.Include) > 0:
		return invalidParam("include", "include is not supported by this gateway")
	case r.Truncation != "" && r.Truncation != "disabled":
		return invalidParam("truncation", "truncation %q is not supported: only disabled", truncate(r.Truncation, 32))
	case r.TopLogprobs != nil && *r.TopLogprobs != 0:
		return invalidParam("top_logprobs", "logprobs are not supported by this gateway")
	case r.MaxToolCalls != nil:
		return invalidParam("max_tool_calls", "max_tool_calls is not supported by this gateway")
	case r.ParallelToolCalls != nil && !*r.ParallelToolCalls:
		return invalidParam("parallel_tool_calls", "parallel_tool_calls=false is not supported by this gateway")
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2):
		return invalidParam("temperature", "temperature must be between 0 and 2")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return invalidParam("top_p", "top_p must be between 0 and 1")
	case len(r.Metadata) > 16:
		return invalidParam("metadata", "metadata holds at most 16 pairs")
	}
	return nil
}

// convertFormat maps text.format: text, json_object (JSON) or
// json_schema (Schema).
func (r *rsRequest) convertFormat(req *llm.Request) *oaFail {
	if r.Text == nil || r.Text.Format == nil {
		return nil
	}
	f := r.Text.Format
	switch f.Type {
	case "", "text":
	case "json_object":
		req.JSON = true
	case "json_schema":
		var schema map[string]json.RawMessage
		if t := bytes.TrimSpace(f.Schema); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &schema) != nil {
			return invalidParam("text.format.schema", "text.format.schema must be a JSON Schema object")
		}
		if !validToolName(f.Name) {
			return invalidParam("text.format.name", "text.format.name must match ^[a-zA-Z0-9_-]{1,64}$")
		}
		req.JSON = true
		req.Schema = &llm.Schema{Name: f.Name, Schema: f.Schema, Strict: f.Strict != nil && *f.Strict}
	default:
		return invalidParam("text.format.type", "text.format type %q is not supported: use text, json_object or json_schema", truncate(f.Type, 32))
	}
	return nil
}

// convertTools maps function tools and tool_choice; other tool types
// (web_search, file_search, …) are hosted by OpenAI and refused.
func (r *rsRequest) convertTools(req *llm.Request) *oaFail {
	declared := map[string]bool{}
	for i, t := range r.Tools {
		param := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" {
			return invalidParam(param+".type", "tool type %q is not supported: this gateway serves function tools only", truncate(t.Type, 32))
		}
		var ot oaTool
		ot.Type, ot.Function.Name, ot.Function.Parameters = t.Type, t.Name, t.Parameters
		if f := checkTool(i, &ot); f != nil {
			if f.err.Param != nil {
				p := strings.Replace(*f.err.Param, ".function.", ".", 1)
				f.err.Param = &p
			}
			return f
		}
		declared[t.Name] = true
		req.Tools = append(req.Tools, llm.Tool{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	if !nonNull(r.ToolChoice) {
		return nil
	}
	var mode string
	if json.Unmarshal(r.ToolChoice, &mode) == nil {
		switch mode {
		case "auto", "none", "required":
			req.ToolChoice = mode
			return nil
		}
		return invalidParam("tool_choice", "tool_choice must be none, auto, required or {\"type\":\"function\",\"name\":...}")
	}
	var named struct{ Type, Name string }
	if err := json.Unmarshal(r.ToolChoice, &named); err != nil || named.Type != "function" || named.Name == "" {
		return invalidParam("tool_choice", "tool_choice must be none, auto, required or {\"type\":\"function\",\"name\":...}")
	}
	if !declared[named.Name] {
		return invalidParam("tool_choice", "tool_choice names the function %q, which is not declared in tools", truncate(named.Name, 80))
	}
	req.ToolChoice = named.Name
	return nil
}
