package server

import (
	"runtime"
	"sync"
	"testing"
)

// TestWorkerPoolReusesAndNeverWaits: a job goes to an idle worker when
// one waits, and to a new goroutine otherwise: jobs run at once, all of
// them, however many are running.
func TestWorkerPoolReusesAndNeverWaits(t *testing.T) {
	w := workerPool{jobs: make(chan func())}
	const n = 50
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	for range n { // n jobs blocked at once: none waits for another
		w.run(func() {
			started.Done()
			<-release
			done.Done()
		})
	}
	started.Wait()
	close(release)
	done.Wait()
	// The workers are idle now; a job is taken by one of them.
	ran := make(chan struct{})
	for {
		select {
		case w.jobs <- func() { close(ran) }:
			<-ran
			return
		default: // a worker is between its job and its wait: try again
			runtime.Gosched()
		}
	}
}
