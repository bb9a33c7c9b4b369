package gemini

import (
	"net/http"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// TestContextWindowDetail: Gemini's prompt-too-long 400 is marked
// DetailContextWindow (the router's context_window fallback); other 400s
// are not.
func TestContextWindowDetail(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want string
	}{
		{"The input token count (3475108) exceeds the maximum number of tokens allowed (1048576).", llm.DetailContextWindow},
		{"Invalid value at 'generation_config.temperature'", ""},
	} {
		err := errorMapper{}.fromStatus(http.StatusBadRequest, http.Header{}, &apiError{Code: 400, Status: "INVALID_ARGUMENT", Message: tc.msg})
		if llm.KindOf(err) != llm.KindInvalid || llm.DetailOf(err) != tc.want || (llm.Cause(err) == llm.CauseContextWindow) != (tc.want != "") {
			t.Errorf("%q: kind %v detail %q cause %q", tc.msg, llm.KindOf(err), llm.DetailOf(err), llm.Cause(err))
		}
	}
}
