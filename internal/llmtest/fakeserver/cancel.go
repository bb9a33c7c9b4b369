package fakeserver

import (
	"context"
	"sync"
)

// cancelBuffer is how many cancellations C holds unread; more are
// counted but not delivered.
const cancelBuffer = 1024

// Cancels counts the answers whose client went away before they were
// complete, safe for concurrent use. The zero Cancels is ready.
type Cancels struct {
	mu      sync.Mutex
	n       int
	ch      chan struct{} // one value per cancellation, dropped when full
	changed chan struct{} // closed and replaced by every Note
}

// init makes the channels; c.mu is held.
func (c *Cancels) init() {
	if c.ch == nil {
		c.ch = make(chan struct{}, cancelBuffer)
		c.changed = make(chan struct{})
	}
}

// Note counts one cancellation.
func (c *Cancels) Note() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	c.n++
	close(c.changed)
	c.changed = make(chan struct{})
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

// Count returns how many cancellations were noted.
func (c *Cancels) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// C delivers one value per cancellation (up to 1024 unread).
func (c *Cancels) C() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	return c.ch
}

// Wait blocks until n cancellations in all were noted, or ctx ends; it
// reports whether the count was reached. It does not read C.
func (c *Cancels) Wait(ctx context.Context, n int) bool {
	for {
		c.mu.Lock()
		c.init()
		reached, changed := c.n >= n, c.changed
		c.mu.Unlock()
		if reached {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return c.Count() >= n
		}
	}
}

// Gate is a signal that opens once and stays open, safe for concurrent
// use. The zero Gate is shut and ready.
type Gate struct {
	mu   sync.Mutex
	ch   chan struct{}
	open bool
}

// Open opens the gate; opening it again does nothing.
func (g *Gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	if !g.open {
		g.open = true
		close(g.ch)
	}
}

// C is closed once the gate is open.
func (g *Gate) C() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	return g.ch
}

func (g *Gate) init() {
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
}
