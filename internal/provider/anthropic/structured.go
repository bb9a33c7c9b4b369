package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Structured output. The Messages API has no JSON mode, so a JSON answer
// (Request.JSON or Request.Schema) is asked for the way Anthropic
// documents: a synthetic tool whose input_schema is the schema, with
// tool_choice forcing it. Its input is the answer: the adapter returns it
// as the answer text, and the synthetic call never reaches the caller.
// When the caller also declares tools (and does not say "none"), the
// choice is "any": the model calls one of them or answers.
//
// Anthropic tool inputs are objects; a schema of another type (an array,
// a string) is wrapped as {"value": <schema>} and unwrapped again.

// AnswerTool is the synthetic tool's name; a caller's tool may not use it.
const AnswerTool = "json_answer"

// answerPlan says how a request's JSON answer is asked for.
type answerPlan struct {
	on      bool // a JSON answer was asked for
	wrapped bool // the schema is not an object: the input is {"value": ...}
	schema  json.RawMessage
}

var anyObject = json.RawMessage(`{"type":"object"}`)

func planAnswer(req *llm.Request) answerPlan {
	if req.Schema == nil && !req.JSON {
		return answerPlan{}
	}
	p := answerPlan{on: true, schema: anyObject}
	if req.Schema == nil || len(bytes.TrimSpace(req.Schema.Schema)) == 0 {
		return p
	}
	var top struct {
		Type       json.RawMessage `json:"type"`
		Properties json.RawMessage `json:"properties"`
	}
	s := req.Schema.Schema
	if json.Unmarshal(s, &top) == nil && (string(bytes.TrimSpace(top.Type)) == `"object"` || top.Type == nil && top.Properties != nil) {
		p.schema = s
		return p
	}
	p.wrapped = true
	p.schema = json.RawMessage(`{"type":"object","properties":{"value":` + string(s) + `},"required":["value"]}`)
	return p
}

// forceAnswerTool adds the synthetic tool and its tool_choice to w.
func forceAnswerTool(w *messagesRequest, req *llm.Request) error {
	p := planAnswer(req)
	if !p.on {
		return nil
	}
	for _, t := range req.Tools {
		if t.Name == AnswerTool {
			return fmt.Errorf("the tool name %q is reserved for structured output on anthropic", AnswerTool)
		}
	}
	desc := "Give the answer: its input is the whole answer, as JSON matching the schema."
	if req.Schema != nil && req.Schema.Name != "" {
		desc += " Answer kind: " + req.Schema.Name + "."
	}
	callerTools := len(w.Tools) > 0 && req.ToolChoice != "none"
	if req.ToolChoice == "none" {
		w.Tools = nil
	}
	w.Tools = append(w.Tools, tool{Name: AnswerTool, Description: desc, InputSchema: p.schema})
	w.ToolChoice = &toolChoice{Type: "tool", Name: AnswerTool}
	if callerTools {
		w.ToolChoice = &toolChoice{Type: "any"}
	}
	return nil
}

// answerFilter wraps yield so that the synthetic tool's call becomes the
// answer text and its tool_calls finish becomes "stop".
func answerFilter(p answerPlan, yield func(llm.Chunk, error) bool) func(llm.Chunk, error) bool {
	return func(c llm.Chunk, err error) bool {
		if err != nil || len(c.ToolCalls) == 0 {
			return yield(c, err)
		}
		kept := c.ToolCalls[:0:0]
		for _, tc := range c.ToolCalls {
			if tc.Name != AnswerTool {
				kept = append(kept, tc)
				continue
			}
			c.Delta += answerText(p, tc.Arguments)
		}
		c.ToolCalls = kept
		if len(kept) == 0 && c.FinishReason == llm.FinishToolCalls {
			c.FinishReason = llm.FinishStop
		}
		return yield(c, nil)
	}
}

// answerText is the tool input as the answer: unwrapped when wrapped.
func answerText(p answerPlan, args string) string {
	if !p.wrapped {
		return args
	}
	var v struct {
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal([]byte(args), &v) != nil || v.Value == nil {
		return args
	}
	return string(v.Value)
}

// userBlocks renders a user turn: its text, then its images as base64
// image blocks (the gateway's image policy has inlined every URL).
func userBlocks(m *llm.Message) []block {
	blocks := make([]block, 0, 1+len(m.Images))
	if m.Content != "" {
		blocks = append(blocks, block{Type: "text", Text: m.Content})
	}
	for _, img := range m.Images {
		blocks = append(blocks, block{Type: "image", Source: &imageSource{Type: "base64", MediaType: img.MIMEType, Data: img.Data}})
	}
	return blocks
}
