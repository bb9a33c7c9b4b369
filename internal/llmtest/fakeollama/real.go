package fakeollama

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/testenv"
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
			"(run `make ollama-test-server`, then export " + RealEnv + "=http://127.0.0.1:11434)"
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: " + msg)
		}
		testenv.NoteSkip("ollama", RealEnv+" is not set (make ollama-test-server)")
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
	lockReal()
	return raw
}

var (
	realOnce sync.Once
	realLock *os.File // held until the test binary exits
)

// lockReal gives this test binary the real server to itself. go test runs
// packages in parallel, and the cancellation tests of two packages fill
// Ollama's few generation slots on purpose, so one would see the other's
// streams as "generation not stopped". The first real test of a binary
// takes an exclusive lock on a file in the temp directory and keeps it
// until the binary exits; another package's binary waits for it.
func lockReal() {
	realOnce.Do(func() {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "llm-connector-real-ollama.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return // no lock: the tests still run, only without the guard
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return
		}
		realLock = f
	})
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

// TickModel is a copy of "tiny" whose prompt is the bare message text, so
// that a user message " tick" makes it say " tock tick tock ..." without
// end (until max_tokens): the long stream of the cancellation tests.
const TickModel = "llm-connector-tick"

// CreateTickModel makes sure TickModel exists on the real server at base
// and returns its name. It is created with a fixed name and never
// deleted: Ollama 0.17.4 was seen to wedge its runner for good when a copy
// of a loaded model was deleted while its aborted generations were still
// winding down, and creating the same model again is a no-op.
func CreateTickModel(t testing.TB, base string) string {
	t.Helper()
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	body := `{"model":"` + TickModel + `","from":"tiny","stream":false,"template":"{{ range .Messages }}{{ .Content }}{{ end }}"}`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/create", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("create %s: %v", TickModel, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create %s: %s", TickModel, resp.Status)
	}
	return TickModel
}
