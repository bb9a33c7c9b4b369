package cache

import (
	"encoding/json"
	"reflect"
	"testing"
)

func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[2,{"d":null,"c":"x"}]}`, ` { } `, `[1.0, 1e3, -0]`, `"\u00e9<>&"`, `{"a":1}{`, `nope`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, ok := canonicalJSON(raw)
		if !ok {
			if c != raw {
				t.Fatalf("not JSON, yet changed: %q -> %q", raw, c)
			}
			return
		}
		if c == "" {
			return
		}
		again, ok := canonicalJSON(c)
		if !ok || again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", raw, c, again, ok)
		}
		var a, b any
		if json.Unmarshal([]byte(raw), &a) != nil || json.Unmarshal([]byte(c), &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("meaning changed: %q -> %q", raw, c)
		}
	})
}
