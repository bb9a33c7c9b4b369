package llmtest

import (
	"encoding/json"
	"testing"
)

// JSONField decodes body, a JSON object (an encoded upstream request),
// and returns its top-level field as encoding/json decodes it into an
// any (nil when it is absent), for a cmp.Diff against a table's want. A
// body that is not a JSON object fails the test.
func JSONField(t testing.TB, body []byte, field string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v", err)
	}
	return m[field]
}
