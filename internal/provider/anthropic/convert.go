package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// samplingAllowed reports whether version still accepts temperature and
// top_p: versions before 2026-10-21 (ISO dates compare as strings).
func samplingAllowed(version string) bool { return version < Version2026 }

// minThinkingBudget is the smallest budget_tokens the API accepts.
const minThinkingBudget = 1024

// encodeRequest turns req into the JSON body of a Messages call: streaming,
// or "stream": false when req.Collect.
func encodeRequest(req *llm.Request, version string) ([]byte, error) {
	if req.Model == "" {
		return nil, errors.New("model is required")
	}
	temperature := req.Temperature
	if !samplingAllowed(version) {
		if req.TemperatureIsDefault {
			temperature = nil // the gateway's default, not the caller's choice: leave it out
		}
		switch {
		case temperature != nil:
			return nil, fmt.Errorf("temperature is not supported by anthropic-version %s", version)
		case req.TopP != nil:
			return nil, fmt.Errorf("top_p is not supported by anthropic-version %s", version)
		}
	}
	if req.JSON {
		return nil, errors.New("response_format json_object is not supported by anthropic")
	}
	w := messagesRequest{
		Model:         req.Model,
		MaxTokens:     req.MaxTokens,
		System:        req.System,
		StopSequences: req.Stop,
		Temperature:   temperature,
		TopP:          req.TopP,
		Stream:        !req.Collect,
	}
	if w.MaxTokens <= 0 {
		w.MaxTokens = DefaultMaxTokens
	}
	think := req.ThinkingBudget != nil && *req.ThinkingBudget > 0
	if think {
		// llm's MaxTokens is the answer's budget; Anthropic counts
		// thinking inside max_tokens, so the budget goes on top.
		b := max(*req.ThinkingBudget, minThinkingBudget)
		w.Thinking = &thinking{Type: "enabled", BudgetTokens: b}
		w.MaxTokens += b
	}
	if req.User != "" {
		w.Metadata = &metadata{UserID: req.User}
	}
	msgs, err := encodeMessages(req.Messages, think)
	if err != nil {
		return nil, err
	}
	w.Messages = msgs
	for _, t := range req.Tools {
		schema := t.Parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		w.Tools = append(w.Tools, tool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	if len(w.Tools) > 0 {
		w.ToolChoice = encodeToolChoice(req.ToolChoice)
	}
	return json.Marshal(&w)
}

// encodeMessages converts the turns and merges consecutive turns of the
// same role (tool results travel in user turns), as the API requires
// alternating roles. In a user turn, tool_result blocks come first.
//
// With thinking on, an assistant turn's thinking block goes back first,
// with its signature, as the API requires next to tool use; with it off
// the API does not want it, and a signature another backend made would
// be refused, so it is left out.
func encodeMessages(in []llm.Message, think bool) ([]message, error) {
	out := make([]message, 0, len(in))
	for i := range in {
		role, blocks, err := encodeMessage(&in[i])
		if m := &in[i]; think && m.Role == llm.RoleAssistant && m.Thinking != "" && m.ThinkingSignature != "" {
			blocks = append([]block{{Type: "thinking", Thinking: m.Thinking, Signature: m.ThinkingSignature}}, blocks...)
		}
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			continue
		}
		out = append(out, message{Role: role, Content: blocks})
	}
	for i := range out {
		if out[i].Role == "user" {
			out[i].Content = resultsFirst(out[i].Content)
		}
	}
	return out, nil
}

func encodeMessage(m *llm.Message) (string, []block, error) {
	switch m.Role {
	case llm.RoleUser:
		if m.Content == "" {
			return "", nil, errors.New("empty user message")
		}
		return "user", []block{{Type: "text", Text: m.Content}}, nil
	case llm.RoleAssistant:
		var blocks []block
		if m.Content != "" {
			blocks = append(blocks, block{Type: "text", Text: m.Content})
		}
		for _, tc := range m.ToolCalls {
			input := json.RawMessage(tc.Arguments)
			if len(input) == 0 {
				input = json.RawMessage("{}")
			}
			if !json.Valid(input) {
				return "", nil, fmt.Errorf("tool call %s: arguments are not JSON", tc.ID)
			}
			blocks = append(blocks, block{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: input})
		}
		if len(blocks) == 0 {
			return "", nil, errors.New("empty assistant message")
		}
		return "assistant", blocks, nil
	case llm.RoleTool:
		if m.ToolCallID == "" {
			return "", nil, errors.New("tool message without tool_call_id")
		}
		return "user", []block{{Type: "tool_result", ToolUseID: m.ToolCallID, Content: m.Content}}, nil
	}
	return "", nil, fmt.Errorf("unknown role %q", m.Role)
}

func resultsFirst(blocks []block) []block {
	out := make([]block, 0, len(blocks))
	for _, b := range blocks {
		if b.Type == "tool_result" {
			out = append(out, b)
		}
	}
	for _, b := range blocks {
		if b.Type != "tool_result" {
			out = append(out, b)
		}
	}
	return out
}

// encodeToolChoice maps "", "auto", "none", "required" or a tool name.
func encodeToolChoice(choice string) *toolChoice {
	switch choice {
	case "":
		return nil
	case "auto", "none":
		return &toolChoice{Type: choice}
	case "required":
		return &toolChoice{Type: "any"}
	}
	return &toolChoice{Type: "tool", Name: choice}
}
