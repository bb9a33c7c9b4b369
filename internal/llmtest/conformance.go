// Package llmtest holds test support: fake upstream servers that speak the
// providers' real wire protocols (one sub-package each) and the
// conformance suite every provider adapter must pass.
package llmtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Scenario is a behaviour a fake upstream can be told to play for the
// next request it receives.
type Scenario int

// Conformance scenarios. Every fake upstream implements each one in its
// provider's exact wire format.
const (
	// ScenarioText streams TextDeltas and reports TextUsage on the last
	// chunk (or in the final non-stream body) with finish reason "stop".
	ScenarioText Scenario = iota
	// ScenarioToolCall answers with one call of ToolName with ToolArgs.
	ScenarioToolCall
	// ScenarioRateLimited answers 429 with a retry hint of RetryHint, in
	// the provider's own form (Gemini RetryInfo, Retry-After, ...).
	ScenarioRateLimited
	// ScenarioServerError answers 500 with the provider's error body.
	ScenarioServerError
	// ScenarioCutMidStream streams the first two TextDeltas, then closes
	// the connection without the provider's end marker.
	ScenarioCutMidStream
)

// The fixed data of the scenarios.
var (
	TextDeltas = []string{"Hello", ", ", "world"}
	TextUsage  = llm.Usage{InputTokens: 12, OutputTokens: 3, TotalTokens: 15}
	ToolName   = "get_weather"
	ToolArgs   = `{"city":"Paris"}`
	RetryHint  = 2 * time.Second
)

// Scripter is what each fake upstream exposes to the conformance suite.
type Scripter interface {
	// Next makes the next request the fake receives play s.
	Next(s Scenario)
}

// ConformanceRequest is the request the suite sends. Tool scenarios add
// the get_weather tool.
func ConformanceRequest(model string) *llm.Request {
	t := 0.2
	return &llm.Request{
		Model:       model,
		System:      "Be brief.",
		Messages:    []llm.Message{{Role: llm.RoleUser, Content: "Say hello"}},
		MaxTokens:   64,
		Temperature: &t,
	}
}

// WeatherTool is the tool the tool-call scenario offers.
var WeatherTool = llm.Tool{
	Name:        "get_weather",
	Description: "Current weather for a city",
	Parameters:  []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
}

// RunConformance runs the shared scenarios against one adapter. setup
// returns the adapter pointed at a fresh fake, the fake's scripter and the
// model name to request.
func RunConformance(t *testing.T, setup func(t *testing.T) (llm.Provider, Scripter, string)) {
	t.Run("text", func(t *testing.T) {
		p, s, model := setup(t)
		s.Next(ScenarioText)
		var deltas []string
		var last llm.Chunk
		n := 0
		for c, err := range p.Stream(context.Background(), ConformanceRequest(model)) {
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if c.Delta != "" {
				deltas = append(deltas, c.Delta)
			}
			last = c
			n++
		}
		if got, want := join(deltas), join(TextDeltas); got != want {
			t.Errorf("text = %q, want %q", got, want)
		}
		if len(deltas) < 2 {
			t.Errorf("got %d deltas, want the answer streamed in pieces", len(deltas))
		}
		if last.Usage == nil {
			t.Fatalf("last chunk carries no usage")
		}
		if last.Usage.InputTokens != TextUsage.InputTokens || last.Usage.OutputTokens != TextUsage.OutputTokens || last.Usage.Total() != TextUsage.Total() {
			t.Errorf("usage = %+v, want %+v", *last.Usage, TextUsage)
		}
		if last.FinishReason != llm.FinishStop {
			t.Errorf("finish reason = %q, want %q", last.FinishReason, llm.FinishStop)
		}
	})
	t.Run("collect", func(t *testing.T) {
		p, s, model := setup(t)
		s.Next(ScenarioText)
		r, err := llm.Collect(p.Stream(context.Background(), ConformanceRequest(model)))
		if err != nil {
			t.Fatalf("collect: %v", err)
		}
		if r.Text != join(TextDeltas) || r.Usage.Total() != TextUsage.Total() || r.Model == "" || r.Provider == "" {
			t.Errorf("response = %+v", r)
		}
	})
	t.Run("tool call", func(t *testing.T) {
		p, s, model := setup(t)
		s.Next(ScenarioToolCall)
		req := ConformanceRequest(model)
		req.Messages[0].Content = "Weather in Paris?"
		req.Tools = []llm.Tool{WeatherTool}
		r, err := llm.Collect(p.Stream(context.Background(), req))
		if err != nil {
			t.Fatalf("collect: %v", err)
		}
		if len(r.ToolCalls) != 1 || r.ToolCalls[0].Name != ToolName || !sameJSON(r.ToolCalls[0].Arguments, ToolArgs) {
			t.Fatalf("tool calls = %+v", r.ToolCalls)
		}
		if r.FinishReason != llm.FinishToolCalls {
			t.Errorf("finish reason = %q, want %q", r.FinishReason, llm.FinishToolCalls)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		p, s, model := setup(t)
		s.Next(ScenarioRateLimited)
		_, err := llm.Collect(p.Stream(context.Background(), ConformanceRequest(model)))
		if llm.KindOf(err) != llm.KindRateLimited || !llm.Retryable(err) {
			t.Fatalf("err = %v (kind %v), want rate_limited", err, llm.KindOf(err))
		}
		if got := llm.RetryAfter(err); got != RetryHint {
			t.Errorf("retry after = %v, want %v", got, RetryHint)
		}
	})
	t.Run("server error", func(t *testing.T) {
		p, s, model := setup(t)
		s.Next(ScenarioServerError)
		_, err := llm.Collect(p.Stream(context.Background(), ConformanceRequest(model)))
		if llm.KindOf(err) != llm.KindUnavailable || !llm.Retryable(err) {
			t.Fatalf("err = %v (kind %v), want unavailable", err, llm.KindOf(err))
		}
		var e *llm.Error
		if !errors.As(err, &e) || e.StatusCode != 500 {
			t.Errorf("status code not kept: %v", err)
		}
	})
	t.Run("cut mid-stream", func(t *testing.T) {
		p, s, model := setup(t)
		s.Next(ScenarioCutMidStream)
		r, err := llm.Collect(p.Stream(context.Background(), ConformanceRequest(model)))
		if err == nil {
			t.Fatalf("a cut stream ended cleanly with %q", r.Text)
		}
		if !llm.Retryable(err) {
			t.Errorf("cut stream error %v (kind %v) is not retryable", err, llm.KindOf(err))
		}
		if r.Text != TextDeltas[0]+TextDeltas[1] {
			t.Errorf("partial text = %q, want %q", r.Text, TextDeltas[0]+TextDeltas[1])
		}
	})
}

func join(ss []string) string {
	out := ""
	for _, s := range ss {
		out += s
	}
	return out
}
