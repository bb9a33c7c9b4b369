package fakeopenai

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// responseFormat is {"type":"text"|"json_object"|"json_schema", ...}.
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict bool            `json:"strict"`
	} `json:"json_schema"`
}

// validateStructured checks response_format and image content parts as
// the API does: a json_schema needs a name of ^[a-zA-Z0-9_-]{1,64}$ and,
// when strict, objects that list every property as required and set
// additionalProperties false; an image_url is an http(s) URL or a base64
// data URL of an image type.
func validateStructured(req *chatRequest) *APIError {
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "json_object":
		case "json_schema":
			js := rf.JSONSchema
			if js == nil {
				return invalid("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.")
			}
			if !toolName.MatchString(js.Name) {
				return invalid("response_format.json_schema.name", "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.")
			}
			if js.Strict {
				var schema map[string]any
				if err := json.Unmarshal(js.Schema, &schema); err != nil {
					return invalid("response_format", "Invalid schema for response_format '%s': schema must be a JSON object.", js.Name)
				}
				if msg := strictProblem(schema, "()"); msg != "" {
					return invalid("response_format", "Invalid schema for response_format '%s': %s", js.Name, msg)
				}
			}
		default:
			return invalid("response_format.type", "Invalid value: '%s'. Supported values are: 'json_object', 'json_schema', and 'text'.", rf.Type)
		}
	}
	for i, m := range req.Messages {
		if e := validateParts(m.Content, i); e != nil {
			return e
		}
	}
	return nil
}

// strictProblem returns what strict mode refuses in an object schema
// (recursively through properties and items), or "".
func strictProblem(s map[string]any, ctx string) string {
	if s["type"] == "object" {
		if ap, ok := s["additionalProperties"].(bool); !ok || ap {
			return fmt.Sprintf("In context=%s, 'additionalProperties' is required to be supplied and to be false.", ctx)
		}
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		names := make([]string, 0, len(props))
		for k := range props {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if !slices.Contains(req, any(k)) {
				return fmt.Sprintf("In context=%s, 'required' is required to be supplied and to be an array including every key in properties. Missing '%s'.", ctx, k)
			}
			if sub, ok := props[k].(map[string]any); ok {
				if msg := strictProblem(sub, ctx[:len(ctx)-1]+"'properties', '"+k+"')"); msg != "" {
					return msg
				}
			}
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		return strictProblem(items, ctx[:len(ctx)-1]+"'items')")
	}
	return ""
}

// validateParts checks the content parts of message i, when an array.
func validateParts(raw json.RawMessage, i int) *APIError {
	var parts []struct {
		Type     string `json:"type"`
		ImageURL *struct {
			URL    string `json:"url"`
			Detail string `json:"detail"`
		} `json:"image_url"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return nil
	}
	for j, p := range parts {
		param := fmt.Sprintf("messages[%d].content[%d].image_url.url", i, j)
		if p.Type != "image_url" {
			continue
		}
		if p.ImageURL == nil {
			return invalid(fmt.Sprintf("messages[%d].content[%d].image_url", i, j), "Missing required parameter: 'messages[%d].content[%d].image_url'.", i, j)
		}
		u := p.ImageURL.URL
		if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
			continue
		}
		mime, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ";base64,")
		if !strings.HasPrefix(u, "data:") || !ok || !slices.Contains([]string{"image/png", "image/jpeg", "image/gif", "image/webp"}, mime) {
			return invalid(param, "Invalid '%s'. Expected a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got a value of an unsupported form.", param)
		}
		if _, err := base64.StdEncoding.DecodeString(data); err != nil {
			return invalid(param, "You uploaded an unsupported image. Please make sure your image is valid.")
		}
	}
	return nil
}
