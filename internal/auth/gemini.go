package auth

import (
	"net/http"
	"strings"
)

// googleKey returns the key of a Gemini-API request: x-goog-api-key
// (what the genai SDKs send), else ?key=. The gateway's own key: it is
// never forwarded upstream, and the request log prints the path only,
// never the query.
func googleKey(r *http.Request) string {
	if k := strings.TrimSpace(r.Header.Get("X-Goog-Api-Key")); k != "" {
		return k
	}
	return strings.TrimSpace(r.URL.Query().Get("key"))
}

// WriteGeminiError writes google.rpc.Status in Gemini's shape:
// {"error": {"code", "message", "status"}}.
func WriteGeminiError(w http.ResponseWriter, _ *http.Request, status int, code, message string) {
	rpc := "INTERNAL"
	switch status {
	case http.StatusUnauthorized:
		rpc = "UNAUTHENTICATED"
		if code == "missing_api_key" {
			message = "missing API key: send x-goog-api-key, ?key= or Authorization: Bearer <key>"
		}
	case http.StatusForbidden:
		rpc = "PERMISSION_DENIED"
	case http.StatusServiceUnavailable:
		rpc = "UNAVAILABLE"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": message, "status": rpc}})
}
