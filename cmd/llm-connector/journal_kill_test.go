package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/llm-connector/llm-connector/internal/store"
)

// TestKilledServiceLosesNoLedgerRow: the real binary, killed with SIGKILL
// after answering 20 calls its ledger writer had not written yet (a 10 s
// flush interval), has all 20 in its ledger after the next start, once.
func TestKilledServiceLosesNoLedgerRow(t *testing.T) {
	dir, bin := buildBinary(t)
	gem := httptest.NewServer(http.HandlerFunc(abuseGemini))
	defer gem.Close()
	addr, data := freeAddr(t), filepath.Join(dir, "data")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "LISTEN_ADDR="+addr, "DATA_DIR="+data, "GOOGLE_API_KEY=journal-test-key-123",
			"GOOGLE_API_KEY_FILE=", "GOOGLE_GEMINI_BASE_URL="+gem.URL, "OLLAMA_HOST=127.0.0.1:1", "LLM_FALLBACK=none",
			"LLM_RETRIES=0", "CACHE_ENABLED=false", "MLFLOW_TRACKING_URI=", "DATABASE_URL=", "LEDGER_FLUSH_INTERVAL=10s",
			"SHUTDOWN_TIMEOUT=5s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitUp(t, "http://"+addr)
		return cmd
	}
	cmd := start()
	for range 20 {
		req, _ := http.NewRequest("POST", "http://"+addr+"/chat", strings.NewReader(`{"prompt":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-User-ID", "killed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cmd.Process.Kill()
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			cmd.Process.Kill()
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n := ledgerRows(t, data, "killed"); n != 0 {
		t.Fatalf("%d rows written before the kill; the test needs them unwritten", n)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	cmd = start() // replays the journal; a clean stop writes it
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("service exit: %v", err)
	}
	if n := ledgerRows(t, data, "killed"); n != 20 {
		t.Errorf("%d ledger rows after the kill and a restart, want 20", n)
	}
}

// ledgerRows counts the SQLite ledger's interactions of user in data.
func ledgerRows(t *testing.T, data, user string) int {
	t.Helper()
	db, err := store.Open(context.Background(), store.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM usage_events WHERE user_id = ?`, user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
