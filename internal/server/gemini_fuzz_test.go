package server

import (
	"encoding/json"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

func FuzzDecodeGemini(f *testing.F) {
	for _, s := range []string{gmHi, `{}`, `[]`, `null`, `{"contents":"x"}`,
		`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":1}}}]},{"parts":[{"functionResponse":{"name":"f","response":{"r":1}}}]}]}`,
		`{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"aGk="}}]}],"generationConfig":{"maxOutputTokens":5,"temperature":0.1,"stopSequences":["x"]}}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"ARRAY","items":{"type":"STRING"}}}}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","nullable":true}}}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"candidateCount":3}}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"LOW","thinkingBudget":5}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, fail := DecodeGemini(body)
		if fail != nil {
			if fail.status != 400 || fail.message == "" {
				t.Fatalf("bad error %+v", fail)
			}
			return
		}
		r := d.req
		if len(r.Messages) == 0 || r.MaxTokens < 1 || r.MaxTokens > maxTokensLimit || len(r.Stop) > maxGeminiStops ||
			r.Candidates < 0 || r.Candidates > llm.MaxCandidates || (r.ThinkingLevel != "" && r.ThinkingBudget != nil) {
			t.Fatalf("accepted %+v", r)
		}
		if t0 := r.Temperature; t0 != nil && (*t0 < 0 || *t0 > maxTemperature) {
			t.Fatalf("accepted temperature %g", *t0)
		}
		for _, tool := range r.Tools {
			if !validToolName(tool.Name) || (len(tool.Parameters) > 0 && !json.Valid(tool.Parameters)) {
				t.Fatalf("accepted tool %+v", tool)
			}
		}
		for _, m := range r.Messages {
			for _, tc := range m.ToolCalls {
				if tc.ID == "" || !json.Valid([]byte(tc.Arguments)) {
					t.Fatalf("accepted call %+v", tc)
				}
			}
		}
		if r.Schema != nil && !json.Valid(r.Schema.Schema) {
			t.Fatalf("accepted schema %s", r.Schema.Schema)
		}
	})
}
