package gemini

import "encoding/json"

// The types below are the subset of the Generative Language API (v1beta)
// JSON that the adapter sends and reads. Field names are the API's
// lowerCamelCase; zero values are omitted, as proto-JSON does.
// Reference: https://ai.google.dev/api/generate-content

// generateRequest is the body of models.streamGenerateContent.
type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
}

// content is one turn: role "user" or "model" (empty in systemInstruction).
type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part holds exactly one of text, functionCall or functionResponse.
// Thought marks a thought-summary part, never part of the answer.
type part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
}

// blob is inline bytes: base64 in JSON ([]byte marshals so).
type blob struct {
	MIMEType string `json:"mimeType"`
	Data     []byte `json:"data"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type generationConfig struct {
	MaxOutputTokens  int      `json:"maxOutputTokens,omitempty"`
	Temperature      *float64 `json:"temperature,omitempty"`
	TopP             *float64 `json:"topP,omitempty"`
	StopSequences    []string `json:"stopSequences,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	ResponseMimeType string   `json:"responseMimeType,omitempty"`
	// ResponseJSONSchema takes full JSON Schema (Gemini 2.5+); the older
	// responseSchema takes only an OpenAPI subset.
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	CandidateCount     int             `json:"candidateCount,omitempty"`
	ThinkingConfig     *thinkingConfig `json:"thinkingConfig,omitempty"`
}

// thinkingConfig carries a budget (2.5; 0, off, is meaningful) or a
// level (Gemini 3), never both: Gemini answers 400 to both.
type thinkingConfig struct {
	ThinkingBudget *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel  string `json:"thinkingLevel,omitempty"`
	// IncludeThoughts asks for thought summaries ("thought": true parts).
	IncludeThoughts bool `json:"includeThoughts,omitempty"`
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

// functionDeclaration sends the caller's JSON Schema as
// parametersJsonSchema, which accepts full JSON Schema; the older
// "parameters" field takes only an OpenAPI subset and rejects keywords
// such as additionalProperties that OpenAI-style clients send.
type functionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// generateResponse is one streamed chunk (or a whole unary answer). An
// error after the headers arrives in-band as {"error":{...}}.
type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	Error          *apiError       `json:"error"`
	// spare is a usage object the fast reader may fill (reuse).
	spare *usageMetadata
}

// reuse empties r for the next event of a stream but keeps the storage
// the fast reader (fastchunk.go) fills again: the candidates' array, the
// content objects and parts' arrays of its elements, and the usage
// object. Decoded into afresh, every event cost six allocations. r then
// reads as a zero response but that an absent candidates or parts list
// is empty instead of nil. Nothing of r may be kept past the event but
// copies (decoder.decode keeps a copy of the usage).
func (r *generateResponse) reuse() {
	spare := r.UsageMetadata
	if spare == nil {
		spare = r.spare
	}
	*r = generateResponse{Candidates: r.Candidates[:0], spare: spare}
}

type candidate struct {
	Content      *content `json:"content"`
	FinishReason string   `json:"finishReason"`
	Index        int      `json:"index"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

// usageMetadata is cumulative: every chunk carries a snapshot.
type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

// errorBody is google.rpc.Status wrapped in "error".
type errorBody struct {
	Error *apiError `json:"error"`
}

type apiError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Status  string        `json:"status"`
	Details []errorDetail `json:"details"`
}

// errorDetail merges the detail types the adapter reads:
// google.rpc.RetryInfo, ErrorInfo and QuotaFailure.
type errorDetail struct {
	Type       string           `json:"@type"`
	RetryDelay string           `json:"retryDelay"`
	Reason     string           `json:"reason"`
	Violations []quotaViolation `json:"violations"`
}

type quotaViolation struct {
	QuotaID string `json:"quotaId"`
}
