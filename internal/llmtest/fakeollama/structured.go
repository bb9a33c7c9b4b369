package fakeollama

import (
	"bytes"
	"encoding/json"
	"strings"
)

// VisionModel (add it with AddModel) is a model the fake lists with
// the "vision" capability, as it does the well-known vision families
// (llava*, *vision*); the others ("tiny", "tiny-random", "llama2") are
// text-only like the real test server's, and, like Ollama, the fake
// silently ignores images sent to them.
const VisionModel = "tiny-vision"

func capabilities(model string) []string {
	name := baseName(model)
	if strings.HasPrefix(name, "llava") || strings.Contains(name, "vision") {
		return []string{"completion", "vision"}
	}
	return []string{"completion", "tools"}
}

// checkFormat validates "format" as Ollama does: absent, "json", or a
// JSON Schema object; anything else is a 400.
func checkFormat(f json.RawMessage) string {
	f = bytes.TrimSpace(f)
	if len(f) == 0 || string(f) == "null" || string(f) == `""` || string(f) == `"json"` {
		return ""
	}
	if f[0] == '{' && json.Valid(f) {
		return ""
	}
	return `invalid format: expected "json" or a valid JSON schema`
}
