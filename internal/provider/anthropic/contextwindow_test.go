package anthropic

import (
	"net/http"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// TestContextWindowDetail: Anthropic's "prompt is too long" 400 is
// DetailContextWindow; other invalid requests are not.
func TestContextWindowDetail(t *testing.T) {
	c := New(Config{APIKey: "k"})
	for _, tc := range []struct {
		msg, want string
	}{
		{"prompt is too long: 208656 tokens > 200000 maximum", llm.DetailContextWindow},
		{"max_tokens: Field required", ""},
	} {
		err := c.apiError(http.StatusBadRequest, &apiError{Type: "invalid_request_error", Message: tc.msg}, http.Header{})
		if llm.KindOf(err) != llm.KindInvalid || llm.DetailOf(err) != tc.want {
			t.Errorf("%q: kind %v detail %q", tc.msg, llm.KindOf(err), llm.DetailOf(err))
		}
	}
}
