package openapi

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Validate checks a decoded JSON value (encoding/json into any) against
// the document's schema name: types, required properties, no property the
// schema lacks. It covers the subset schemaOf generates.
func Validate(doc map[string]any, schema string, v any) error {
	comps, _ := doc["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	s, ok := schemas[schema].(map[string]any)
	if !ok {
		return fmt.Errorf("no schema %q", schema)
	}
	return validate(schemas, s, v, "$")
}

func validate(schemas map[string]any, s map[string]any, v any, at string) error {
	if r, ok := s["$ref"].(string); ok {
		next, _ := schemas[strings.TrimPrefix(r, "#/components/schemas/")].(map[string]any)
		return validate(schemas, next, v, at)
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			types = append(types, x.(string))
		}
	default:
		return nil // any value
	}
	got := jsonType(v)
	if !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
		return fmt.Errorf("%s: %s, want %v", at, got, types)
	}
	switch got {
	case "object":
		return validateObject(schemas, s, v.(map[string]any), at)
	case "array":
		items, _ := s["items"].(map[string]any)
		for i, x := range v.([]any) {
			if err := validate(schemas, items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateObject(schemas map[string]any, s map[string]any, obj map[string]any, at string) error {
	props, _ := s["properties"].(map[string]any)
	req, _ := s["required"].([]any)
	for _, r := range req {
		if _, ok := obj[r.(string)]; !ok {
			return fmt.Errorf("%s: required %q missing", at, r)
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ps, ok := props[k].(map[string]any)
		if !ok {
			if extra, ok := s["additionalProperties"].(map[string]any); ok {
				ps = extra
			} else if s["additionalProperties"] == false {
				return fmt.Errorf("%s: property %q not in the schema", at, k)
			} else {
				continue
			}
		}
		if err := validate(schemas, ps, obj[k], at+"."+k); err != nil {
			return err
		}
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}
