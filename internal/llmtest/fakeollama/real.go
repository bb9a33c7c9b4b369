package fakeollama

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// RealEnv names the variable that points tests at a real Ollama server,
// e.g. OLLAMA_TEST_URL=http://127.0.0.1:11434.
const RealEnv = "OLLAMA_TEST_URL"

var skipNotice sync.Once

// RealURL returns the address of the real Ollama server tests should use
// (the value of OLLAMA_TEST_URL, trailing slash dropped). When the variable
// is unset the test is skipped with a message, printed to stderr once so
// that it shows without -v; but when CI=true the test fails instead:
// integration tests must not skip silently in CI. A set address that does
// not answer GET /api/version fails the test.
func RealURL(t testing.TB) string {
	t.Helper()
	raw := strings.TrimRight(strings.TrimSpace(os.Getenv(RealEnv)), "/")
	if raw == "" {
		msg := RealEnv + " is not set: real-Ollama tests need a server " +
			"(run /work/shared/tools/ollama-test-server/setup.sh, then export " + RealEnv + "=http://127.0.0.1:11434)"
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: " + msg)
		}
		skipNotice.Do(func() { fmt.Fprintln(os.Stderr, "SKIP: "+msg) })
		t.Skip(msg)
	}
	base := raw
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	if err := probe(base); err != nil {
		t.Fatalf("%s=%s is set but the server does not answer: %v", RealEnv, raw, err)
	}
	return raw
}

func probe(base string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/version", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /api/version: %s", resp.Status)
	}
	return nil
}
