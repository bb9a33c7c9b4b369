// Package redistest gives tests a real Redis: a client on the shared
// server with a private key prefix that is cleaned up, and dedicated
// redis-server processes that a test can stop and restart to simulate an
// outage.
//
// The shared server is REDIS_TEST_URL (default redis://127.0.0.1:6379/0).
// When it does not answer, tests are skipped, or fail when CI=true.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-connector/llm-connector/internal/testenv"
)

// DefaultURL is used when REDIS_TEST_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns REDIS_TEST_URL or DefaultURL.
func URL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Options returns fail-fast client options for url (short timeouts, one
// retry, context deadlines honoured), the settings tests and production
// should share.
func Options(tb testing.TB, url string) *redis.Options {
	tb.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("redistest: parse %q: %v", url, err)
	}
	o.DialTimeout = 200 * time.Millisecond
	o.ReadTimeout = 200 * time.Millisecond
	o.WriteTimeout = 200 * time.Millisecond
	o.PoolTimeout = 200 * time.Millisecond
	o.DialerRetries = 1
	o.MaxRetries = 1
	o.ContextTimeoutEnabled = true
	return o
}

// Client returns a new client of the shared test Redis and a key prefix
// unique to this test. Every key under the prefix is deleted when the
// test ends. It skips the test (fails it when CI=true) if Redis does not
// answer.
func Client(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	rdb := redis.NewClient(Options(tb, URL()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redistest: redis at %s not answering: %v", URL(), err)
		}
		testenv.NoteSkip("redis", "REDIS_TEST_URL "+URL()+" not answering")
		tb.Skipf("redistest: redis at %s not answering (%v); set CI=true to fail instead", URL(), err)
	}
	prefix := Prefix(tb)
	tb.Cleanup(func() {
		Clean(tb, rdb, prefix)
		rdb.Close()
	})
	return rdb, prefix
}

// NewClient returns another client of the shared test Redis, closed when
// the test ends: a second "gateway instance".
func NewClient(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(Options(tb, URL()))
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Prefix returns a key prefix unique to this test run: "test:<name>:<random>:".
func Prefix(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	return "test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// Clean deletes every key under prefix.
func Clean(tb testing.TB, rdb redis.UniversalClient, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Logf("redistest: scan %s*: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			tb.Logf("redistest: delete %d keys: %v", len(keys), err)
		}
	}
}

// Server is a dedicated redis-server process owned by one test.
type Server struct {
	tb   testing.TB
	Port int
	cmd  *exec.Cmd
}

// Start launches redis-server on a free port, without persistence, and
// waits until it answers. It is killed when the test ends. Without a
// redis-server binary the test is skipped (failed when CI=true).
func Start(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redistest: redis-server not installed")
		}
		testenv.NoteSkip("redis-server", "redis-server not installed")
		tb.Skip("redistest: redis-server not installed")
	}
	s := &Server{tb: tb, Port: freePort(tb)}
	s.Restart()
	tb.Cleanup(s.Stop)
	return s
}

// Addr returns host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a fail-fast client of this server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	rdb := redis.NewClient(Options(s.tb, s.URL()))
	s.tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Stop kills the server (an outage: no graceful shutdown) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port and waits until it answers.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err == nil {
			_, err = fmt.Fprint(c, "PING\r\n")
			buf := make([]byte, 7)
			if err == nil {
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				_, err = c.Read(buf)
			}
			c.Close()
			if err == nil && string(buf) == "+PONG\r\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.tb.Fatalf("redistest: redis-server on port %d did not answer: %v", s.Port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
