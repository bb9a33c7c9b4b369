package metrics

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Other replaces a label value past a label's cap, and values that are
// not fit for a label (too long, invalid UTF-8).
const Other = "other"

// maxValueLen bounds one label value; longer values become Other.
const maxValueLen = 128

// capped admits the first max distinct values of one label and maps any
// later one to Other, so that a client cannot grow the series count by
// sending new names. Lookups of admitted values take no lock and do not
// allocate: the admitted set is an immutable map replaced on insert.
type capped struct {
	max   int
	empty string // what "" becomes
	mu    sync.Mutex
	seen  atomic.Pointer[map[string]string]
}

func newCapped(max int, empty string) *capped {
	c := &capped{max: max, empty: empty}
	m := map[string]string{}
	c.seen.Store(&m)
	return c
}

// get returns v when admitted (or admits it), else Other.
func (c *capped) get(v string) string {
	if v == "" {
		return c.empty
	}
	if s, ok := (*c.seen.Load())[v]; ok {
		return s
	}
	return c.admit(v)
}

func (c *capped) admit(v string) string {
	if len(v) > maxValueLen || !utf8.ValidString(v) {
		return Other
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := *c.seen.Load()
	if s, ok := m[v]; ok {
		return s
	}
	if len(m) >= c.max {
		return Other
	}
	next := maps.Clone(m)
	v = strings.Clone(v) // do not pin the caller's buffer
	next[v] = v
	c.seen.Store(&next)
	return v
}

// children caches pre-resolved metric children by label key, so that the
// hot path does one lock-free map lookup instead of hashing label values
// in the client library. At most max keys are kept; later ones resolve
// to the overflow key's children.
type children[K comparable, V any] struct {
	max      int
	overflow K
	build    func(K) V
	mu       sync.Mutex
	m        atomic.Pointer[map[K]V]
}

func newChildren[K comparable, V any](max int, overflow K, build func(K) V) *children[K, V] {
	c := &children[K, V]{max: max, overflow: overflow, build: build}
	m := map[K]V{}
	c.m.Store(&m)
	return c
}

func (c *children[K, V]) get(k K) V {
	if v, ok := (*c.m.Load())[k]; ok {
		return v
	}
	return c.add(k)
}

func (c *children[K, V]) add(k K) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := *c.m.Load()
	if v, ok := m[k]; ok {
		return v
	}
	if len(m) >= c.max {
		if v, ok := m[c.overflow]; ok {
			return v
		}
		k = c.overflow
	}
	v := c.build(k)
	next := maps.Clone(m)
	next[k] = v
	c.m.Store(&next)
	return v
}
