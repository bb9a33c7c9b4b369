package cache

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
)

// benchResponse is a typical short answer (~1 KB of text).
func benchResponse() *llm.Response {
	return &llm.Response{Text: strings.Repeat("The quick brown fox. ", 50), FinishReason: llm.FinishStop,
		Model: "gemini-2.5-flash", Provider: "gemini", Usage: llm.Usage{InputTokens: 40, OutputTokens: 250, TotalTokens: 290}}
}

func BenchmarkMemoryHit(b *testing.B) {
	m := NewMemory(10_000, time.Hour)
	ctx := context.Background()
	m.Set(ctx, "k", benchResponse(), time.Hour)
	for b.Loop() {
		if _, ok, _ := m.Get(ctx, "k"); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkRedisHit(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	c := NewRedis(rdb, prefix)
	ctx := context.Background()
	if err := c.Set(ctx, "k", benchResponse(), time.Hour); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok, err := c.Get(ctx, "k"); !ok || err != nil {
			b.Fatal("miss", err)
		}
	}
}

func BenchmarkKey(b *testing.B) {
	req := &llm.Request{
		Model: "gemini-2.5-flash", System: "You are a helpful assistant.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: strings.Repeat("What is the weather like? ", 20)},
			{Role: llm.RoleAssistant, Content: "Let me check."},
			{Role: llm.RoleUser, Content: "Thanks."},
		},
		MaxTokens: 256, Temperature: ptr(0.7),
		Tools: []llm.Tool{{Name: "weather", Description: "current weather",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}},
	}
	for b.Loop() {
		Key("gemini", req)
	}
}
