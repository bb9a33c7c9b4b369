// Package testenv lets the helpers of integration suites (real Redis,
// PostgreSQL, Ollama) note why they skipped, so that `make test` can end
// with a one-line summary even without -v.
package testenv

import (
	"os"
	"sync"
)

// ReportEnv names the file skipped suites are appended to (set by make test).
const ReportEnv = "LLMC_SKIP_REPORT"

var mu sync.Mutex

// NoteSkip appends "suite<TAB>reason" to the report file, when there is
// one. The reason should not vary per test, so that lines group.
func NoteSkip(suite, reason string) {
	path := os.Getenv(ReportEnv)
	if path == "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(suite + "\t" + reason + "\n")
}
