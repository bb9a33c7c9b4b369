package llm

import (
	"context"
	"io"
)

type beforeReadKey struct{}

// WithBeforeRead returns ctx carrying f, which an adapter calls before
// every read of a streaming answer's body (ReadsReported), on the
// goroutine that ranges over the stream. Whoever consumes the stream then
// knows when all it was handed is all that has arrived: the moment to
// send it on, where chunks decoded from one read can leave together.
func WithBeforeRead(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, beforeReadKey{}, f)
}

// ReadsReported returns body, calling ctx's WithBeforeRead function
// before each of its reads, or body itself when ctx has none.
func ReadsReported(ctx context.Context, body io.ReadCloser) io.ReadCloser {
	f, _ := ctx.Value(beforeReadKey{}).(func())
	if f == nil {
		return body
	}
	return &reportedReader{ReadCloser: body, before: f}
}

type reportedReader struct {
	io.ReadCloser
	before func()
}

func (r *reportedReader) Read(p []byte) (int, error) {
	r.before()
	return r.ReadCloser.Read(p)
}
