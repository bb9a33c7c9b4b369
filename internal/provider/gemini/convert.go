package gemini

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Thinking budget values. A budget N > 0 caps thought tokens at N.
const (
	// ThinkingOff disables thinking on the models that allow it.
	ThinkingOff = 0
	// ThinkingDynamic lets the model decide how much to think.
	ThinkingDynamic = -1
	// DynamicThinkingHeadroom is added to maxOutputTokens when the budget
	// is dynamic, so that thinking does not starve the answer. Gemini 2.5
	// Flash thinks up to 24,576 tokens, so a very hard prompt may still
	// exhaust it; callers who need a guarantee set an explicit budget.
	DynamicThinkingHeadroom = 8192
	// proThinkingFloor is the smallest budget the Pro models accept;
	// they cannot turn thinking off.
	proThinkingFloor = 128
	// maxOutputCap is the largest maxOutputTokens the 2.5 models accept.
	maxOutputCap = 65536
)

// modelPath returns the resource path of model: bare names get the
// "models/" prefix, "models/x" and "tunedModels/x" are kept. The id is
// path-escaped so that a model name cannot reshape the URL.
func modelPath(model string) (string, error) {
	collection, id := "models", model
	for _, prefix := range []string{"models/", "tunedModels/"} {
		if rest, ok := strings.CutPrefix(model, prefix); ok {
			collection, id = strings.TrimSuffix(prefix, "/"), rest
		}
	}
	if id == "" || strings.ContainsAny(id, "/?#:") || strings.Contains(id, "..") {
		return "", llm.Errorf(llm.KindInvalid, ProviderName, "invalid model name %q", model)
	}
	return collection + "/" + url.PathEscape(id), nil
}

// modelID strips the "models/" prefix, for reporting and model checks.
func modelID(model string) string { return strings.TrimPrefix(model, "models/") }

// thinks reports whether model is a Gemini model that accepts a
// thinkingConfig: 2.5 and later, including the "-latest" aliases; not
// 1.x, 2.0, Gemma or tuned models.
func thinks(model string) bool {
	id := modelID(model)
	if !strings.HasPrefix(id, "gemini-") || id == "gemini-pro" || id == "gemini-pro-vision" {
		return false
	}
	return !strings.HasPrefix(id, "gemini-1.") && !strings.HasPrefix(id, "gemini-2.0") || strings.Contains(id, "thinking")
}

// budgetPlan turns a thinking budget into the thinkingConfig to send and
// the maxOutputTokens that keeps maxTokens for the answer.
//
// Gemini 2.5 counts thought tokens against maxOutputTokens, so sending
// max_tokens unchanged lets thinking eat a small answer budget and end
// in MAX_TOKENS with no text. The plan:
//   - budget 0 (the default): thinking off, maxOutputTokens = maxTokens.
//     Pro models cannot turn thinking off; they get the smallest budget
//     they accept (128), added like any N > 0. Models that do not think
//     (gemini-2.0, tuned models) get no thinkingConfig at all.
//   - budget N > 0: maxOutputTokens = maxTokens + N.
//   - budget -1 (dynamic; any negative value): maxOutputTokens =
//     maxTokens + DynamicThinkingHeadroom.
//
// maxTokens 0 leaves maxOutputTokens unset (the model's maximum); a sum
// is capped at 65,536, the 2.5 models' limit.
func budgetPlan(model string, maxTokens, budget int) (*thinkingConfig, int) {
	if budget < 0 {
		budget = ThinkingDynamic
	}
	if budget == ThinkingOff {
		if !thinks(model) {
			return nil, maxTokens
		}
		if strings.Contains(modelID(model), "-pro") {
			budget = proThinkingFloor
		}
	}
	extra := budget
	if budget == ThinkingDynamic {
		extra = DynamicThinkingHeadroom
	}
	maxOut := 0
	if maxTokens > 0 {
		maxOut = min(maxTokens+extra, maxOutputCap)
	}
	return &thinkingConfig{ThinkingBudget: budget}, maxOut
}

// toWire converts req to the Gemini request body. budget is the
// configured thinking budget; req.ThinkingBudget overrides it.
func toWire(req *llm.Request, budget int) (*generateRequest, error) {
	contents, err := toContents(req.Messages)
	if err != nil {
		return nil, err
	}
	w := &generateRequest{Contents: contents}
	if req.System != "" {
		w.SystemInstruction = &content{Parts: []part{{Text: req.System}}}
	}
	if req.ThinkingBudget != nil {
		budget = *req.ThinkingBudget
	}
	w.GenerationConfig = toGenerationConfig(req, budget)
	w.Tools = toTools(req.Tools)
	w.ToolConfig = toToolConfig(req.ToolChoice)
	return w, nil
}

func toGenerationConfig(req *llm.Request, budget int) *generationConfig {
	g := &generationConfig{
		Temperature:   req.Temperature,
		TopP:          req.TopP,
		StopSequences: req.Stop,
		Seed:          req.Seed,
	}
	g.ThinkingConfig, g.MaxOutputTokens = budgetPlan(req.Model, req.MaxTokens, budget)
	if g.ThinkingConfig != nil && req.ThinkingBudget != nil && *req.ThinkingBudget != ThinkingOff {
		// The caller asked for thinking: show it the thought summaries
		// (llm.Chunk.Thinking). A configured budget alone does not: a
		// client that did not ask has nowhere to show them.
		g.ThinkingConfig.IncludeThoughts = true
	}
	if req.JSON {
		g.ResponseMimeType = "application/json"
	}
	if g.ThinkingConfig == nil && g.MaxOutputTokens == 0 && g.Temperature == nil && g.TopP == nil &&
		len(g.StopSequences) == 0 && g.Seed == nil && g.ResponseMimeType == "" {
		return nil
	}
	return g
}

// toContents maps the conversation to Gemini turns. Assistant turns
// become role "model"; tool results become functionResponse parts of a
// user turn, consecutive results sharing one turn as Gemini expects for
// parallel calls. Empty turns are dropped (Gemini rejects empty parts).
func toContents(msgs []llm.Message) ([]content, error) {
	var out []content
	names := map[string]string{} // tool call id → function name
	for i, m := range msgs {
		var c content
		var err error
		switch m.Role {
		case llm.RoleUser:
			c = textContent("user", m.Content)
		case llm.RoleAssistant:
			c, err = assistantContent(m, names)
		case llm.RoleTool:
			c, err = toolContent(m, names)
		default:
			err = fmt.Errorf("unknown role %q", m.Role)
		}
		if err != nil {
			return nil, llm.Errorf(llm.KindInvalid, ProviderName, "message %d: %v", i, err)
		}
		out = appendContent(out, c)
	}
	if len(out) == 0 {
		return nil, llm.Errorf(llm.KindInvalid, ProviderName, "the request has no message content")
	}
	return out, nil
}

func appendContent(out []content, c content) []content {
	if len(c.Parts) == 0 {
		return out
	}
	if n := len(out); n > 0 && isToolResults(out[n-1]) && isToolResults(c) {
		out[n-1].Parts = append(out[n-1].Parts, c.Parts...)
		return out
	}
	return append(out, c)
}

func isToolResults(c content) bool {
	return c.Role == "user" && len(c.Parts) > 0 && c.Parts[0].FunctionResponse != nil
}

func textContent(role, text string) content {
	c := content{Role: role}
	if text != "" {
		c.Parts = []part{{Text: text}}
	}
	return c
}

func assistantContent(m llm.Message, names map[string]string) (content, error) {
	c := textContent("model", m.Content)
	for _, tc := range m.ToolCalls {
		args := json.RawMessage(tc.Arguments)
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		if !json.Valid(args) {
			return content{}, fmt.Errorf("tool call %q: arguments are not JSON", tc.Name)
		}
		names[tc.ID] = tc.Name
		c.Parts = append(c.Parts, part{FunctionCall: &functionCall{Name: tc.Name, Args: args}})
	}
	return c, nil
}

// toolContent answers a call. Gemini wants the function's name and a
// JSON object: an object result is sent as is, anything else is wrapped
// as {"output": ...}, the key the API documents for function output.
func toolContent(m llm.Message, names map[string]string) (content, error) {
	name := m.Name
	if name == "" {
		name = names[m.ToolCallID]
	}
	if name == "" {
		return content{}, fmt.Errorf("tool result %q answers no known tool call", m.ToolCallID)
	}
	resp := json.RawMessage(strings.TrimSpace(m.Content))
	if len(resp) == 0 || resp[0] != '{' || !json.Valid(resp) {
		wrapped, err := json.Marshal(map[string]string{"output": m.Content})
		if err != nil {
			return content{}, fmt.Errorf("tool result: %w", err)
		}
		resp = wrapped
	}
	return content{Role: "user", Parts: []part{{FunctionResponse: &functionResponse{Name: name, Response: resp}}}}, nil
}

func toTools(tools []llm.Tool) []tool {
	if len(tools) == 0 {
		return nil
	}
	decls := make([]functionDeclaration, len(tools))
	for i, t := range tools {
		decls[i] = functionDeclaration{Name: t.Name, Description: t.Description, ParametersJSONSchema: json.RawMessage(t.Parameters)}
	}
	return []tool{{FunctionDeclarations: decls}}
}

// toToolConfig maps the OpenAI-style tool choice: "auto", "none",
// "required" (ANY), or a tool name (ANY restricted to that function).
func toToolConfig(choice string) *toolConfig {
	var f functionCallingConfig
	switch choice {
	case "":
		return nil
	case "auto":
		f.Mode = "AUTO"
	case "none":
		f.Mode = "NONE"
	case "required", "any":
		f.Mode = "ANY"
	default:
		f = functionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{choice}}
	}
	return &toolConfig{FunctionCallingConfig: f}
}
