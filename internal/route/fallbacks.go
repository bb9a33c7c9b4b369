package route

import (
	"fmt"
	"sort"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/router"
)

// fallbacks builds the alias's rules by cause into r's router: each rule
// is a chain of its own (same retries and deadline), never diverted again.
func (t *Table) fallbacks(name string, r gateway.Route, a Alias) error {
	if len(a.Fallbacks) == 0 {
		return nil
	}
	rt, ok := r.P.(*router.Router)
	if !ok {
		return nil
	}
	causes := make([]string, 0, len(a.Fallbacks))
	for c := range a.Fallbacks {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	rules := make(map[string]*router.Router, len(causes))
	for _, c := range causes {
		chain := a.Fallbacks[c]
		if len(chain) == 0 {
			rules[c] = nil // nowhere: the error as it is
			continue
		}
		t.breakers.Pin(chain...)
		sub, err := t.build(name, chain, a.Retries, a.Timeout)
		if err != nil {
			return fmt.Errorf("fallbacks.%s: %w", c, err)
		}
		rules[c] = sub.P.(*router.Router)
	}
	rt.WithFallbacks(rules)
	return nil
}
