package openai

import (
	"encoding/base64"
	"errors"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// encodeResponseFormat maps Request.Schema to {"type":"json_schema"} and
// Request.JSON to {"type":"json_object"}; neither sends nothing.
func encodeResponseFormat(req *llm.Request) *responseFormat {
	if s := req.Schema; s != nil {
		name := s.Name
		if name == "" {
			name = "response" // OpenAI requires a name
		}
		return &responseFormat{Type: "json_schema", JSONSchema: &jsonSchema{Name: name, Schema: s.Schema, Strict: s.Strict}}
	}
	if req.JSON {
		return &responseFormat{Type: "json_object"}
	}
	return nil
}

// encodeParts renders a user turn with images as content parts: the
// text first, then each image as an image_url holding a data URL (the
// gateway's image policy has already turned every URL into bytes).
func encodeParts(m *llm.Message) ([]contentPart, error) {
	parts := make([]contentPart, 0, len(m.Images)+1)
	if m.Content != "" {
		parts = append(parts, contentPart{Type: "text", Text: m.Content})
	}
	for _, img := range m.Images {
		if len(img.Data) == 0 || img.MIMEType == "" {
			return nil, errors.New("an image without inline data")
		}
		url := "data:" + img.MIMEType + ";base64," + base64.StdEncoding.EncodeToString(img.Data)
		parts = append(parts, contentPart{Type: "image_url", ImageURL: &imageURL{URL: url}})
	}
	return parts, nil
}
