package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Gemini's "parameters" and "responseSchema" take an OpenAPI 3.0 Schema
// subset (types in upper case, "nullable", "propertyOrdering"); every
// backend here takes JSON Schema. openAPIToJSONSchema converts one into
// the other: types lower-cased, nullable folded into the type,
// propertyOrdering dropped (JSON Schema has no order), the rest kept.

// maxSchemaDepth bounds the nesting a caller may send.
const maxSchemaDepth = 32

// openAPISchemaKeys are the fields of Gemini's Schema object.
var openAPISchemaKeys = map[string]bool{
	"type": true, "format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "properties": true, "required": true, "minProperties": true,
	"maxProperties": true, "minLength": true, "maxLength": true, "pattern": true, "example": true,
	"anyOf": true, "propertyOrdering": true, "default": true, "items": true, "minimum": true, "maximum": true,
}

func openAPIToJSONSchema(raw json.RawMessage) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, errors.New("not valid JSON")
	}
	out, err := convertSchema(v, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func convertSchema(v any, depth int) (map[string]any, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxSchemaDepth)
	}
	in, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("a schema must be a JSON object")
	}
	out := make(map[string]any, len(in))
	for k, x := range in {
		if !openAPISchemaKeys[k] {
			return nil, fmt.Errorf("unknown schema field %q", truncate(k, 40))
		}
		var err error
		switch k {
		case "type":
			s, ok := x.(string)
			if !ok {
				return nil, errors.New("type must be a string such as \"OBJECT\"")
			}
			out[k] = strings.ToLower(s)
		case "properties":
			out[k], err = convertProperties(x, depth)
		case "items":
			out[k], err = convertSchema(x, depth+1)
		case "anyOf":
			out[k], err = convertList(x, depth)
		case "propertyOrdering", "nullable":
		case "example":
			out["examples"] = []any{x}
		case "maxItems", "minItems", "minLength", "maxLength", "minProperties", "maxProperties":
			out[k] = int64Value(x) // proto-JSON may send an int64 as a string
		default:
			out[k] = x
		}
		if err != nil {
			return nil, err
		}
	}
	if n, _ := in["nullable"].(bool); n {
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
	}
	return out, nil
}

func int64Value(x any) any {
	if s, ok := x.(string); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return x
}

func convertProperties(x any, depth int) (map[string]any, error) {
	props, ok := x.(map[string]any)
	if !ok {
		return nil, errors.New("properties must be an object")
	}
	out := make(map[string]any, len(props))
	for name, p := range props {
		s, err := convertSchema(p, depth+1)
		if err != nil {
			return nil, fmt.Errorf("properties.%s: %w", truncate(name, 40), err)
		}
		out[name] = s
	}
	return out, nil
}

func convertList(x any, depth int) ([]any, error) {
	list, ok := x.([]any)
	if !ok {
		return nil, errors.New("anyOf must be an array of schemas")
	}
	out := make([]any, len(list))
	for i, s := range list {
		c, err := convertSchema(s, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}
