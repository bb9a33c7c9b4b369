package llm

import (
	"context"
	"fmt"
)

// DetailUnsupported: a backend cannot take the request as asked (images
// for a model that cannot see, several candidates from an API that
// answers one), known before anything is sent.
const DetailUnsupported = "unsupported"

// Capable is implemented by providers that can tell, before sending,
// that their backend cannot take a request at all: images for a
// text-only model, Candidates > 1 from an API that answers one. Accepts
// returns nil when the request may be sent (also when the provider
// cannot find out: a failing probe is the attempt's business), else a
// KindInvalid error with Detail DetailUnsupported naming the backend.
// req.Model is the model that would be sent. The router skips a target
// that does not accept a request and tries the next one.
type Capable interface {
	Accepts(ctx context.Context, req *Request) error
}

// Accepts asks p, or the provider it wraps (a wrapper's Unwrap()
// Provider, as the outbound rate limiter has), whether it can take req;
// nil when none of them implements Capable.
func Accepts(ctx context.Context, p Provider, req *Request) error {
	if c, ok := As[Capable](p); ok {
		return c.Accepts(ctx, req)
	}
	return nil
}

// As returns p, or the first provider it wraps (through Unwrap()
// Provider), that implements T: the optional interfaces (Capable,
// TokenCounter, ModelChecker, Pinger, Embedder) stay reachable behind
// wrappers.
func As[T any](p Provider) (T, bool) {
	for range 8 { // wrappers nest a few deep at most
		if t, ok := p.(T); ok {
			return t, true
		}
		u, ok := p.(interface{ Unwrap() Provider })
		if !ok {
			break
		}
		p = u.Unwrap()
	}
	var zero T
	return zero, false
}

// Unsupported is the error of a Capable provider refusing a request.
func Unsupported(provider, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Kind: KindInvalid, Provider: provider, Detail: DetailUnsupported, Message: msg}
}

// HasImages reports whether any message of req carries images.
func (r *Request) HasImages() bool {
	for i := range r.Messages {
		if len(r.Messages[i].Images) > 0 {
			return true
		}
	}
	return false
}
