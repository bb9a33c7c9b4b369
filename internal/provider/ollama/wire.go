// Package ollama is the provider adapter for Ollama's native REST API.
//
// It speaks POST /api/chat with "stream": true (NDJSON, one JSON object a
// line) and nothing else for answers; non-streaming callers use
// llm.Collect. The wire types below are copies of the few fields of
// github.com/ollama/ollama/api (v0.17.4) that the adapter needs: importing
// that module would pull the whole Ollama tree into the build.
// See https://github.com/ollama/ollama/blob/main/docs/api.md.
package ollama

import "encoding/json"

// chatRequest is the body of POST /api/chat.
type chatRequest struct {
	Model     string          `json:"model"`
	Messages  []message       `json:"messages"`
	Stream    bool            `json:"stream"`
	Format    json.RawMessage `json:"format,omitempty"` // "json" or a JSON Schema object
	KeepAlive json.RawMessage `json:"keep_alive,omitempty"`
	Tools     []tool          `json:"tools,omitempty"`
	Options   *options        `json:"options,omitempty"`
}

// options are the model parameters the adapter sets; everything else keeps
// the Modelfile's value.
type options struct {
	NumPredict  *int     `json:"num_predict,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
}

type message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolName   string     `json:"tool_name,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Images     [][]byte   `json:"images,omitempty"` // base64 in JSON
}

type toolCall struct {
	ID       string       `json:"id,omitempty"`
	Function toolFunction `json:"function"`
}

// toolFunction carries the arguments as a JSON object, not as a string as
// OpenAI does.
type toolFunction struct {
	Index     int             `json:"index"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type tool struct {
	Type     string  `json:"type"`
	Function toolDef `json:"function"`
}

type toolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

// chatLine is one NDJSON line of a streamed /api/chat answer. The last
// line has Done set, a DoneReason and the counters; an {"error":"..."}
// line reports a failure after the status line was sent.
type chatLine struct {
	Model           string      `json:"model"`
	Message         lineMessage `json:"message"`
	Done            bool        `json:"done"`
	DoneReason      string      `json:"done_reason"`
	PromptEvalCount int         `json:"prompt_eval_count"`
	EvalCount       int         `json:"eval_count"`
	Error           string      `json:"error"`
}

// lineMessage is the part of an answer line's message the adapter reads
// (the role is always "assistant"; skipping it saves an allocation a line).
type lineMessage struct {
	Content   string     `json:"content"`
	ToolCalls []toolCall `json:"tool_calls"`
}

// errorBody is Ollama's error answer: {"error":"model 'x' not found"}.
type errorBody struct {
	Error string `json:"error"`
}
