package fakegemini

import (
	"encoding/json"
	"fmt"
	"strings"
)

// checkStructured validates the JSON-answer and candidate fields as the
// API does: responseSchema and responseJsonSchema exclude each other and
// need responseMimeType application/json; candidateCount is 1–8.
func checkStructured(g *GenerationConfig) string {
	hasSchema, hasJSONSchema := len(g.ResponseSchema) > 0, len(g.ResponseJSONSchema) > 0
	switch {
	case hasSchema && hasJSONSchema:
		return "* GenerateContentRequest.generation_config: response_schema and response_json_schema cannot both be set.\n"
	case (hasSchema || hasJSONSchema) && g.ResponseMimeType != "application/json":
		return fmt.Sprintf("* GenerateContentRequest.generation_config.response_mime_type: a response schema requires response_mime_type application/json, got %q.\n", g.ResponseMimeType)
	case g.ResponseMimeType != "" && g.ResponseMimeType != "text/plain" && g.ResponseMimeType != "application/json" && g.ResponseMimeType != "text/x.enum":
		return fmt.Sprintf("* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `application/xml`, `application/yaml` and `text/x.enum`, got %q.\n", g.ResponseMimeType)
	case g.CandidateCount < 0 || g.CandidateCount > 8:
		return fmt.Sprintf("* GenerateContentRequest.generation_config.candidate_count: candidate_count must be between 1 and 8, got %d.\n", g.CandidateCount)
	}
	if hasJSONSchema {
		var v map[string]any
		if json.Unmarshal(g.ResponseJSONSchema, &v) != nil {
			return "* GenerateContentRequest.generation_config.response_json_schema: must be a JSON Schema object.\n"
		}
	}
	return ""
}

// checkInlineData validates an inlineData part: a mimeType and base64
// bytes (proto-JSON decodes bytes as standard or URL-safe base64).
func checkInlineData(raw json.RawMessage, i, j int) string {
	if raw == nil {
		return ""
	}
	var b struct {
		MIMEType string `json:"mimeType"`
		Data     []byte `json:"data"`
	}
	at := fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].inline_data", i, j)
	if err := json.Unmarshal(raw, &b); err != nil {
		return at + ".data: Invalid value (bytes): " + err.Error() + "\n"
	}
	if b.MIMEType == "" {
		return at + ".mime_type: mime_type must not be empty.\n"
	}
	if len(b.Data) == 0 {
		return at + ".data: data must not be empty.\n"
	}
	if !strings.Contains(b.MIMEType, "/") {
		return fmt.Sprintf("Unsupported MIME type: %s", b.MIMEType)
	}
	return ""
}
