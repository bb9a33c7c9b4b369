package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// statusOf is the one place that maps an error to an HTTP status.
// Upstream credential problems are the operator's, not the caller's:
// they become 502, never 401.
func statusOf(err error) int {
	if errors.Is(err, gateway.ErrNoRoute) {
		return http.StatusNotFound
	}
	upstream := fromProvider(err)
	switch llm.KindOf(err) {
	case llm.KindInvalid, llm.KindBlocked:
		return http.StatusBadRequest
	case llm.KindUnauthorized:
		if upstream {
			return http.StatusBadGateway
		}
		return http.StatusUnauthorized
	case llm.KindForbidden:
		if upstream {
			return http.StatusBadGateway
		}
		return http.StatusForbidden
	case llm.KindNotFound:
		return http.StatusNotFound
	case llm.KindRateLimited:
		return http.StatusTooManyRequests
	case llm.KindUnavailable:
		return http.StatusServiceUnavailable
	case llm.KindTimeout:
		return http.StatusGatewayTimeout
	case llm.KindUpstream, llm.KindEmpty:
		return http.StatusBadGateway
	case llm.KindCanceled:
		return 499 // client closed request; nobody reads it
	}
	return http.StatusInternalServerError
}

// fromProvider reports whether err, or an error it wraps (a router's
// final error joins every target's), came from a provider adapter.
func fromProvider(err error) bool {
	var e *llm.Error
	if errors.As(err, &e) && e.Provider != "" {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return u.Unwrap() != nil && fromProvider(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, x := range u.Unwrap() {
			if fromProvider(x) {
				return true
			}
		}
	}
	return false
}

// publicMessage is the text a client may see.
func publicMessage(err error) string {
	if errors.Is(err, gateway.ErrNoRoute) {
		return err.Error()
	}
	return llm.PublicMessage(err)
}

// setRetryAfter sends the error's retry hint in whole seconds, rounded
// up. A 429 always carries one (at least 1 s), with or without a hint.
func setRetryAfter(h http.Header, err error) {
	d := llm.RetryAfter(err)
	if d <= 0 {
		if llm.KindOf(err) != llm.KindRateLimited {
			return
		}
		d = time.Second
	}
	h.Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
}

// writeDetail writes FastAPI's error shape: {"detail": ...}.
func writeDetail(w http.ResponseWriter, status int, detail any) {
	writeJSON(w, status, map[string]any{"detail": detail})
}

// jsonContentType is the Content-Type value of every JSON answer, shared
// (header values are replaced, never written in place).
var jsonContentType = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if p, ok := v.(*pooledJSON); ok {
		p.b = writeBody(w, status, p.b) // net/http has copied it: the buffer is free again
		p.release()
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"internal error"}`)
	}
	writeBody(w, status, b)
}

// writeBody writes the JSON body b and a final newline (appended to b,
// which it returns).
func writeBody(w http.ResponseWriter, status int, b []byte) []byte {
	w.Header()["Content-Type"] = jsonContentType
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	b = append(b, '\n')
	_, _ = w.Write(b)
	return b
}
