// Package dirlock gives a process a directory to itself: an exclusive
// flock on dir/LOCK, released when the returned file is closed or the
// process ends (a crash included, so no stale lock is left behind).
package dirlock

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Lock takes dir/LOCK without waiting; a directory another process (or
// another Lock of this one) holds is an error naming it.
func Lock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is in use by another process: %w", dir, err)
	}
	return f, nil
}
