package server

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// TestStreamChunkAllocs: the allocations one text delta costs each
// surface's stream encoder once the stream has started, at most the
// counts below (the /chat, /v1 and Responses encoders append into the
// writer's buffer: none). A pointer taken into the chunk (&c.Delta)
// moves every chunk to the heap, one allocation more, which this
// catches. The race detector moves more to the heap in the encoders
// that use encoding/json; their counts are checked without it.
func TestStreamChunkAllocs(t *testing.T) {
	tests := []struct {
		name string
		f    eventFormat
		max  float64
		json bool // encodes with encoding/json
	}{
		{"chat", &chatEvents{}, 0, false},
		{"v1", &oaEvents{id: "chatcmpl-1", created: 1, model: "m"}, 0, false},
		{"responses", &rsEvents{id: "resp_1"}, 0, false},
		{"legacy", &lcEvents{}, 3, true},
		{"anthropic", &anEvents{}, 4, true},
		{"gemini", &gmEvents{}, 5, true},
	}
	for _, tc := range tests {
		if tc.json && raceEnabled {
			continue
		}
		sw := sse.NewWriter(io.Discard)
		sw.Coalesce()
		c := llm.Chunk{Delta: "tick ", Model: "m", Provider: "p"}
		if err := tc.f.chunk(sw, c); err != nil { // the stream's start events
			t.Fatal(tc.name, err)
		}
		n := testing.AllocsPerRun(100, func() {
			if err := tc.f.chunk(sw, c); err != nil {
				t.Fatal(tc.name, err)
			}
			_ = sw.Flush()
		})
		if n > tc.max {
			t.Errorf("%s: %.1f allocations per text delta, want at most %.0f", tc.name, n, tc.max)
		}
	}
}

// TestRSTextDeltaMatchesJSON: the Responses API's text delta event is
// byte for byte what json.Marshal writes for the map it replaced.
func TestRSTextDeltaMatchesJSON(t *testing.T) {
	for i, s := range jsonStringCases {
		for _, n := range []int{0, 1, i, 1 << 20} {
			id := "msg_" + jsonStringCases[(i+n)%len(jsonStringCases)]
			want, err := json.Marshal(map[string]any{"item_id": id, "output_index": n, "content_index": 0,
				"delta": s, "logprobs": []any{}, "type": "response.output_text.delta", "sequence_number": n + i})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendRSTextDelta(nil, id, n, n+i, s); !bytes.Equal(got, want) {
				t.Errorf("appendRSTextDelta =\n%s\nwant\n%s", got, want)
			}
		}
	}
}
