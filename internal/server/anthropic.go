package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// The Anthropic Messages surface: POST /v1/messages and
// POST /v1/messages/count_tokens in Anthropic's shapes (wire.md §5), so
// that anthropic SDKs and Claude Code (ANTHROPIC_BASE_URL) work
// unchanged against any backend. The decoder below turns a Messages
// body into an llm.Request; every field is honoured or refused with a
// 400 naming it. Unknown fields are ignored (clients add beta fields
// faster than any gateway), but the known ones that would change the
// answer and cannot be carried (top_k, server tools, MCP servers,
// containers) are refused.

type anRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	System        json.RawMessage `json:"system"`
	Messages      []anMessage     `json:"messages"`
	StopSequences []string        `json:"stop_sequences"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *float64        `json:"top_k"`
	Metadata      *struct {
		UserID string `json:"user_id"`
	} `json:"metadata"`
	Tools      []anTool        `json:"tools"`
	ToolChoice *anToolChoice   `json:"tool_choice"`
	Thinking   *anThinking     `json:"thinking"`
	Stream     bool            `json:"stream"`
	MCPServers json.RawMessage `json:"mcp_servers"`
	Container  json.RawMessage `json:"container"`
	// Provider pins the provider, as on /chat and /v1 (an extension).
	Provider string `json:"provider"`
}

type anMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// anBlock is any content block; only the fields of its type are set.
// cache_control is accepted on every block and has no effect here (the
// backend's own prompt caching, when it has one, is its business).
type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Source    *anSource       `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
}

type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type anTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
}

type anThinking struct {
	Type         string `json:"type"`
	BudgetTokens *int   `json:"budget_tokens"`
}

// Bounds of a Messages request beyond the body size. Anthropic's own
// limits where it has them (100 images, 5 MB each, 128-character tool
// names, 256-character user ids), generous ones elsewhere.
const (
	anMaxMessages     = 4096
	anMaxBlocks       = 1024 // per message
	anMaxTools        = 512
	anMaxStops        = 16
	anMaxStopLen      = 256
	anMaxImages       = 100
	anMaxImageBytes   = 5 << 20
	anMaxToolName     = 128
	anMaxUserID       = 256
	anMinThinking     = 1024
	anMaxIDLen        = 256
	anMaxSystemBlocks = 256
)

// anFail is an Anthropic error answer: a status and the error object.
type anFail struct {
	status int
	typ    string
	msg    string
}

func (f *anFail) Error() string { return f.msg }

func anInvalid(format string, args ...any) *anFail {
	return &anFail{status: http.StatusBadRequest, typ: "invalid_request_error", msg: fmt.Sprintf(format, args...)}
}

// DecodeAnthropic parses and validates a Messages body into an
// llm.Request. count is the count_tokens variant: max_tokens is not
// required and thinking's budget is not checked against it (stream is the
// handler's business and ignored there). It is FuzzDecodeAnthropic's
// target.
func DecodeAnthropic(body []byte, count bool) (*anRequest, *llm.Request, *anFail) {
	var r anRequest
	if e := unmarshalObject(body, &r); e != nil {
		return nil, nil, e.an()
	}
	if f := r.check(count); f != nil {
		return nil, nil, f
	}
	req, f := r.toLLM(count)
	if f != nil {
		return nil, nil, f
	}
	return &r, req, nil
}

// check refuses what is missing, out of range, or not carried.
func (r *anRequest) check(count bool) *anFail {
	switch {
	case r.Model == "":
		return anInvalid("model: Field required")
	case checkModelName("model", r.Model, maxModelName) != "":
		return anInvalid("%s", checkModelName("model", r.Model, maxModelName))
	case checkModelName("provider", r.Provider, maxProviderName) != "":
		return anInvalid("%s", checkModelName("provider", r.Provider, maxProviderName))
	case !count && r.MaxTokens == nil:
		return anInvalid("max_tokens: Field required")
	case r.MaxTokens != nil && (*r.MaxTokens < 1 || *r.MaxTokens > maxTokensLimit):
		return anInvalid("max_tokens: must be between 1 and %d, got %d", maxTokensLimit, *r.MaxTokens)
	case len(r.Messages) == 0:
		return anInvalid("messages: at least one message is required")
	case len(r.Messages) > anMaxMessages:
		return anInvalid("messages: at most %d messages are accepted, got %d", anMaxMessages, len(r.Messages))
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 1):
		return anInvalid("temperature: Input should be between 0 and 1")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return anInvalid("top_p: Input should be between 0 and 1")
	case r.TopK != nil:
		return anInvalid("top_k: not supported by this gateway (its backends do not all take it); leave it out")
	case anPresent(r.MCPServers):
		return anInvalid("mcp_servers: MCP servers are not supported by this gateway")
	case anPresent(r.Container):
		return anInvalid("container: containers are not supported by this gateway")
	case len(r.StopSequences) > anMaxStops:
		return anInvalid("stop_sequences: at most %d are accepted", anMaxStops)
	case len(r.Tools) > anMaxTools:
		return anInvalid("tools: at most %d tools are accepted", anMaxTools)
	}
	for i, s := range r.StopSequences {
		if s == "" || len(s) > anMaxStopLen {
			return anInvalid("stop_sequences.%d: must be 1 to %d bytes", i, anMaxStopLen)
		}
	}
	if r.Metadata != nil && len(r.Metadata.UserID) > anMaxUserID {
		return anInvalid("metadata.user_id: String should have at most %d characters", anMaxUserID)
	}
	return nil
}

func anPresent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

func (r *anRequest) toLLM(count bool) (*llm.Request, *anFail) {
	req := &llm.Request{Model: r.Model, Temperature: r.Temperature, TopP: r.TopP, Stop: r.StopSequences}
	if r.MaxTokens != nil {
		req.MaxTokens = *r.MaxTokens
	}
	if r.Metadata != nil {
		req.User = sanitize(r.Metadata.UserID, anMaxUserID)
	}
	if f := r.thinking(req, count); f != nil {
		return nil, f
	}
	system, f := systemText(r.System)
	if f != nil {
		return nil, f
	}
	req.System = system
	if f := r.convertTools(req); f != nil {
		return nil, f
	}
	if f := r.convertMessages(req); f != nil {
		return nil, f
	}
	return req, nil
}

// thinking maps {"type":"enabled","budget_tokens":N} to ThinkingBudget
// N. Anthropic counts thinking inside max_tokens while llm.Request's
// MaxTokens is the answer's own budget (providers add the thinking budget
// on top), so MaxTokens becomes max_tokens − N. "disabled" is budget 0;
// "adaptive" lets the model decide (-1).
func (r *anRequest) thinking(req *llm.Request, count bool) *anFail {
	t := r.Thinking
	if t == nil {
		return nil
	}
	var b int
	switch t.Type {
	case "enabled":
		if t.BudgetTokens == nil {
			return anInvalid("thinking.enabled.budget_tokens: Field required")
		}
		b = *t.BudgetTokens
		if b < anMinThinking {
			return anInvalid("thinking.enabled.budget_tokens: Input should be greater than or equal to %d", anMinThinking)
		}
		if !count && b >= req.MaxTokens {
			return anInvalid("`max_tokens` must be greater than `thinking.budget_tokens`")
		}
		if !count {
			req.MaxTokens -= b
		}
	case "disabled":
		b = 0
	case "adaptive":
		b = -1
	default:
		return anInvalid("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
	}
	req.ThinkingBudget = &b
	return nil
}

// systemText accepts a string or an array of text blocks (with or
// without cache_control); the blocks are joined by blank lines.
func systemText(raw json.RawMessage) (string, *anFail) {
	if !anPresent(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var blocks []anBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", anInvalid("system: Input should be a valid string or a list of text blocks")
	}
	if len(blocks) > anMaxSystemBlocks {
		return "", anInvalid("system: at most %d blocks are accepted", anMaxSystemBlocks)
	}
	parts := make([]string, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "text" {
			return "", anInvalid("system.%d.type: only text blocks are accepted in system, got %q", i, truncate(b.Type, 40))
		}
		parts = append(parts, b.Text)
	}
	return strings.Join(parts, "\n\n"), nil
}

func (r *anRequest) convertTools(req *llm.Request) *anFail {
	declared := map[string]bool{}
	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "custom" {
			return anInvalid("tools.%d.type: the tool type %q (a server or client tool) is not supported by this gateway; declare custom tools with name and input_schema", i, truncate(t.Type, 60))
		}
		if !validAnToolName(t.Name) {
			return anInvalid("tools.%d.name: String should match pattern '^[a-zA-Z0-9_-]{1,%d}$'", i, anMaxToolName)
		}
		if declared[t.Name] {
			return anInvalid("tools: tool names must be unique, %q is declared twice", t.Name)
		}
		s := bytes.TrimSpace(t.InputSchema)
		if len(s) == 0 || s[0] != '{' || !json.Valid(s) {
			return anInvalid("tools.%d.input_schema: Input should be a JSON Schema object", i)
		}
		declared[t.Name] = true
		req.Tools = append(req.Tools, llm.Tool{Name: t.Name, Description: t.Description, Parameters: json.RawMessage(s)})
	}
	tc := r.ToolChoice
	if tc == nil {
		return nil
	}
	if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse {
		return anInvalid("tool_choice.disable_parallel_tool_use: not supported by this gateway")
	}
	switch tc.Type {
	case "auto", "none":
		req.ToolChoice = tc.Type
	case "any":
		req.ToolChoice = "required"
	case "tool":
		if !declared[tc.Name] {
			return anInvalid("tool_choice.tool.name: %q is not one of the declared tools", truncate(tc.Name, 80))
		}
		req.ToolChoice = tc.Name
	default:
		return anInvalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if len(req.Tools) == 0 && req.ToolChoice != "none" {
		return anInvalid("tool_choice: tools must be declared to use tool_choice %q", tc.Type)
	}
	return nil
}

func validAnToolName(s string) bool {
	if len(s) == 0 || len(s) > anMaxToolName {
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

// msgDecoder carries what spans turns: tool names by call id (Gemini
// answers calls by name) and the image count.
type msgDecoder struct {
	names  map[string]string
	images int
}

func (r *anRequest) convertMessages(req *llm.Request) *anFail {
	d := &msgDecoder{names: map[string]string{}}
	for i, m := range r.Messages {
		blocks, f := messageBlocks(m.Content, i)
		if f != nil {
			return f
		}
		var msgs []llm.Message
		switch m.Role {
		case "user":
			msgs, f = d.user(blocks, i)
		case "assistant":
			msgs, f = d.assistant(blocks, i)
		default:
			return anInvalid("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if f != nil {
			return f
		}
		req.Messages = append(req.Messages, msgs...)
	}
	return nil
}

// messageBlocks reads a string or a block array.
func messageBlocks(raw json.RawMessage, i int) ([]anBlock, *anFail) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, anInvalid("messages.%d.content: text content blocks must be non-empty", i)
		}
		return []anBlock{{Type: "text", Text: s}}, nil
	}
	var blocks []anBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, anInvalid("messages.%d.content: Input should be a valid string or list of content blocks", i)
	}
	if len(blocks) == 0 {
		return nil, anInvalid("messages.%d.content: messages must have non-empty content", i)
	}
	if len(blocks) > anMaxBlocks {
		return nil, anInvalid("messages.%d.content: at most %d blocks are accepted", i, anMaxBlocks)
	}
	return blocks, nil
}

// user converts a user turn: its tool results first (one tool message
// each, as the API requires them first), then one user message with the
// text and images, when there are any.
func (d *msgDecoder) user(blocks []anBlock, i int) ([]llm.Message, *anFail) {
	var out []llm.Message
	var text []string
	var images []llm.Image
	for j, b := range blocks {
		at := fmt.Sprintf("messages.%d.content.%d", i, j)
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "image":
			img, f := d.image(b.Source, at)
			if f != nil {
				return nil, f
			}
			images = append(images, img)
		case "tool_result":
			m, f := d.toolResult(&b, at)
			if f != nil {
				return nil, f
			}
			out = append(out, m)
		default:
			return nil, anInvalid("%s.type: the block type %q is not supported in a user turn by this gateway (text, image and tool_result are)", at, truncate(b.Type, 40))
		}
	}
	if len(text) > 0 || len(images) > 0 {
		out = append(out, llm.Message{Role: llm.RoleUser, Content: strings.Join(text, "\n\n"), Images: images})
	}
	return out, nil
}

// image takes a base64 source as bytes and a URL source as a URL, which
// the gateway's image policy fetches or the backend takes as is.
func (d *msgDecoder) image(src *anSource, at string) (llm.Image, *anFail) {
	if d.images++; d.images > anMaxImages {
		return llm.Image{}, anInvalid("%s: at most %d images are accepted in one request", at, anMaxImages)
	}
	if src == nil {
		return llm.Image{}, anInvalid("%s.source: Field required", at)
	}
	switch src.Type {
	case "base64":
		switch src.MediaType {
		case "image/jpeg", "image/png", "image/gif", "image/webp":
		default:
			return llm.Image{}, anInvalid("%s.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'", at)
		}
		if base64.StdEncoding.DecodedLen(len(src.Data)) > anMaxImageBytes+2 {
			return llm.Image{}, anInvalid("%s.source: image exceeds %d bytes", at, anMaxImageBytes)
		}
		data, err := base64.StdEncoding.DecodeString(src.Data)
		if err != nil || len(data) == 0 {
			return llm.Image{}, anInvalid("%s.source.data: not valid base64 image data", at)
		}
		if len(data) > anMaxImageBytes {
			return llm.Image{}, anInvalid("%s.source: image exceeds %d bytes", at, anMaxImageBytes)
		}
		return llm.Image{MIMEType: src.MediaType, Data: data}, nil
	case "url":
		if len(src.URL) > 2048 || !(strings.HasPrefix(src.URL, "https://") || strings.HasPrefix(src.URL, "http://")) {
			return llm.Image{}, anInvalid("%s.source.url: must be an http(s) URL of at most 2048 bytes", at)
		}
		return llm.Image{URL: src.URL}, nil
	}
	return llm.Image{}, anInvalid("%s.source.type: Input should be 'base64' or 'url'", at)
}

// toolResult is one tool message. A result marked is_error says so in
// its text, since llm.Message has no error flag and the model must know.
func (d *msgDecoder) toolResult(b *anBlock, at string) (llm.Message, *anFail) {
	if b.ToolUseID == "" || len(b.ToolUseID) > anMaxIDLen {
		return llm.Message{}, anInvalid("%s.tool_use_id: Field required (at most %d bytes)", at, anMaxIDLen)
	}
	text, f := resultText(b.Content, at)
	if f != nil {
		return llm.Message{}, f
	}
	if b.IsError {
		text = "Error: " + text
	}
	return llm.Message{Role: llm.RoleTool, Content: text, ToolCallID: b.ToolUseID, Name: d.names[b.ToolUseID]}, nil
}

// resultText accepts a tool result's content: a string, or text blocks.
func resultText(raw json.RawMessage, at string) (string, *anFail) {
	if !anPresent(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var blocks []anBlock
	if json.Unmarshal(raw, &blocks) != nil || len(blocks) > anMaxBlocks {
		return "", anInvalid("%s.content: Input should be a string or a list of text blocks", at)
	}
	parts := make([]string, 0, len(blocks))
	for _, b := range blocks {
		if b.Type != "text" {
			return "", anInvalid("%s.content: only text is supported inside a tool_result by this gateway, got %q", at, truncate(b.Type, 40))
		}
		parts = append(parts, b.Text)
	}
	return strings.Join(parts, "\n\n"), nil
}

// assistant converts an assistant turn: text, tool_use calls and the
// thinking shown with them (kept for backends that want it back).
// redacted_thinking is opaque to every backend but the one that made it
// and is dropped.
func (d *msgDecoder) assistant(blocks []anBlock, i int) ([]llm.Message, *anFail) {
	m := llm.Message{Role: llm.RoleAssistant}
	var text []string
	for j, b := range blocks {
		at := fmt.Sprintf("messages.%d.content.%d", i, j)
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "tool_use":
			tc, f := d.toolUse(&b, at)
			if f != nil {
				return nil, f
			}
			m.ToolCalls = append(m.ToolCalls, tc)
		case "thinking":
			m.Thinking += b.Thinking
			m.ThinkingSignature = b.Signature
		case "redacted_thinking":
		default:
			return nil, anInvalid("%s.type: the block type %q is not supported in an assistant turn by this gateway (text, tool_use and thinking are)", at, truncate(b.Type, 40))
		}
	}
	m.Content = strings.Join(text, "")
	if m.Content == "" && len(m.ToolCalls) == 0 && m.Thinking == "" {
		return nil, nil // nothing a backend could be sent
	}
	return []llm.Message{m}, nil
}

func (d *msgDecoder) toolUse(b *anBlock, at string) (llm.ToolCall, *anFail) {
	switch {
	case b.ID == "" || len(b.ID) > anMaxIDLen:
		return llm.ToolCall{}, anInvalid("%s.id: Field required (at most %d bytes)", at, anMaxIDLen)
	case !validAnToolName(b.Name):
		return llm.ToolCall{}, anInvalid("%s.name: String should match pattern '^[a-zA-Z0-9_-]{1,%d}$'", at, anMaxToolName)
	}
	args := bytes.TrimSpace(b.Input)
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	var buf bytes.Buffer
	if args[0] != '{' || json.Compact(&buf, args) != nil {
		return llm.ToolCall{}, anInvalid("%s.input: Input should be a valid dictionary", at)
	}
	d.names[b.ID] = b.Name
	return llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: buf.String()}, nil
}
