package llm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Kind classifies an error so that the router can decide what to do and
// the HTTP layer can pick a status. Adapters classify once; nobody parses
// error strings afterwards.
type Kind int

// Error kinds.
const (
	KindInternal     Kind = iota // a bug or an unclassified failure
	KindInvalid                  // the request is wrong; retrying cannot help
	KindUnauthorized             // bad or missing credentials
	KindForbidden                // credentials valid, access denied
	KindNotFound                 // unknown model or endpoint
	KindRateLimited              // 429 and friends; RetryAfter may say when
	KindUnavailable              // 5xx, overloaded, connection refused or reset
	KindTimeout                  // deadline passed or upstream stalled
	KindUpstream                 // the upstream answered something unusable (malformed, cut)
	KindCanceled                 // the client went away
	KindEmpty                    // the model produced no answer (thinking used the budget)
	KindBlocked                  // a safety filter refused the prompt or answer
)

var kindNames = [...]string{
	KindInternal:     "internal",
	KindInvalid:      "invalid_request",
	KindUnauthorized: "unauthorized",
	KindForbidden:    "forbidden",
	KindNotFound:     "not_found",
	KindRateLimited:  "rate_limited",
	KindUnavailable:  "unavailable",
	KindTimeout:      "timeout",
	KindUpstream:     "upstream_error",
	KindCanceled:     "canceled",
	KindEmpty:        "empty_answer",
	KindBlocked:      "blocked",
}

// String returns a stable snake_case name, used in logs, metrics and records.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a classified failure. Functions return it as error, never as
// *Error.
type Error struct {
	Kind       Kind
	Provider   string        // the adapter that failed; empty for gateway errors
	StatusCode int           // upstream HTTP status, 0 if none
	RetryAfter time.Duration // server hint (RetryInfo, Retry-After), 0 if none
	Message    string        // safe to show to the client: no secrets, no raw bodies
	Err        error         // the cause, for logs
	Detail     string        // refines Kind for the router (DetailContextWindow, DetailDailyQuota); see cause.go
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Provider != "" {
		return e.Provider + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a classified error whose message is also its public text.
func Errorf(kind Kind, provider, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Provider: provider, Message: err.Error(), Err: err}
}

// KindOf returns the kind of err: the Kind of the first *Error in its
// chain, Canceled or Timeout for context errors, Unavailable for network
// errors, Internal otherwise.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return KindInternal
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return KindTimeout
		}
		return KindUnavailable
	}
	return KindInternal
}

// RetryAfter returns the server's retry hint carried by err, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Retryable reports whether the same request may succeed if sent again
// to the same target: rate limits, overload, 5xx, timeouts and
// connection failures, and answers cut or garbled in transit.
func Retryable(err error) bool {
	switch KindOf(err) {
	case KindRateLimited, KindUnavailable, KindTimeout, KindUpstream:
		return true
	}
	return false
}

// PublicMessage returns the text of err that is safe to show a client.
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	switch KindOf(err) {
	case KindCanceled:
		return "request canceled"
	case KindTimeout:
		return "request timed out"
	case KindUnavailable:
		return "upstream unavailable"
	}
	return "internal error"
}
