package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// encodeRequest turns req into the JSON body of a Chat Completions call:
// streaming with usage, or "stream": false when req.Collect. maxField is
// MaxTokens or MaxCompletionTokens.
func encodeRequest(req *llm.Request, maxField string) ([]byte, error) {
	w, err := wireRequest(req, maxField)
	if err != nil {
		return nil, err
	}
	if b, ok := appendPlainRequest(make([]byte, 0, plainRequestCap(w)), w); ok {
		return b, nil
	}
	return json.Marshal(w)
}

// wireRequest is req as OpenAI's wire struct.
func wireRequest(req *llm.Request, maxField string) (*chatRequest, error) {
	if req.Model == "" {
		return nil, errors.New("model is required")
	}
	w := chatRequest{
		Model:       req.Model,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Stop:        req.Stop,
		Seed:        req.Seed,
		User:        req.User,
		Stream:      !req.Collect,
	}
	if w.Stream {
		w.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if req.MaxTokens > 0 {
		if maxField == MaxTokens {
			w.MaxTokens = req.MaxTokens
		} else {
			w.MaxCompletionTokens = req.MaxTokens
		}
	}
	w.ResponseFormat = encodeResponseFormat(req)
	if req.Candidates > 1 {
		w.N = req.Candidates
	}
	// A thinking level is OpenAI's reasoning_effort (minimal … high); a
	// compatible server that does not know it answers its own error.
	w.ReasoningEffort = strings.ToLower(req.ThinkingLevel)
	w.Messages = make([]chatMessage, 0, len(req.Messages)+1)
	if req.System != "" {
		w.Messages = append(w.Messages, chatMessage{Role: "system", Content: &req.System})
	}
	for i := range req.Messages {
		m, err := encodeMessage(&req.Messages[i])
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		w.Messages = append(w.Messages, m)
	}
	for _, t := range req.Tools {
		w.Tools = append(w.Tools, chatTool{Type: "function", Function: functionDecl{
			Name: t.Name, Description: t.Description, Parameters: t.Parameters,
		}})
	}
	w.ToolChoice = encodeToolChoice(req.ToolChoice)
	return &w, nil
}

func encodeMessage(m *llm.Message) (chatMessage, error) {
	content := m.Content
	switch m.Role {
	case llm.RoleUser:
		if len(m.Images) > 0 {
			parts, err := encodeParts(m)
			return chatMessage{Role: "user", Content: parts}, err
		}
		return chatMessage{Role: "user", Content: &content}, nil
	case llm.RoleAssistant:
		out := chatMessage{Role: "assistant", Content: &content}
		if len(m.ToolCalls) > 0 {
			if content == "" {
				out.Content = (*string)(nil) // OpenAI sends null beside tool_calls
			}
			out.ToolCalls = make([]toolCall, len(m.ToolCalls))
			for i, tc := range m.ToolCalls {
				args := tc.Arguments
				if args == "" {
					args = "{}"
				}
				out.ToolCalls[i] = toolCall{ID: tc.ID, Type: "function", Function: functionCall{Name: tc.Name, Arguments: args}}
			}
		}
		return out, nil
	case llm.RoleTool:
		if m.ToolCallID == "" {
			return chatMessage{}, errors.New("tool message without tool_call_id")
		}
		return chatMessage{Role: "tool", Content: &content, ToolCallID: m.ToolCallID}, nil
	}
	return chatMessage{}, fmt.Errorf("unknown role %q", m.Role)
}

// encodeToolChoice maps "", "auto", "none", "required" or a tool name.
func encodeToolChoice(choice string) any {
	switch choice {
	case "":
		return nil
	case "auto", "none", "required":
		return choice
	}
	var named namedToolChoice
	named.Type = "function"
	named.Function.Name = choice
	return &named
}
