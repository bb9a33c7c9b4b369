package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// The Gemini-native surface's request side: GenerateContentRequest
// (wire.md §1.2) decoded into an llm.Request. Unknown fields are refused
// as Google refuses them ("Invalid JSON payload received. Unknown name
// ..."); known fields the gateway cannot carry to every backend are
// refused with a 400 that names them. Nothing is silently dropped.

type gmRequest struct {
	Model             string        `json:"model"` // countTokens' generateContentRequest
	Contents          []gmContent   `json:"contents"`
	SystemInstruction *gmContent    `json:"systemInstruction"`
	Tools             []gmTool      `json:"tools"`
	ToolConfig        *gmToolConfig `json:"toolConfig"`
	GenerationConfig  *gmGenConfig  `json:"generationConfig"`
	// Known but refused.
	SafetySettings json.RawMessage `json:"safetySettings"`
	CachedContent  json.RawMessage `json:"cachedContent"`
	Labels         json.RawMessage `json:"labels"`
}

type gmContent struct {
	Role  string   `json:"role"`
	Parts []gmPart `json:"parts"`
}

type gmPart struct {
	Text             *string             `json:"text"`
	Thought          bool                `json:"thought"`
	ThoughtSignature string              `json:"thoughtSignature"`
	InlineData       *gmBlob             `json:"inlineData"`
	FileData         *gmFileData         `json:"fileData"`
	FunctionCall     *gmFunctionCall     `json:"functionCall"`
	FunctionResponse *gmFunctionResponse `json:"functionResponse"`
	// Known but refused.
	ExecutableCode      json.RawMessage `json:"executableCode"`
	CodeExecutionResult json.RawMessage `json:"codeExecutionResult"`
	VideoMetadata       json.RawMessage `json:"videoMetadata"`
	MediaResolution     json.RawMessage `json:"mediaResolution"`
}

type gmBlob struct {
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gmFileData struct {
	MIMEType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

type gmFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type gmFunctionResponse struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
	// Known but refused.
	WillContinue json.RawMessage `json:"willContinue"`
	Scheduling   json.RawMessage `json:"scheduling"`
	Parts        json.RawMessage `json:"parts"`
}

type gmTool struct {
	FunctionDeclarations []gmFunctionDecl `json:"functionDeclarations"`
	// Google's own tools, refused by name.
	GoogleSearch          json.RawMessage `json:"googleSearch"`
	GoogleSearchRetrieval json.RawMessage `json:"googleSearchRetrieval"`
	CodeExecution         json.RawMessage `json:"codeExecution"`
	URLContext            json.RawMessage `json:"urlContext"`
	Retrieval             json.RawMessage `json:"retrieval"`
	ComputerUse           json.RawMessage `json:"computerUse"`
	FileSearch            json.RawMessage `json:"fileSearch"`
	GoogleMaps            json.RawMessage `json:"googleMaps"`
	EnterpriseWebSearch   json.RawMessage `json:"enterpriseWebSearch"`
}

type gmFunctionDecl struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Parameters           json.RawMessage `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
	// Known but refused.
	Response           json.RawMessage `json:"response"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	Behavior           json.RawMessage `json:"behavior"`
}

type gmToolConfig struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
	RetrievalConfig json.RawMessage `json:"retrievalConfig"`
}

type gmGenConfig struct {
	StopSequences      []string        `json:"stopSequences"`
	ResponseMIMEType   string          `json:"responseMimeType"`
	ResponseSchema     json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	ResponseModalities []string        `json:"responseModalities"`
	CandidateCount     *int            `json:"candidateCount"`
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	Seed               *int64          `json:"seed"`
	ThinkingConfig     *struct {
		IncludeThoughts bool            `json:"includeThoughts"`
		ThinkingBudget  *int            `json:"thinkingBudget"`
		ThinkingLevel   json.RawMessage `json:"thinkingLevel"`
	} `json:"thinkingConfig"`
	// Known but refused (when set to something other than the default).
	TopK                       json.RawMessage `json:"topK"`
	PresencePenalty            *float64        `json:"presencePenalty"`
	FrequencyPenalty           *float64        `json:"frequencyPenalty"`
	ResponseLogprobs           *bool           `json:"responseLogprobs"`
	Logprobs                   json.RawMessage `json:"logprobs"`
	SpeechConfig               json.RawMessage `json:"speechConfig"`
	MediaResolution            json.RawMessage `json:"mediaResolution"`
	ImageConfig                json.RawMessage `json:"imageConfig"`
	EnableEnhancedCivicAnswers json.RawMessage `json:"enableEnhancedCivicAnswers"`
	AudioTimestamp             json.RawMessage `json:"audioTimestamp"`
	RoutingConfig              json.RawMessage `json:"routingConfig"`
}

// Bounds of what a Gemini request may hold, beyond the body limit.
const (
	maxGeminiContents = 4096
	maxGeminiParts    = 1024 // per content
	maxGeminiTools    = 128  // function declarations
	maxGeminiStops    = 5    // Gemini's own limit
	// defaultGeminiMaxOutput applies when maxOutputTokens is unset
	// (Gemini's own default is the model's maximum; every backend here
	// needs a bound).
	defaultGeminiMaxOutput = 8192
)

// gmFail is a client error in Gemini's shape: {"error":{code,message,status}}.
type gmFail struct {
	status  int
	message string
}

func gmInvalid(format string, args ...any) *gmFail {
	return &gmFail{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

// gmDecoded is a decoded generate request and what only this surface
// needs beyond the llm.Request.
type gmDecoded struct {
	req             *llm.Request
	includeThoughts bool
}

// decodeGeminiJSON parses body strictly into v: unknown fields are an
// error, worded as Google words it.
func decodeGeminiJSON(body []byte, v any) *gmFail {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return gmInvalid("Invalid JSON payload received. The request body must be a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return gmInvalid("Invalid JSON payload received. Invalid value at '%s': expected %s.", truncate(te.Field, 80), jsonType(te.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.TrimPrefix(err.Error(), "json: unknown field ")
			return gmInvalid("Invalid JSON payload received. Unknown name %s: Cannot find field.", truncate(name, 80))
		}
		return gmInvalid("Invalid JSON payload received. The request body is not valid JSON.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return gmInvalid("Invalid JSON payload received. Unexpected data after the JSON object.")
	}
	return nil
}

// DecodeGemini parses and validates a generateContent body. It is the
// fuzz target of the surface.
func DecodeGemini(body []byte) (*gmDecoded, *gmFail) {
	var g gmRequest
	if f := decodeGeminiJSON(body, &g); f != nil {
		return nil, f
	}
	return g.toLLM()
}

func (g *gmRequest) toLLM() (*gmDecoded, *gmFail) {
	switch {
	case nonNull(g.SafetySettings):
		return nil, gmInvalid("safetySettings is not supported by this gateway: its backends apply their own safety policies")
	case nonNull(g.CachedContent) && string(g.CachedContent) != `""`:
		return nil, gmInvalid("cachedContent is not supported by this gateway")
	case nonNull(g.Labels):
		return nil, gmInvalid("labels are not supported by this gateway")
	}
	d := &gmDecoded{req: &llm.Request{MaxTokens: defaultGeminiMaxOutput}}
	if f := g.convertConfig(d); f != nil {
		return nil, f
	}
	if f := convertTools(g.Tools, g.ToolConfig, d.req); f != nil {
		return nil, f
	}
	if si := g.SystemInstruction; si != nil {
		sys, f := textOnly(si.Parts, "systemInstruction")
		if f != nil {
			return nil, f
		}
		d.req.System = sys
	}
	msgs, f := convertContents(g.Contents)
	if f != nil {
		return nil, f
	}
	d.req.Messages = msgs
	return d, nil
}

// textOnly joins the text parts of a content that may hold nothing else.
func textOnly(parts []gmPart, where string) (string, *gmFail) {
	var b strings.Builder
	for i, p := range parts {
		if p.Text == nil || p.InlineData != nil || p.FileData != nil || p.FunctionCall != nil || p.FunctionResponse != nil {
			return "", gmInvalid("%s.parts[%d]: only text parts are supported here", where, i)
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(*p.Text)
	}
	return b.String(), nil
}

func (g *gmRequest) convertConfig(d *gmDecoded) *gmFail {
	c := g.GenerationConfig
	if c == nil {
		return nil
	}
	if f := c.refuseUnsupported(); f != nil {
		return f
	}
	req := d.req
	if n := c.CandidateCount; n != nil && *n > 1 {
		req.Candidates = *n // a backend without candidates is skipped by the router
	}
	if c.MaxOutputTokens != nil {
		if *c.MaxOutputTokens < 1 || *c.MaxOutputTokens > maxTokensLimit {
			return gmInvalid("generationConfig.maxOutputTokens must be between 1 and %d, got %d", maxTokensLimit, *c.MaxOutputTokens)
		}
		req.MaxTokens = *c.MaxOutputTokens
	}
	if t := c.Temperature; t != nil && (*t < 0 || *t > maxTemperature) {
		return gmInvalid("generationConfig.temperature must be between 0 and 2, got %g", *t)
	}
	if p := c.TopP; p != nil && (*p < 0 || *p > 1) {
		return gmInvalid("generationConfig.topP must be between 0 and 1, got %g", *p)
	}
	if len(c.StopSequences) > maxGeminiStops {
		return gmInvalid("generationConfig.stopSequences holds at most %d sequences, got %d", maxGeminiStops, len(c.StopSequences))
	}
	req.Temperature, req.TopP, req.Seed, req.Stop = c.Temperature, c.TopP, c.Seed, c.StopSequences
	if f := c.convertFormat(req); f != nil {
		return f
	}
	if tc := c.ThinkingConfig; tc != nil {
		level, f := gmThinkingLevel(tc.ThinkingLevel)
		if f != nil {
			return f
		}
		if level != "" && tc.ThinkingBudget != nil {
			return gmInvalid("Unable to submit request because thinking_budget and thinking_level are not supported together.")
		}
		req.ThinkingLevel = level
		if b := tc.ThinkingBudget; b != nil {
			if *b < -1 || *b > maxTokensLimit {
				return gmInvalid("generationConfig.thinkingConfig.thinkingBudget must be -1 (dynamic), 0 (off) or up to %d, got %d", maxTokensLimit, *b)
			}
			req.ThinkingBudget = b
		}
		d.includeThoughts = tc.IncludeThoughts
	}
	return nil
}

func (c *gmGenConfig) refuseUnsupported() *gmFail {
	switch {
	case c.CandidateCount != nil && (*c.CandidateCount < 1 || *c.CandidateCount > llm.MaxCandidates):
		return gmInvalid("generationConfig.candidateCount must be between 1 and %d, got %d", llm.MaxCandidates, *c.CandidateCount)
	case nonNull(c.TopK):
		return gmInvalid("generationConfig.topK is not supported by this gateway")
	case c.PresencePenalty != nil && *c.PresencePenalty != 0:
		return gmInvalid("generationConfig.presencePenalty is not supported by this gateway")
	case c.FrequencyPenalty != nil && *c.FrequencyPenalty != 0:
		return gmInvalid("generationConfig.frequencyPenalty is not supported by this gateway")
	case c.ResponseLogprobs != nil && *c.ResponseLogprobs, nonNull(c.Logprobs):
		return gmInvalid("generationConfig.responseLogprobs/logprobs are not supported by this gateway")
	case nonNull(c.SpeechConfig), nonNull(c.ImageConfig), nonNull(c.AudioTimestamp):
		return gmInvalid("generationConfig: speech, image and audio output are not supported by this gateway")
	case nonNull(c.MediaResolution), nonNull(c.EnableEnhancedCivicAnswers), nonNull(c.RoutingConfig):
		return gmInvalid("generationConfig: mediaResolution, enableEnhancedCivicAnswers and routingConfig are not supported by this gateway")
	}
	for _, m := range c.ResponseModalities {
		if !strings.EqualFold(m, "TEXT") {
			return gmInvalid("generationConfig.responseModalities %q is not supported: only TEXT", truncate(m, 40))
		}
	}
	return nil
}

// convertFormat maps responseMimeType and the response schemas.
func (c *gmGenConfig) convertFormat(req *llm.Request) *gmFail {
	hasSchema := nonNull(c.ResponseSchema)
	hasJSONSchema := nonNull(c.ResponseJSONSchema)
	switch c.ResponseMIMEType {
	case "", "text/plain":
		if hasSchema || hasJSONSchema {
			return gmInvalid("generationConfig: a response schema needs responseMimeType \"application/json\"")
		}
		return nil
	case "application/json":
		req.JSON = true
	default:
		return gmInvalid("generationConfig.responseMimeType %q is not supported: use text/plain or application/json", truncate(c.ResponseMIMEType, 60))
	}
	switch {
	case hasSchema && hasJSONSchema:
		return gmInvalid("generationConfig: set responseSchema or responseJsonSchema, not both")
	case hasSchema:
		s, err := openAPIToJSONSchema(c.ResponseSchema)
		if err != nil {
			return gmInvalid("generationConfig.responseSchema: %v", err)
		}
		req.Schema = &llm.Schema{Name: "response", Schema: s}
	case hasJSONSchema:
		if t := bytes.TrimSpace(c.ResponseJSONSchema); t[0] != '{' {
			return gmInvalid("generationConfig.responseJsonSchema must be a JSON Schema object")
		}
		req.Schema = &llm.Schema{Name: "response", Schema: c.ResponseJSONSchema}
	}
	return nil
}

func convertTools(tools []gmTool, tc *gmToolConfig, req *llm.Request) *gmFail {
	declared := map[string]bool{}
	for i, t := range tools {
		if f := t.refuseGoogleTools(i); f != nil {
			return f
		}
		for j, fd := range t.FunctionDeclarations {
			where := fmt.Sprintf("tools[%d].functionDeclarations[%d]", i, j)
			tool, f := fd.toLLM(where)
			if f != nil {
				return f
			}
			if declared[tool.Name] {
				return gmInvalid("%s: the function %q is declared twice", where, tool.Name)
			}
			declared[tool.Name] = true
			req.Tools = append(req.Tools, tool)
			if len(req.Tools) > maxGeminiTools {
				return gmInvalid("tools: at most %d function declarations", maxGeminiTools)
			}
		}
	}
	return convertToolConfig(tc, declared, req)
}

func (t *gmTool) refuseGoogleTools(i int) *gmFail {
	for _, g := range []struct {
		name string
		raw  json.RawMessage
	}{{"googleSearch", t.GoogleSearch}, {"googleSearchRetrieval", t.GoogleSearchRetrieval}, {"codeExecution", t.CodeExecution},
		{"urlContext", t.URLContext}, {"retrieval", t.Retrieval}, {"computerUse", t.ComputerUse}, {"fileSearch", t.FileSearch},
		{"googleMaps", t.GoogleMaps}, {"enterpriseWebSearch", t.EnterpriseWebSearch}} {
		if nonNull(g.raw) {
			return gmInvalid("tools[%d].%s is not supported by this gateway: only functionDeclarations", i, g.name)
		}
	}
	return nil
}

func (fd *gmFunctionDecl) toLLM(where string) (llm.Tool, *gmFail) {
	switch {
	case !validToolName(fd.Name):
		return llm.Tool{}, gmInvalid("%s.name must match ^[a-zA-Z0-9_-]{1,64}$, got %q", where, truncate(fd.Name, 80))
	case nonNull(fd.Response), nonNull(fd.ResponseJSONSchema), nonNull(fd.Behavior):
		return llm.Tool{}, gmInvalid("%s: response, responseJsonSchema and behavior are not supported by this gateway", where)
	case nonNull(fd.Parameters) && nonNull(fd.ParametersJSONSchema):
		return llm.Tool{}, gmInvalid("%s: set parameters or parametersJsonSchema, not both", where)
	}
	t := llm.Tool{Name: fd.Name, Description: fd.Description}
	switch {
	case nonNull(fd.Parameters):
		s, err := openAPIToJSONSchema(fd.Parameters)
		if err != nil {
			return llm.Tool{}, gmInvalid("%s.parameters: %v", where, err)
		}
		t.Parameters = s
	case nonNull(fd.ParametersJSONSchema):
		if bytes.TrimSpace(fd.ParametersJSONSchema)[0] != '{' {
			return llm.Tool{}, gmInvalid("%s.parametersJsonSchema must be a JSON Schema object", where)
		}
		t.Parameters = fd.ParametersJSONSchema
	}
	if len(t.Parameters) > 0 {
		var probe struct {
			Type json.RawMessage `json:"type"`
		}
		_ = json.Unmarshal(t.Parameters, &probe)
		if len(probe.Type) > 0 && string(probe.Type) != `"object"` {
			return llm.Tool{}, gmInvalid("%s: the parameters schema must describe an object (\"type\": \"OBJECT\")", where)
		}
	}
	return t, nil
}

// convertToolConfig maps functionCallingConfig: AUTO, NONE, ANY (with
// one allowed name: that function; with none or all declared: any).
func convertToolConfig(tc *gmToolConfig, declared map[string]bool, req *llm.Request) *gmFail {
	if tc == nil {
		return nil
	}
	if nonNull(tc.RetrievalConfig) {
		return gmInvalid("toolConfig.retrievalConfig is not supported by this gateway")
	}
	fc := tc.FunctionCallingConfig
	if fc == nil {
		return nil
	}
	names := fc.AllowedFunctionNames
	for _, n := range names {
		if !declared[n] {
			return gmInvalid("toolConfig.functionCallingConfig.allowedFunctionNames names %q, which is not declared in tools", truncate(n, 80))
		}
	}
	mode := strings.ToUpper(fc.Mode)
	if len(names) > 0 && mode != "ANY" {
		return gmInvalid("toolConfig.functionCallingConfig.allowedFunctionNames needs mode ANY")
	}
	switch mode {
	case "", "MODE_UNSPECIFIED", "AUTO":
		if mode == "AUTO" {
			req.ToolChoice = "auto"
		}
	case "NONE":
		req.ToolChoice = "none"
	case "ANY":
		switch {
		case len(names) == 1:
			req.ToolChoice = names[0]
		case len(names) == 0 || len(names) == len(declared):
			req.ToolChoice = "required"
		default:
			return gmInvalid("toolConfig.functionCallingConfig: mode ANY with %d of %d functions allowed is not supported: allow one or all", len(names), len(declared))
		}
	default:
		return gmInvalid("toolConfig.functionCallingConfig.mode %q is not supported: use AUTO, ANY or NONE", truncate(fc.Mode, 40))
	}
	return nil
}

// convertContents maps the turns. A model turn becomes an assistant
// message (its text, its function calls); a user turn becomes one tool
// message per functionResponse part, then a user message with its text
// and images. Calls without an id get one, and a response without an id
// answers the oldest open call of its name, so that backends that pair
// calls and results by ID (OpenAI, Anthropic) get a consistent history.
func convertContents(contents []gmContent) ([]llm.Message, *gmFail) {
	if len(contents) == 0 {
		return nil, gmInvalid("contents is not specified")
	}
	if len(contents) > maxGeminiContents {
		return nil, gmInvalid("contents holds at most %d turns, got %d", maxGeminiContents, len(contents))
	}
	conv := &contentConverter{open: map[string][]string{}}
	for i, c := range contents {
		where := fmt.Sprintf("contents[%d]", i)
		if len(c.Parts) == 0 {
			return nil, gmInvalid("%s.parts must not be empty", where)
		}
		if len(c.Parts) > maxGeminiParts {
			return nil, gmInvalid("%s holds at most %d parts", where, maxGeminiParts)
		}
		var f *gmFail
		switch c.Role {
		case "user", "":
			f = conv.user(i, c.Parts)
		case "model":
			f = conv.model(i, c.Parts)
		default:
			f = gmInvalid("%s.role %q is not valid: use user or model", where, truncate(c.Role, 40))
		}
		if f != nil {
			return nil, f
		}
	}
	if len(conv.out) == 0 {
		return nil, gmInvalid("contents holds no text, image or function part")
	}
	return conv.out, nil
}

type contentConverter struct {
	out  []llm.Message
	open map[string][]string // function name → IDs of calls not answered yet
}

func (cv *contentConverter) model(i int, parts []gmPart) *gmFail {
	msg := llm.Message{Role: llm.RoleAssistant}
	var text strings.Builder
	for j, p := range parts {
		where := fmt.Sprintf("contents[%d].parts[%d]", i, j)
		if f := refusePart(&p, where); f != nil {
			return f
		}
		switch {
		case p.FunctionCall != nil:
			tc, f := functionCallOf(p.FunctionCall, i, j, where)
			if f != nil {
				return f
			}
			cv.open[tc.Name] = append(cv.open[tc.Name], tc.ID)
			msg.ToolCalls = append(msg.ToolCalls, tc)
		case p.Thought:
			// A thought summary the model showed earlier: not part of the
			// conversation a backend is given back.
		case p.Text != nil:
			text.WriteString(*p.Text)
		default:
			return gmInvalid("%s: a model turn holds text and functionCall parts only", where)
		}
	}
	msg.Content = text.String()
	if msg.Content != "" || len(msg.ToolCalls) > 0 {
		cv.out = append(cv.out, msg)
	}
	return nil
}

func functionCallOf(fc *gmFunctionCall, i, j int, where string) (llm.ToolCall, *gmFail) {
	if !validToolName(fc.Name) {
		return llm.ToolCall{}, gmInvalid("%s.functionCall.name must match ^[a-zA-Z0-9_-]{1,64}$", where)
	}
	args := bytes.TrimSpace(fc.Args)
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	if args[0] != '{' {
		return llm.ToolCall{}, gmInvalid("%s.functionCall.args must be a JSON object", where)
	}
	id := fc.ID
	if id == "" {
		id = fmt.Sprintf("call_%d_%d", i, j)
	}
	if len(id) > 128 {
		return llm.ToolCall{}, gmInvalid("%s.functionCall.id is longer than 128 characters", where)
	}
	return llm.ToolCall{ID: id, Name: fc.Name, Arguments: string(args)}, nil
}

func (cv *contentConverter) user(i int, parts []gmPart) *gmFail {
	msg := llm.Message{Role: llm.RoleUser}
	var text strings.Builder
	for j, p := range parts {
		where := fmt.Sprintf("contents[%d].parts[%d]", i, j)
		if f := refusePart(&p, where); f != nil {
			return f
		}
		switch {
		case p.FunctionResponse != nil:
			m, f := cv.functionResponse(p.FunctionResponse, where)
			if f != nil {
				return f
			}
			cv.out = append(cv.out, m)
		case p.InlineData != nil:
			img, f := inlineImage(p.InlineData, where)
			if f != nil {
				return f
			}
			msg.Images = append(msg.Images, img)
		case p.FileData != nil:
			fd := p.FileData
			if fd.FileURI == "" || len(fd.FileURI) > 2048 {
				return gmInvalid("%s.fileData.fileUri must be a URI of at most 2048 characters", where)
			}
			if fd.MIMEType != "" && !strings.HasPrefix(fd.MIMEType, "image/") {
				return gmInvalid("%s.fileData of type %q is not supported: only image/* files", where, truncate(fd.MIMEType, 60))
			}
			msg.Images = append(msg.Images, llm.Image{MIMEType: fd.MIMEType, URL: fd.FileURI})
		case p.FunctionCall != nil:
			return gmInvalid("%s: a functionCall belongs in a model turn", where)
		case p.Text != nil:
			text.WriteString(*p.Text)
		default:
			return gmInvalid("%s: a part needs text, inlineData, fileData or functionResponse", where)
		}
	}
	msg.Content = text.String()
	if msg.Content != "" || len(msg.Images) > 0 {
		cv.out = append(cv.out, msg)
	}
	return nil
}

func (cv *contentConverter) functionResponse(fr *gmFunctionResponse, where string) (llm.Message, *gmFail) {
	if nonNull(fr.WillContinue) || nonNull(fr.Scheduling) || nonNull(fr.Parts) {
		return llm.Message{}, gmInvalid("%s.functionResponse: willContinue, scheduling and parts are not supported by this gateway", where)
	}
	resp := bytes.TrimSpace(fr.Response)
	if len(resp) == 0 || resp[0] != '{' {
		return llm.Message{}, gmInvalid("%s.functionResponse.response must be a JSON object", where)
	}
	id := fr.ID
	open := cv.open[fr.Name]
	switch {
	case id != "":
		if k := indexOf(open, id); k >= 0 {
			cv.open[fr.Name] = append(open[:k:k], open[k+1:]...)
		}
	case len(open) > 0:
		id, cv.open[fr.Name] = open[0], open[1:]
	default:
		return llm.Message{}, gmInvalid("%s.functionResponse answers %q, but no earlier functionCall of that name is open", where, truncate(fr.Name, 80))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, resp); err != nil {
		return llm.Message{}, gmInvalid("%s.functionResponse.response is not valid JSON", where)
	}
	return llm.Message{Role: llm.RoleTool, Content: compact.String(), ToolCallID: id, Name: fr.Name}, nil
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func refusePart(p *gmPart, where string) *gmFail {
	switch {
	case nonNull(p.ExecutableCode), nonNull(p.CodeExecutionResult):
		return gmInvalid("%s: executableCode and codeExecutionResult parts are not supported by this gateway", where)
	case nonNull(p.VideoMetadata), nonNull(p.MediaResolution):
		return gmInvalid("%s: videoMetadata and mediaResolution are not supported by this gateway", where)
	}
	return nil
}

// inlineImage decodes inlineData: base64 (standard or URL-safe, as
// proto-JSON accepts) of an image/* type.
func inlineImage(b *gmBlob, where string) (llm.Image, *gmFail) {
	if !strings.HasPrefix(b.MIMEType, "image/") || len(b.MIMEType) > 100 {
		return llm.Image{}, gmInvalid("%s.inlineData of type %q is not supported: only image/* data", where, truncate(b.MIMEType, 60))
	}
	var data []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if data, err = enc.DecodeString(b.Data); err == nil {
			break
		}
	}
	if err != nil || len(data) == 0 {
		return llm.Image{}, gmInvalid("%s.inlineData.data must be non-empty base64", where)
	}
	return llm.Image{MIMEType: b.MIMEType, Data: data}, nil
}
