package cache

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

func ptr[T any](v T) *T { return &v }

// base returns a request with every field set.
func base() *llm.Request {
	return &llm.Request{
		Model:  "gemini-2.5-flash",
		System: "be brief",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "weather in Paris?"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "weather", Arguments: `{"city":"Paris","unit":"c"}`}}},
			{Role: llm.RoleTool, ToolCallID: "c1", Name: "weather", Content: "21C"},
		},
		MaxTokens:   200,
		Temperature: ptr(0.2),
		TopP:        ptr(0.9),
		Stop:        []string{"END", "STOP"},
		Seed:        ptr[int64](7),
		JSON:        true,
		Tools: []llm.Tool{{Name: "weather", Description: "current weather",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}},"required":["city"]}`)}},
		ToolChoice:     "auto",
		User:           "alice",
		ThinkingBudget: ptr(0),
	}
}

func TestKeyEqual(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *llm.Request)
	}{
		{"identical", func(r *llm.Request) {}},
		{"tool schema key order and spacing", func(r *llm.Request) {
			r.Tools[0].Parameters = json.RawMessage(`{ "required": ["city"], "properties": {"unit": {"enum": ["c","f"]}, "city": {"type":"string"}}, "type": "object" }`)
		}},
		{"tool call argument key order", func(r *llm.Request) {
			r.Messages[1].ToolCalls[0].Arguments = `{"unit": "c", "city": "Paris"}`
		}},
		{"stop order and duplicates", func(r *llm.Request) { r.Stop = []string{"STOP", "END", "STOP"} }},
		{"user is not part of the question", func(r *llm.Request) { r.User = "bob" }},
		{"nil and empty slices", func(r *llm.Request) { r.Stop, r.Tools, r.Messages[1].ToolCalls = nil, nil, nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base(), base()
			tt.change(b)
			if tt.name == "nil and empty slices" {
				a.Stop, a.Tools, a.Messages[1].ToolCalls = []string{}, []llm.Tool{}, []llm.ToolCall{}
			}
			if Key("gemini", a) != Key("gemini", b) {
				t.Fatal("keys differ for equal requests")
			}
		})
	}
}

func TestKeyUnequal(t *testing.T) {
	tests := []struct {
		name   string
		route  string
		change func(r *llm.Request)
	}{
		{"route", "ollama", func(r *llm.Request) {}},
		{"model", "", func(r *llm.Request) { r.Model = "gemini-2.5-pro" }},
		{"system", "", func(r *llm.Request) { r.System = "be verbose" }},
		{"message text", "", func(r *llm.Request) { r.Messages[0].Content = "weather in Rome?" }},
		{"message role", "", func(r *llm.Request) { r.Messages[0].Role = llm.RoleAssistant }},
		{"one more message", "", func(r *llm.Request) {
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleUser, Content: "thanks"})
		}},
		{"message order", "", func(r *llm.Request) { r.Messages[1], r.Messages[2] = r.Messages[2], r.Messages[1] }},
		{"tool call arguments", "", func(r *llm.Request) { r.Messages[1].ToolCalls[0].Arguments = `{"city":"Rome","unit":"c"}` }},
		{"tool call id", "", func(r *llm.Request) { r.Messages[1].ToolCalls[0].ID = "c2" }},
		{"tool result id", "", func(r *llm.Request) { r.Messages[2].ToolCallID = "c2" }},
		{"max tokens", "", func(r *llm.Request) { r.MaxTokens = 201 }},
		{"temperature", "", func(r *llm.Request) { r.Temperature = ptr(0.3) }},
		{"temperature unset", "", func(r *llm.Request) { r.Temperature = nil }},
		{"temperature zero", "", func(r *llm.Request) { r.Temperature = ptr(0.0) }},
		{"top_p", "", func(r *llm.Request) { r.TopP = ptr(1.0) }},
		{"stop", "", func(r *llm.Request) { r.Stop = []string{"END"} }},
		{"seed", "", func(r *llm.Request) { r.Seed = ptr[int64](8) }},
		{"json", "", func(r *llm.Request) { r.JSON = false }},
		{"tool schema", "", func(r *llm.Request) {
			r.Tools[0].Parameters = json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)
		}},
		{"tool description", "", func(r *llm.Request) { r.Tools[0].Description = "weather now" }},
		{"no tools", "", func(r *llm.Request) { r.Tools = nil }},
		{"tool choice", "", func(r *llm.Request) { r.ToolChoice = "required" }},
		{"thinking budget", "", func(r *llm.Request) { r.ThinkingBudget = ptr(1024) }},
		{"thinking level", "", func(r *llm.Request) { r.ThinkingLevel = "high" }},
		{"an image", "", func(r *llm.Request) {
			r.Messages[0].Images = []llm.Image{{MIMEType: "image/png", Data: []byte("png1")}}
		}},
		{"other image bytes", "", func(r *llm.Request) {
			r.Messages[0].Images = []llm.Image{{MIMEType: "image/png", Data: []byte("png2")}}
		}},
		{"other image type", "", func(r *llm.Request) {
			r.Messages[0].Images = []llm.Image{{MIMEType: "image/jpeg", Data: []byte("png1")}}
		}},
		{"two images", "", func(r *llm.Request) {
			r.Messages[0].Images = []llm.Image{{MIMEType: "image/png", Data: []byte("png1")}, {MIMEType: "image/png", Data: []byte("png1")}}
		}},
		{"an image URL", "", func(r *llm.Request) { r.Messages[0].Images = []llm.Image{{URL: "https://example.com/a.png"}} }},
		{"schema", "", func(r *llm.Request) { r.Schema = &llm.Schema{Name: "a", Schema: json.RawMessage(`{"type":"object"}`)} }},
		{"schema name", "", func(r *llm.Request) { r.Schema = &llm.Schema{Name: "b", Schema: json.RawMessage(`{"type":"object"}`)} }},
		{"schema body", "", func(r *llm.Request) { r.Schema = &llm.Schema{Name: "a", Schema: json.RawMessage(`{"type":"array"}`)} }},
		{"schema strict", "", func(r *llm.Request) {
			r.Schema = &llm.Schema{Name: "a", Schema: json.RawMessage(`{"type":"object"}`), Strict: true}
		}},
		{"candidates", "", func(r *llm.Request) { r.Candidates = 2 }},
		{"invalid JSON arguments kept apart from the same text as JSON", "", func(r *llm.Request) {
			r.Messages[1].ToolCalls[0].Arguments = `"abc"`
		}},
	}
	ref := Key("gemini", base())
	seen := map[string]string{ref: "base"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.change(r)
			route := "gemini"
			if tt.route != "" {
				route = tt.route
			}
			k := Key(route, r)
			if other, dup := seen[k]; dup {
				t.Fatalf("key equals the key of %q", other)
			}
			seen[k] = tt.name
		})
	}
	// Text that is not JSON and the JSON string of that text differ.
	a, b := base(), base()
	a.Messages[1].ToolCalls[0].Arguments = `abc`
	b.Messages[1].ToolCalls[0].Arguments = `"abc"`
	if Key("g", a) == Key("g", b) {
		t.Fatal("invalid JSON collides with a JSON string")
	}
}

func TestKeyShape(t *testing.T) {
	k := Key("gemini", &llm.Request{Temperature: ptr(nanValue())})
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(k) {
		t.Fatalf("key %q is not a sha256 hex", k)
	}
	if Key("gemini", base()) != Key("gemini", base()) {
		t.Fatal("Key is not deterministic")
	}
}

func nanValue() float64 {
	var zero float64
	return zero / zero
}

func TestKeyFieldBoundaries(t *testing.T) {
	// Pairs that a careless concatenation would confuse.
	msgs := func(m ...llm.Message) *llm.Request { return &llm.Request{Model: "m", Messages: m} }
	tests := []struct {
		name string
		a, b *llm.Request
	}{
		{"text split across messages",
			msgs(llm.Message{Role: "user", Content: "ab"}, llm.Message{Role: "user", Content: "c"}),
			msgs(llm.Message{Role: "user", Content: "a"}, llm.Message{Role: "user", Content: "bc"})},
		{"call id of a tool call or of the message",
			msgs(llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{ID: "x"}}}),
			msgs(llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{}}, ToolCallID: "x"})},
		{"name of a tool call or of the message",
			msgs(llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{Name: "f"}}}),
			msgs(llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{}}, Name: "f"})},
		{"system or first message",
			&llm.Request{System: "hi"},
			msgs(llm.Message{Content: "hi"})},
		{"model or route", &llm.Request{Model: "ab"}, &llm.Request{Model: "b"}},
		{"empty tool call or none",
			msgs(llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{}}}),
			msgs(llm.Message{Role: "assistant"})},
		{"one stop with a comma or two",
			&llm.Request{Stop: []string{"a,b"}}, &llm.Request{Stop: []string{"a", "b"}}},
	}
	for _, tt := range tests {
		ra, rb := "r", "r"
		if tt.name == "model or route" {
			ra, rb = "r", "ra"
		}
		if Key(ra, tt.a) == Key(rb, tt.b) {
			t.Errorf("%s: equal keys", tt.name)
		}
	}
}
