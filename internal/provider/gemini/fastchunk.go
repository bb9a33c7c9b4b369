package gemini

import (
	"encoding/json"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
)

// decodeResponse decodes one GenerateContentResponse (a streamed chunk
// or a whole generateContent body). Almost every chunk has the same
// small shape — text parts, the usage snapshot, modelVersion — and
// encoding/json (reflection, a pointer and a slice per level) was a fifth
// of the service's CPU on a streamed /chat plus the garbage the
// collector then spent as much on. fastResponse reads that shape;
// anything else (function calls, prompt feedback, errors, escaped
// strings, repeated keys...) goes to json.Unmarshal, which stays the
// reference: FuzzFastResponse checks both agree on every input the fast
// path accepts.
func decodeResponse(data string, r *generateResponse) error {
	if fastResponse(data, r) {
		return nil
	}
	*r = generateResponse{}
	return json.Unmarshal([]byte(data), r)
}

// scanner is jsonscan's reader with the response's own readers.
type scanner struct{ jsonscan.Scanner }

// fastResponse decodes data into r (which must be zero) and reports
// whether it could; on false r holds garbage.
func fastResponse(data string, r *generateResponse) bool {
	p := scanner{jsonscan.New(data)}
	p.WS()
	ok := p.Object(func(key string) (int, bool) {
		switch key {
		case "candidates":
			return 0, p.candidates(&r.Candidates)
		case "usageMetadata":
			return 1, p.usage(&r.UsageMetadata)
		case "modelVersion":
			return 2, p.Str(&r.ModelVersion)
		case "responseId":
			return 3, p.Str(&r.ResponseID)
		case "promptFeedback": // json.Unmarshal reads it
			return 4, p.Null()
		case "error": // json.Unmarshal reads it
			return 5, p.Null()
		}
		return jsonscan.NoField, p.Other(key, "candidates", "usageMetadata", "modelVersion", "responseId", "promptFeedback", "error")
	})
	return ok && p.AtEnd()
}

func (p *scanner) candidates(out *[]candidate) bool {
	if p.Null() {
		*out = nil
		return true
	}
	*out = []candidate{}
	return p.Array(func() bool {
		var c candidate
		ok := p.Object(func(key string) (int, bool) {
			switch key {
			case "content":
				if p.Null() {
					c.Content = nil
					return 0, true
				}
				c.Content = &content{}
				return 0, p.content(c.Content)
			case "finishReason":
				return 1, p.Str(&c.FinishReason)
			case "index":
				return 2, p.Int(&c.Index)
			}
			return jsonscan.NoField, p.Other(key, "content", "finishReason", "index")
		})
		*out = append(*out, c)
		return ok
	})
}

func (p *scanner) content(c *content) bool {
	return p.Object(func(key string) (int, bool) {
		switch key {
		case "role":
			return 0, p.Str(&c.Role)
		case "parts":
			if p.Null() {
				c.Parts = nil
				return 1, true
			}
			c.Parts = []part{}
			return 1, p.Array(func() bool {
				var pt part
				ok := p.Object(func(key string) (int, bool) {
					switch key {
					case "text":
						return 0, p.Str(&pt.Text)
					case "thought":
						return 1, p.Bool(&pt.Thought)
					case "functionCall": // json.Unmarshal reads it
						return 2, p.Null()
					case "functionResponse":
						return 3, p.Null()
					}
					return jsonscan.NoField, p.Other(key, "text", "thought", "functionCall", "functionResponse")
				})
				c.Parts = append(c.Parts, pt)
				return ok
			})
		}
		return jsonscan.NoField, p.Other(key, "role", "parts")
	})
}

func (p *scanner) usage(out **usageMetadata) bool {
	if p.Null() {
		*out = nil
		return true
	}
	u := &usageMetadata{}
	*out = u
	return p.Object(func(key string) (int, bool) {
		switch key {
		case "promptTokenCount":
			return 0, p.Int(&u.PromptTokenCount)
		case "candidatesTokenCount":
			return 1, p.Int(&u.CandidatesTokenCount)
		case "thoughtsTokenCount":
			return 2, p.Int(&u.ThoughtsTokenCount)
		case "cachedContentTokenCount":
			return 3, p.Int(&u.CachedContentTokenCount)
		case "toolUsePromptTokenCount":
			return 4, p.Int(&u.ToolUsePromptTokenCount)
		case "totalTokenCount":
			return 5, p.Int(&u.TotalTokenCount)
		}
		return jsonscan.NoField, p.Other(key, "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
			"cachedContentTokenCount", "toolUsePromptTokenCount", "totalTokenCount")
	})
}
