package llm

import "context"

// EmbedRequest asks for one vector per input.
type EmbedRequest struct {
	Model  string
	Inputs []string
	// Dimensions truncates the vectors when the model supports it
	// (Gemini outputDimensionality, OpenAI dimensions); 0 = the model's.
	Dimensions int
	// TaskType is Gemini's task type (RETRIEVAL_QUERY, …); "" = none.
	TaskType string
	User     string
}

// EmbedResponse is the vectors, in input order, and what they cost.
type EmbedResponse struct {
	Vectors  [][]float32
	Usage    Usage // InputTokens only
	Model    string
	Provider string
}

// Embedder is implemented by providers that serve embeddings.
type Embedder interface {
	Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error)
}

// TokenCount is the size of a request's input. Estimated says the
// backend has no exact counter and the number is the gateway's estimate.
type TokenCount struct {
	InputTokens int
	Estimated   bool
}

// TokenCounter is implemented by providers that can count a request's
// input tokens without generating (Gemini countTokens, Anthropic
// count_tokens).
type TokenCounter interface {
	CountTokens(ctx context.Context, req *Request) (TokenCount, error)
}

// EstimateEmbedTokens is the input size of texts at about four bytes a
// token (at least one per text), for backends that report no usage and
// for admission before the call.
func EstimateEmbedTokens(texts []string) int {
	n := 0
	for _, t := range texts {
		n += max(1, (len(t)+3)/4)
	}
	return n
}
