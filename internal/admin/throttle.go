package admin

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// loginThrottle bounds failed dashboard logins per client address: at
// most maxFailures a window; more are refused with 429 until the window
// ends. It holds at most maxClients addresses (then it starts over), so
// a flood of addresses cannot grow it.
type loginThrottle struct {
	mu      sync.Mutex
	now     func() time.Time
	clients map[string]*failures
}

type failures struct {
	n     int
	since time.Time
}

const (
	maxFailures    = 10
	failureWindow  = time.Minute
	maxClients     = 10000
	retryAfterSecs = "60"
)

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{now: now, clients: map[string]*failures{}}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked reports whether the client has used up its failures.
func (t *loginThrottle) blocked(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.clients[addr]
	return f != nil && t.now().Sub(f.since) < failureWindow && f.n >= maxFailures
}

// failed counts one failed login of the client.
func (t *loginThrottle) failed(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.clients[addr]
	if f == nil || now.Sub(f.since) >= failureWindow {
		if len(t.clients) >= maxClients {
			clear(t.clients)
		}
		f = &failures{since: now}
		t.clients[addr] = f
	}
	f.n++
}
