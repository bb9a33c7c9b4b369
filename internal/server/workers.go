package server

import "time"

// workerIdle is how long a finished producer's goroutine waits for the
// next stream before it exits.
const workerIdle = 5 * time.Second

// producers runs the streams' producers (pump) on goroutines kept from
// one stream to the next. A producer runs deep — router, adapter, the
// SSE reader, net/http's body — and a new goroutine grew its stack to
// that depth, copying it several times, on every stream (about 2 % of a
// streamed request's CPU); a kept goroutine has it grown. No work waits
// for a worker: with none idle, a new one starts.
var producers = workerPool{jobs: make(chan func())}

type workerPool struct{ jobs chan func() }

// run runs f on an idle worker, or on a new one.
func (w workerPool) run(f func()) {
	select {
	case w.jobs <- f:
	default:
		go w.work(f)
	}
}

func (w workerPool) work(f func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		f = nil // nothing of the last stream stays reachable while idle
		idle.Reset(workerIdle)
		select {
		case f = <-w.jobs:
		case <-idle.C:
			return
		}
	}
}
