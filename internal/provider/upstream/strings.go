package upstream

import (
	"strings"
	"unsafe"
)

// Strings copies the short strings a stream decoder keeps of an event
// whose data is reused for the next one (sse.ReadRaw): the text deltas.
// They are appended to a block of their own, never written again, so
// each string stays valid however long it is kept; a stream's hundreds
// of deltas cost an allocation per block, not one each.
type Strings struct{ block []byte }

// stringsBlock is the largest block; strings over a quarter of it are
// copied alone.
const stringsBlock = 4 << 10

// CloneOr returns the string of known that equals s (a model name the
// decoder already holds, a protocol constant: no copy needed), else
// Clone(s).
func (a *Strings) CloneOr(s string, known ...string) string {
	for _, k := range known {
		if s == k {
			return k
		}
	}
	return a.Clone(s)
}

// Clone returns a copy of s that does not refer to s's memory.
func (a *Strings) Clone(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > stringsBlock/4 {
		return strings.Clone(s)
	}
	if cap(a.block)-len(a.block) < len(s) {
		// Blocks double from 256 bytes: a short answer allocates little.
		a.block = make([]byte, 0, min(stringsBlock, max(256, 2*cap(a.block), len(s))))
	}
	start := len(a.block)
	a.block = append(a.block, s...)
	return unsafe.String(&a.block[start], len(s))
}
