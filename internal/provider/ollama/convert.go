package ollama

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// emptyParameters is sent for a tool without a schema: Ollama's template
// code expects an object.
var emptyParameters = json.RawMessage(`{"type":"object","properties":{}}`)

// toWire converts a provider-neutral request into an /api/chat body.
//
// Ollama has no tool_choice: "none" drops the tools, a tool name keeps
// only that tool, "auto" and "required" send them all. User and
// ThinkingBudget have no Ollama equivalent and are ignored (sending
// "think" to a model without thinking is a 400).
func toWire(req *llm.Request, keepAlive json.RawMessage) (*chatRequest, error) {
	if req.Model == "" {
		return nil, llm.Errorf(llm.KindInvalid, providerName, "model is required")
	}
	if err := candidatesErr(req); err != nil {
		return nil, err
	}
	w := &chatRequest{Model: req.Model, Stream: !req.Collect, KeepAlive: keepAlive}
	w.Messages = make([]message, 0, len(req.Messages)+1)
	if req.System != "" {
		w.Messages = append(w.Messages, message{Role: "system", Content: req.System})
	}
	for i, m := range req.Messages {
		wm, err := messageToWire(m)
		if err != nil {
			return nil, llm.Errorf(llm.KindInvalid, providerName, "message %d: %v", i, err)
		}
		w.Messages = append(w.Messages, wm)
	}
	w.Format = formatToWire(req)
	tools, err := toolsToWire(req.Tools, req.ToolChoice)
	if err != nil {
		return nil, err
	}
	w.Tools = tools
	w.Options = optionsToWire(req)
	return w, nil
}

func messageToWire(m llm.Message) (message, error) {
	switch m.Role {
	case llm.RoleUser, llm.RoleAssistant:
	case llm.RoleTool:
		return message{Role: "tool", Content: m.Content, ToolName: m.Name, ToolCallID: m.ToolCallID}, nil
	default:
		return message{}, fmt.Errorf("unsupported role %q", m.Role)
	}
	wm := message{Role: string(m.Role), Content: m.Content}
	for _, img := range m.Images {
		if len(img.Data) == 0 {
			return message{}, fmt.Errorf("an image without inline data")
		}
		wm.Images = append(wm.Images, img.Data)
	}
	for i, tc := range m.ToolCalls {
		args, err := argumentsToWire(tc.Arguments)
		if err != nil {
			return message{}, fmt.Errorf("tool call %q: %w", tc.Name, err)
		}
		wm.ToolCalls = append(wm.ToolCalls, toolCall{
			ID:       tc.ID,
			Function: toolFunction{Index: i, Name: tc.Name, Arguments: args},
		})
	}
	return wm, nil
}

// argumentsToWire turns a JSON-string argument list into the object Ollama
// expects. An empty string means no arguments.
func argumentsToWire(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage(`{}`), nil
	}
	if !json.Valid([]byte(s)) || s[0] != '{' {
		return nil, fmt.Errorf("arguments are not a JSON object")
	}
	return json.RawMessage(s), nil
}

func toolsToWire(tools []llm.Tool, choice string) ([]tool, error) {
	if len(tools) == 0 || choice == "none" {
		return nil, nil
	}
	named := choice != "" && choice != "auto" && choice != "required"
	var out []tool
	for _, t := range tools {
		if named && t.Name != choice {
			continue
		}
		params := json.RawMessage(t.Parameters)
		if len(bytes.TrimSpace(params)) == 0 || string(params) == "null" {
			params = emptyParameters
		} else if !json.Valid(params) {
			return nil, llm.Errorf(llm.KindInvalid, providerName, "tool %q: parameters are not valid JSON", t.Name)
		}
		out = append(out, tool{Type: "function", Function: toolDef{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if named && len(out) == 0 {
		return nil, llm.Errorf(llm.KindInvalid, providerName, "tool_choice names unknown tool %q", choice)
	}
	return out, nil
}

func optionsToWire(req *llm.Request) *options {
	o := &options{Temperature: req.Temperature, TopP: req.TopP, Seed: req.Seed, Stop: req.Stop}
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		o.NumPredict = &n
	}
	if o.NumPredict == nil && o.Temperature == nil && o.TopP == nil && o.Seed == nil && len(o.Stop) == 0 {
		return nil
	}
	return o
}

// keepAliveJSON encodes Config.KeepAlive the way Ollama parses it: a
// number is seconds (negative keeps the model loaded, 0 unloads it), any
// other text is a Go duration ("5m").
func keepAliveJSON(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return json.RawMessage(s), nil
	}
	if _, err := time.ParseDuration(s); err != nil {
		return nil, fmt.Errorf("ollama: keep_alive %q: %w", s, err)
	}
	b, _ := json.Marshal(s)
	return b, nil
}

// fromWireToolCalls converts the calls of one answer line. Ollama sends
// arguments as an object; llm wants a JSON string. Calls without an id get
// call_<n>, n counting the calls of the whole answer.
func fromWireToolCalls(calls []toolCall, seen int) []llm.ToolCall {
	if len(calls) == 0 {
		return nil
	}
	out := make([]llm.ToolCall, 0, len(calls))
	for i, c := range calls {
		id := c.ID
		if id == "" {
			id = "call_" + strconv.Itoa(seen+i)
		}
		out = append(out, llm.ToolCall{ID: id, Name: c.Function.Name, Arguments: argumentsFromWire(c.Function.Arguments)})
	}
	return out
}

func argumentsFromWire(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// finishReason maps done_reason; any tool call in the answer makes it
// "tool_calls" (Ollama itself says "stop").
func finishReason(doneReason string, toolCalls bool) string {
	if toolCalls {
		return llm.FinishToolCalls
	}
	switch doneReason {
	case "", "stop", "load", "unload":
		return llm.FinishStop
	case "length":
		return llm.FinishLength
	}
	return doneReason
}
