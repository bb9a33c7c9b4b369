package fakeanthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

type messagesRequest struct {
	Model       string          `json:"model"`
	MaxTokens   *int            `json:"max_tokens"`
	System      json.RawMessage `json:"system"`
	Messages    []inMessage     `json:"messages"`
	Stream      bool            `json:"stream"`
	Temperature json.RawMessage `json:"temperature"`
	TopP        json.RawMessage `json:"top_p"`
	TopK        json.RawMessage `json:"top_k"`
	Tools       []struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
}

type inMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type inBlock struct {
	Type      string `json:"type"`
	Text      string `json:"text"`
	ID        string `json:"id"`
	ToolUseID string `json:"tool_use_id"`
}

// validate checks a Messages request as the API does, for the rules the
// fake knows; it returns the request or the error message of a 400.
func validate(body []byte, version string) (*messagesRequest, string) {
	var req messagesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, "There was an error parsing the body of your request: " + err.Error()
	}
	switch {
	case req.Model == "":
		return nil, "model: Field required"
	case req.MaxTokens == nil:
		return nil, "max_tokens: Field required"
	case *req.MaxTokens < 1:
		return nil, "max_tokens: Input should be greater than or equal to 1"
	case len(req.Messages) == 0:
		return nil, "messages: at least one message is required"
	}
	if msg := validateSampling(&req, version); msg != "" {
		return nil, msg
	}
	for i, t := range req.Tools {
		if t.Type == "" && len(t.InputSchema) == 0 {
			return nil, fmt.Sprintf("tools.%d.custom.input_schema: Field required", i)
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch {
		case tc.Type != "auto" && tc.Type != "any" && tc.Type != "tool" && tc.Type != "none":
			return nil, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
		case tc.Type == "tool" && tc.Name == "":
			return nil, "tool_choice.tool.name: Field required"
		}
	}
	if msg := validateMessages(req.Messages, version); msg != "" {
		return nil, msg
	}
	if msg := validateThinking(&req); msg != "" {
		return nil, msg
	}
	return &req, ""
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && !bytes.Equal(raw, []byte("null")) }

// validateSampling applies the version split: 2026-10-21 refuses
// temperature, top_p and top_k outright; 2023-06-01 range-checks them.
func validateSampling(req *messagesRequest, version string) string {
	for _, p := range []struct {
		name string
		raw  json.RawMessage
		max  float64
	}{{"temperature", req.Temperature, 1}, {"top_p", req.TopP, 1}, {"top_k", req.TopK, 1e9}} {
		if !present(p.raw) {
			continue
		}
		if version >= "2026-10-21" {
			return p.name + ": Extra inputs are not permitted (sampling parameters are not supported in anthropic-version " + version + ")"
		}
		var v float64
		if json.Unmarshal(p.raw, &v) != nil || v < 0 || v > p.max {
			return fmt.Sprintf("%s: Input should be between 0 and %v", p.name, p.max)
		}
	}
	return ""
}

// validateMessages checks roles, alternation, non-empty text, and that
// tool results answer the tool uses of the turn just before.
func validateMessages(msgs []inMessage, version string) string {
	var pending map[string]bool // tool_use ids of the previous assistant turn
	prev := ""
	for i, m := range msgs {
		switch {
		case m.Role == "system" && version >= "2026-10-21":
		case m.Role != "user" && m.Role != "assistant":
			return fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if m.Role == prev {
			return fmt.Sprintf("messages: roles must alternate between \"user\" and \"assistant\", but found multiple %q roles in a row", m.Role)
		}
		prev = m.Role
		blocks, msg := contentBlocks(m.Content, i)
		if msg != "" {
			return msg
		}
		answered := map[string]bool{}
		seenOther := false
		for j, b := range blocks {
			switch b.Type {
			case "text":
				if b.Text == "" {
					return fmt.Sprintf("messages.%d.content.%d.text: text content blocks must be non-empty", i, j)
				}
				seenOther = true
			case "tool_result":
				if m.Role != "user" || !pending[b.ToolUseID] {
					return fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
				}
				if seenOther {
					return fmt.Sprintf("messages.%d: `tool_result` blocks must come first in the user message content", i)
				}
				answered[b.ToolUseID] = true
			default:
				seenOther = true
			}
		}
		if missing := unanswered(pending, answered); missing != "" {
			return fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i-1, missing)
		}
		pending = nil
		if m.Role == "assistant" {
			for _, b := range blocks {
				if b.Type == "tool_use" {
					if pending == nil {
						pending = map[string]bool{}
					}
					pending[b.ID] = true
				}
			}
		}
	}
	return ""
}

func unanswered(pending, answered map[string]bool) string {
	var out []string
	for id := range pending {
		if !answered[id] {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// contentBlocks reads a string or block-array content.
func contentBlocks(raw json.RawMessage, i int) ([]inBlock, string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, fmt.Sprintf("messages.%d.content: text content blocks must be non-empty", i)
		}
		return []inBlock{{Type: "text", Text: s}}, ""
	}
	var blocks []inBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return nil, fmt.Sprintf("messages.%d.content: Input should be a valid list", i)
	}
	if len(blocks) == 0 {
		return nil, fmt.Sprintf("messages.%d.content: messages must have non-empty content", i)
	}
	return blocks, ""
}

func errorBody(e APIError) map[string]any {
	obj := map[string]any{"type": e.Type, "message": e.Message}
	if e.ErrorCode != "" {
		obj["details"] = map[string]string{"error_code": e.ErrorCode}
	}
	return map[string]any{"type": "error", "error": obj, "request_id": "req_fake"}
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

// validateThinking applies the extended-thinking rules: a budget of at
// least 1024 below max_tokens, and, with thinking on, an assistant turn
// that uses tools must start with its thinking block (signed), as the
// API requires when the tool results go back.
func validateThinking(req *messagesRequest) string {
	t := req.Thinking
	if t == nil || t.Type != "enabled" {
		return ""
	}
	switch {
	case t.BudgetTokens < 1024:
		return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
	case t.BudgetTokens >= *req.MaxTokens:
		return "`max_tokens` must be greater than `thinking.budget_tokens`"
	}
	for i, m := range req.Messages {
		if m.Role != "assistant" {
			continue
		}
		var blocks []struct {
			Type      string `json:"type"`
			Signature string `json:"signature"`
		}
		if json.Unmarshal(m.Content, &blocks) != nil || len(blocks) == 0 {
			continue
		}
		tools := false
		for _, b := range blocks {
			tools = tools || b.Type == "tool_use"
		}
		first := blocks[0]
		if tools && (first.Type != "thinking" && first.Type != "redacted_thinking" || first.Type == "thinking" && first.Signature == "") {
			return fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).", i, first.Type)
		}
	}
	return ""
}
