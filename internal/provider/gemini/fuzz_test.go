package gemini

import (
	"encoding/json"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// FuzzDecodeChunk feeds arbitrary event data to the chunk decoder: it
// must never panic, and whatever it accepts must be well formed.
func FuzzDecodeChunk(f *testing.F) {
	for _, seed := range []string{
		`{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"x"}`,
		`{"candidates":[{"content":{"parts":[{"text":"t","thought":true},{"text":"a"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1,"thoughtsTokenCount":9,"totalTokenCount":15}}`,
		`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":[1,2]}}}]},"finishReason":"STOP","index":0}]}`,
		`{"candidates":[{"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"thoughtsTokenCount":63}}`,
		`{"promptFeedback":{"blockReason":"SAFETY"}}`,
		`{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}`,
		`{"candidates":null}`, `[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoder("gemini-2.5-flash", errorMapper{key: "k"})
		c, err := d.decode(string(data), false)
		if err != nil {
			if llm.KindOf(err) == llm.KindInternal {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if c.Provider != ProviderName {
			t.Fatalf("chunk without provider: %+v", c)
		}
		for _, tc := range c.ToolCalls {
			if tc.ID == "" || !json.Valid([]byte(tc.Arguments)) {
				t.Fatalf("bad tool call %+v", tc)
			}
		}
		final, err := d.end()
		if err == nil && final.FinishReason == "" {
			t.Fatalf("final chunk without finish reason: %+v", final)
		}
	})
}
