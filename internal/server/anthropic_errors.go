package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// StatusOverloaded is Anthropic's 529: the service cannot take the
// request now (every backend down, shutting down). The SDKs retry it.
const StatusOverloaded = 529

// anErrorBody is Anthropic's error body:
// {"type":"error","error":{"type":...,"message":...},"request_id":...}.
type anErrorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

func anErrorJSON(typ, msg, requestID string) []byte {
	var b anErrorBody
	b.Type, b.Error.Type, b.Error.Message, b.RequestID = "error", typ, msg, requestID
	out, _ := json.Marshal(b)
	return out
}

func writeAnFail(w http.ResponseWriter, r *http.Request, f *anFail) {
	body := anErrorJSON(f.typ, f.msg, RequestID(r.Context()))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_, _ = w.Write(append(body, '\n'))
}

// anFailFor maps a gateway error to Anthropic's status and error type
// (wire.md §5.4). The message is the error's public text: never a key
// nor a raw upstream body.
func anFailFor(err error) *anFail {
	status := statusOf(err)
	f := &anFail{status: status, typ: "api_error", msg: publicMessage(err)}
	switch {
	case errors.Is(err, gateway.ErrNoRoute) || status == http.StatusNotFound:
		f.typ = "not_found_error"
	case status == http.StatusBadRequest:
		f.typ = "invalid_request_error"
	case status == http.StatusUnauthorized:
		f.typ = "authentication_error"
	case status == http.StatusForbidden:
		f.typ = "permission_error"
	case status == http.StatusRequestEntityTooLarge:
		f.typ = "request_too_large"
	case status == http.StatusTooManyRequests:
		f.typ = "rate_limit_error"
	case status == http.StatusServiceUnavailable:
		f.status, f.typ = StatusOverloaded, "overloaded_error"
	case status == http.StatusGatewayTimeout:
		f.typ = "timeout_error"
	case status == 499:
		f.msg = "request canceled"
	}
	return f
}

// anErrorFor answers err before any byte of the answer was sent.
func (s *Server) anErrorFor(w http.ResponseWriter, r *http.Request, err error) {
	setRetryAfter(w.Header(), err)
	annotate(w, slog.String("error_kind", llm.KindOf(err).String()))
	writeAnFail(w, r, anFailFor(err))
}

// WriteAnthropicAuthError answers a request refused by authentication in
// Anthropic's shape; it has the signature of auth.ErrorWriter.
func WriteAnthropicAuthError(w http.ResponseWriter, r *http.Request, status int, _, message string) {
	f := &anFail{status: status, typ: "authentication_error", msg: message}
	switch {
	case status == http.StatusForbidden:
		f.typ = "permission_error"
	case status == http.StatusServiceUnavailable:
		f.status, f.typ = StatusOverloaded, "overloaded_error"
	case status >= 500:
		f.typ = "api_error"
	}
	writeAnFail(w, r, f)
}
