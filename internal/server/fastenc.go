package server

import (
	"strconv"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
)

// The stream encoders below write the common event — a text delta —
// without encoding/json: one append into a buffer the stream reuses, the
// same bytes json.Marshal writes (TestFastEncodersMatchJSON,
// FuzzAppendJSONString). Everything else (tool calls, the final events,
// errors) still goes through encoding/json.

// appendChatDelta appends /chat's delta event data: {"text":"..."}.
func appendChatDelta(b []byte, text string) []byte {
	b = append(b, `{"text":`...)
	b = jsonscan.AppendString(b, text)
	return append(b, '}')
}

// appendOADelta appends a chat.completion.chunk with one choice whose
// delta has the role (first chunk) and content: what json.Marshal writes
// for oaCompletion{Choices: []oaChoice{{Delta: &oaMsgOut{Role, Content}}}}.
func (e *oaEvents) appendOADelta(b []byte, role, content string) []byte {
	b = append(b, `{"id":`...)
	b = jsonscan.AppendString(b, e.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, e.created, 10)
	b = append(b, `,"model":`...)
	b = jsonscan.AppendString(b, e.model)
	b = append(b, `,"choices":[{"index":0,"delta":{`...)
	if role != "" {
		b = append(b, `"role":`...)
		b = jsonscan.AppendString(b, role)
		b = append(b, ',')
	}
	b = append(b, `"content":`...)
	b = jsonscan.AppendString(b, content)
	return append(b, `},"logprobs":null,"finish_reason":null}],"usage":null,"system_fingerprint":null}`...)
}
