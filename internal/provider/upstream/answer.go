package upstream

import (
	"fmt"
	"io"
	"time"
	"unsafe"
)

// ReadAnswer reads a whole 2xx answer body, at most limit bytes of it
// (MaxBody for an answer, MaxErrorBody for a small one such as a token
// count). err is the read's own error, for the adapter to classify;
// tooLarge reports a body longer than limit, and raw is then cut.
func ReadAnswer(body io.Reader, limit int) (raw []byte, tooLarge bool, err error) {
	raw, err = io.ReadAll(io.LimitReader(body, int64(limit)+1))
	if len(raw) > limit {
		return raw[:limit], true, err
	}
	return raw, false, err
}

// EmbedProblem is the public text of what is wrong with the vectors of an
// embeddings answer to inputs texts: not one vector per input, or an
// empty one. It is "" when the vectors are usable.
func EmbedProblem(vectors [][]float32, inputs int) string {
	if len(vectors) != inputs {
		return fmt.Sprintf("embeddings answer has %d vectors for %d inputs", len(vectors), inputs)
	}
	for i, v := range vectors {
		if len(v) == 0 {
			return fmt.Sprintf("embeddings answer has an empty vector at %d", i)
		}
	}
	return ""
}

// ReadSized is io.ReadAll(r) for a body that announced size bytes
// (Content-Length; negative when unknown): the buffer holds that many at
// once instead of growing from 512 bytes, and a body longer than it said
// is still read whole. Bound r first (io.LimitReader) as for io.ReadAll.
func ReadSized(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > MaxBody {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1) // +1: the read that sees EOF
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than announced: grow
		}
	}
}

// ReadSizedString is ReadSized as a string, without the copy string(b)
// makes (a non-stream answer's body was two allocations of its size).
// The bytes are never reachable as a slice afterwards, so the string is
// as immutable as any other; an answer's text sliced out of it keeps the
// body alive, as it kept the copy.
func ReadSizedString(r io.Reader, size int64) (string, error) {
	b, err := ReadSized(r, size)
	return unsafe.String(unsafe.SliceData(b), len(b)), err
}

// Bounds of DrainEnd.
const (
	drainMax  = 4 << 10
	drainWait = 100 * time.Millisecond
)

// DrainEnd reads what is left of a streamed body after its last event
// (an HTTP/1.1 chunked body's closing zero-length chunk, usually
// received with it), so that the connection goes back to the pool: a
// body closed before its end closes the connection, and the next stream
// dials (and, over TLS, shakes hands) again. It reads at most drainMax
// bytes, and a server that keeps the body open after its last event is
// cut after drainWait (the body is closed under the read), so that the
// answer's end waits for nothing else. A reader that cannot be closed
// (so not cut) is left as it is.
func DrainEnd(r io.Reader) {
	c, ok := r.(io.Closer)
	if !ok {
		return
	}
	t := time.AfterFunc(drainWait, func() { _ = c.Close() })
	_, _ = io.CopyN(io.Discard, r, drainMax)
	t.Stop()
}
