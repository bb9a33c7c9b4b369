package route

import "strings"

// contextWindows are the input context windows, in tokens, of the hosted
// models by name prefix (the longest matching prefix wins). Sources, read
// 2025-11:
//   - Gemini: https://ai.google.dev/gemini-api/docs/models (input token
//     limit 1,048,576 for 2.5 Pro/Flash/Flash-Lite and 2.0 Flash; the
//     API's own 400 says "maximum number of tokens allowed (1048576)").
//   - OpenAI: https://platform.openai.com/docs/models (gpt-4o and
//     gpt-4o-mini 128,000; gpt-4.1 family 1,047,576; o3 and o4-mini
//     200,000; gpt-5 family 400,000).
//   - Anthropic: https://docs.anthropic.com/en/docs/about-claude/models
//     (200,000 for every Claude 3.x and 4.x model by default).
//
// Local models (Ollama, OpenAI-compatible servers) depend on how they
// were loaded: unknown, never skipped.
var contextWindows = []struct {
	provider, prefix string
	tokens           int
}{
	{"google", "gemini-2.5-", 1_048_576},
	{"google", "gemini-2.0-flash", 1_048_576},
	{"google", "gemini-3", 1_048_576},
	{"openai", "gpt-4o", 128_000},
	{"openai", "gpt-4.1", 1_047_576},
	{"openai", "gpt-5", 400_000},
	{"openai", "o3", 200_000},
	{"openai", "o4-mini", 200_000},
	{"anthropic", "claude-", 200_000},
}

// ContextWindow returns the context window of provider's model in
// tokens, 0 when unknown.
func ContextWindow(provider, model string) int {
	best, n := 0, 0
	for _, w := range contextWindows {
		if w.provider == provider && strings.HasPrefix(model, w.prefix) && len(w.prefix) > best {
			best, n = len(w.prefix), w.tokens
		}
	}
	return n
}
