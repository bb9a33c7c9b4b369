package dirlock

import (
	"strings"
	"testing"
)

// TestLock: a held directory is refused until its lock is closed.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	f, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Lock = %v, want in use", err)
	}
	f.Close()
	g, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after the first was closed: %v", err)
	}
	g.Close()
}
