package route

import (
	"container/list"
	"sync"

	"github.com/llm-connector/llm-connector/internal/gateway"
)

// explicitCache is a bounded LRU of single-target routes. forget is told
// the name of each route it drops.
type explicitCache struct {
	mu     sync.Mutex
	max    int
	m      map[string]*list.Element
	order  *list.List // of *explicitEntry, most recently used first
	forget func(name string)
}

type explicitEntry struct {
	name string
	r    gateway.Route
}

func (c *explicitCache) init(max int, forget func(string)) {
	c.max, c.m, c.order, c.forget = max, map[string]*list.Element{}, list.New(), forget
}

func (c *explicitCache) get(name string) (gateway.Route, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok {
		return gateway.Route{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*explicitEntry).r, true
}

// add stores r under name unless another caller stored one first, and
// returns the stored route.
func (c *explicitCache) add(name string, r gateway.Route) gateway.Route {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[name]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*explicitEntry).r
	}
	c.m[name] = c.order.PushFront(&explicitEntry{name: name, r: r})
	var dropped []string
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(*explicitEntry)
		delete(c.m, old.name)
		dropped = append(dropped, old.name)
	}
	for _, n := range dropped {
		c.forget(n)
	}
	return r
}

func (c *explicitCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
