package openai

import (
	"net/http"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// TestContextWindowDetail: OpenAI's context_length_exceeded 400 (and a
// compatible server's same text without the code) is DetailContextWindow.
func TestContextWindowDetail(t *testing.T) {
	c := New(Config{APIKey: "k"})
	for _, tc := range []struct {
		e    apiError
		want string
	}{
		{apiError{Type: "invalid_request_error", Code: "context_length_exceeded", Message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens."}, llm.DetailContextWindow},
		{apiError{Type: "invalid_request_error", Message: "This model's maximum context length is 4096 tokens."}, llm.DetailContextWindow},
		{apiError{Type: "invalid_request_error", Code: "unsupported_parameter", Message: "Unsupported parameter: 'temperature'"}, ""},
	} {
		err := c.apiError(http.StatusBadRequest, &tc.e, http.Header{})
		if llm.KindOf(err) != llm.KindInvalid || llm.DetailOf(err) != tc.want {
			t.Errorf("%+v: kind %v detail %q", tc.e, llm.KindOf(err), llm.DetailOf(err))
		}
	}
}
