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

// fastResponse decodes data into r (which must be zero, or emptied by
// reuse) and reports whether it could; on false r holds garbage.
func fastResponse(data string, r *generateResponse) bool {
	p := scanner{jsonscan.New(data)}
	p.WS()
	ok := p.Object(func(key string) (int, bool) {
		switch key {
		case "candidates":
			return 0, p.candidates(&r.Candidates)
		case "usageMetadata":
			return 1, p.usage(&r.UsageMetadata, r.spare)
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

// candidates reads the list into *out, reusing its array and the
// content objects its elements held (generateResponse.reuse).
func (p *scanner) candidates(out *[]candidate) bool {
	if p.Null() {
		*out = nil
		return true
	}
	cs := (*out)[:0]
	if cs == nil {
		cs = []candidate{}
	}
	ok := p.Array(func() bool {
		var c candidate
		var spare *content // what the element this one overwrites held
		if len(cs) < cap(cs) {
			spare = cs[:len(cs)+1][len(cs)].Content
		}
		ok := p.Object(func(key string) (int, bool) {
			switch key {
			case "content":
				if p.Null() {
					c.Content = nil
					return 0, true
				}
				c.Content = emptied(spare)
				return 0, p.content(c.Content)
			case "finishReason":
				return 1, p.Str(&c.FinishReason)
			case "index":
				return 2, p.Int(&c.Index)
			}
			return jsonscan.NoField, p.Other(key, "content", "finishReason", "index")
		})
		cs = append(cs, c)
		return ok
	})
	*out = cs
	return ok
}

// emptied returns c emptied but for its parts' array, or a new content.
func emptied(c *content) *content {
	if c == nil {
		return &content{}
	}
	*c = content{Parts: c.Parts[:0]}
	return c
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
			parts := c.Parts[:0] // an emptied content's array
			if parts == nil {
				parts = []part{}
			}
			ok := p.Array(func() bool {
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
				parts = append(parts, pt)
				return ok
			})
			c.Parts = parts
			return 1, ok
		}
		return jsonscan.NoField, p.Other(key, "role", "parts")
	})
}

// usage reads the usage object into *out: spare, emptied, when there
// is one (generateResponse.reuse).
func (p *scanner) usage(out **usageMetadata, spare *usageMetadata) bool {
	if p.Null() {
		*out = nil
		return true
	}
	u := spare
	if u == nil {
		u = &usageMetadata{}
	} else {
		*u = usageMetadata{}
	}
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
