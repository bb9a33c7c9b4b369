package gemini

import (
	"errors"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// structured sets the JSON answer fields: responseMimeType
// application/json for Request.JSON and Request.Schema, the schema in
// responseJsonSchema (which takes standard JSON Schema, as OpenAI-style
// clients write it), and candidateCount for Request.Candidates > 1.
func structured(g *generationConfig, req *llm.Request) {
	if req.JSON || req.Schema != nil {
		g.ResponseMimeType = "application/json"
	}
	if req.Schema != nil && len(req.Schema.Schema) > 0 {
		g.ResponseJSONSchema = req.Schema.Schema
	}
	if req.Candidates > 1 {
		g.CandidateCount = req.Candidates
	}
}

// addImages appends each image as an inlineData part after the text.
func addImages(c *content, imgs []llm.Image) error {
	for _, img := range imgs {
		if len(img.Data) == 0 || img.MIMEType == "" {
			return errors.New("an image without inline data")
		}
		c.Parts = append(c.Parts, part{InlineData: &blob{MIMEType: img.MIMEType, Data: img.Data}})
	}
	return nil
}
