package llmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ReadTree concatenates every regular file under dir: what a grep for a
// leaked secret or prompt has to search (spools, ledgers, logs).
func ReadTree(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		b.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
