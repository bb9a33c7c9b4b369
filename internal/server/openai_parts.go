package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Structured output and image inputs of /v1/chat/completions.

// oaResponseFormat is {"type":"text"|"json_object"} or
// {"type":"json_schema","json_schema":{name,description,schema,strict}},
// what the OpenAI SDKs' parse() helpers send.
type oaResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	} `json:"json_schema"`
}

// apply sets Request.JSON or Request.Schema; a nil format does nothing.
func (rf *oaResponseFormat) apply(req *llm.Request) *oaFail {
	if rf == nil {
		return nil
	}
	switch rf.Type {
	case "text":
		return nil
	case "json_object":
		req.JSON = true
		return nil
	case "json_schema":
	default:
		return invalidParam("response_format.type", "response_format type %q is not supported: use text, json_object or json_schema", truncate(rf.Type, 40))
	}
	js := rf.JSONSchema
	if js == nil {
		return invalidParam("response_format.json_schema", "response_format of type json_schema needs a json_schema object")
	}
	if !validToolName(js.Name) {
		return invalidParam("response_format.json_schema.name", "json_schema.name must match ^[a-zA-Z0-9_-]{1,64}$, got %q", truncate(js.Name, 80))
	}
	schema := bytes.TrimSpace(js.Schema)
	if string(schema) == "null" {
		schema = nil
	}
	if len(schema) > 0 {
		var obj map[string]json.RawMessage
		if schema[0] != '{' || json.Unmarshal(schema, &obj) != nil {
			return invalidParam("response_format.json_schema.schema", "json_schema.schema must be a JSON Schema object")
		}
	}
	req.Schema = &llm.Schema{Name: js.Name, Schema: json.RawMessage(schema), Strict: js.Strict != nil && *js.Strict}
	return nil
}

// oaPart is one element of a content array.
type oaPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
}

// contentParts accepts a string, null, or an array of parts: text, and
// (in user messages) image_url with a data: or http(s) URL. The images
// go to the gateway's image policy as URLs; "detail" is accepted
// (auto, low, high) and not forwarded: only OpenAI has it.
func contentParts(raw json.RawMessage, index int, user bool) (string, []llm.Image, *oaFail) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil, nil
	}
	if s, ok := plainJSONString(raw); ok {
		return s, nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil, nil
	}
	param := fmt.Sprintf("messages[%d].content", index)
	var parts []oaPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", nil, invalidParam(param, "content must be a string or an array of content parts")
	}
	var b strings.Builder
	var imgs []llm.Image
	for i, p := range parts {
		at := fmt.Sprintf("%s[%d]", param, i)
		switch p.Type {
		case "text":
			b.WriteString(p.Text)
		case "image_url":
			if !user {
				return "", nil, invalidParam(at, "image_url parts are only accepted in user messages")
			}
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return "", nil, invalidParam(at+".image_url.url", "an image_url part needs image_url.url (a data: URL or an http(s) URL)")
			}
			switch p.ImageURL.Detail {
			case "", "auto", "low", "high":
			default:
				return "", nil, invalidParam(at+".image_url.detail", "image_url.detail must be auto, low or high")
			}
			imgs = append(imgs, llm.Image{URL: p.ImageURL.URL})
		default:
			return "", nil, invalidParam(at, "content part type %q is not supported: use text or image_url", truncate(p.Type, 40))
		}
	}
	return b.String(), imgs, nil
}

// plainJSONString decodes raw when it is a JSON string without escapes
// or control characters in valid UTF-8: its bytes between the quotes,
// what json.Unmarshal makes of it (FuzzPlainJSONString). Anything else
// is left to json.Unmarshal.
func plainJSONString(raw []byte) (string, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	for _, c := range raw[1 : n-1] {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(raw) {
		return "", false
	}
	return string(raw[1 : n-1]), true
}
