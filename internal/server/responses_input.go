package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// convertInput maps instructions and input (a string, or message,
// function_call and function_call_output items) to the conversation.
// System and developer messages join instructions as the system text;
// consecutive function_call items become one assistant turn.
func (r *rsRequest) convertInput(req *llm.Request) *oaFail {
	var system []string
	if r.Instructions != nil && *r.Instructions != "" {
		system = append(system, *r.Instructions)
	}
	raw := bytes.TrimSpace(r.Input)
	if len(raw) == 0 || string(raw) == "null" {
		return invalidParam("input", "you must provide an input parameter")
	}
	if raw[0] == '"' {
		var text string
		if json.Unmarshal(raw, &text) != nil {
			return invalidParam("input", "input must be a string or an array of input items")
		}
		req.Messages = []llm.Message{{Role: llm.RoleUser, Content: text}}
		req.System = strings.Join(system, "\n\n")
		return nil
	}
	var items []rsItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return invalidParam("input", "input must be a string or an array of input items")
	}
	if len(items) > maxResponseItems {
		return invalidParam("input", "input holds at most %d items, got %d", maxResponseItems, len(items))
	}
	c := inputConverter{req: req, names: map[string]string{}}
	for i := range items {
		if f := c.item(i, &items[i], &system); f != nil {
			return f
		}
	}
	if len(req.Messages) == 0 {
		return invalidParam("input", "input must contain at least one user message")
	}
	req.System = strings.Join(system, "\n\n")
	return nil
}

type inputConverter struct {
	req   *llm.Request
	names map[string]string // call_id → function name
}

func (c *inputConverter) item(i int, it *rsItem, system *[]string) *oaFail {
	param := fmt.Sprintf("input[%d]", i)
	switch it.Type {
	case "", "message":
		text, f := itemText(it.Content, param+".content")
		if f != nil {
			return f
		}
		switch it.Role {
		case "system", "developer":
			*system = append(*system, text)
		case "user":
			c.req.Messages = append(c.req.Messages, llm.Message{Role: llm.RoleUser, Content: text})
		case "assistant":
			c.req.Messages = append(c.req.Messages, llm.Message{Role: llm.RoleAssistant, Content: text})
		default:
			return invalidParam(param+".role", "unsupported role %q: use user, assistant, system or developer", truncate(it.Role, 32))
		}
	case "function_call":
		if it.CallID == "" || !validToolName(it.Name) || it.Args == nil {
			return invalidParam(param, "a function_call item needs call_id, name and arguments")
		}
		call := llm.ToolCall{ID: it.CallID, Name: it.Name, Arguments: *it.Args}
		c.names[it.CallID] = it.Name
		msgs := c.req.Messages
		if n := len(msgs); n > 0 && msgs[n-1].Role == llm.RoleAssistant {
			msgs[n-1].ToolCalls = append(msgs[n-1].ToolCalls, call)
			return nil
		}
		c.req.Messages = append(msgs, llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call}})
	case "function_call_output":
		if it.CallID == "" {
			return invalidParam(param+".call_id", "a function_call_output item needs call_id")
		}
		out, f := itemText(it.Output, param+".output")
		if f != nil {
			return f
		}
		c.req.Messages = append(c.req.Messages, llm.Message{Role: llm.RoleTool, Content: out, ToolCallID: it.CallID, Name: c.names[it.CallID]})
	case "reasoning":
		// A reasoning item from an earlier answer carries nothing the
		// backends take back; it is dropped.
	default:
		return invalidParam(param+".type", "input item type %q is not supported: use message, function_call or function_call_output", truncate(it.Type, 32))
	}
	return nil
}

// itemText accepts a string or an array of input_text / output_text
// parts (their text joined).
func itemText(raw json.RawMessage, param string) (string, *oaFail) {
	if !nonNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalidParam(param, "content must be a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			b.WriteString(p.Text)
		default:
			return "", invalidParam(param, "content part type %q is not supported: use input_text or output_text", truncate(p.Type, 32))
		}
	}
	return b.String(), nil
}
