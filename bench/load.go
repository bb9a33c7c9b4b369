package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// shot sends one request and reads the whole answer. It returns when the
// first byte of the body arrived.
type shot func(ctx context.Context) (firstByte time.Time, err error)

// samples collects latencies of one measurement (possibly over several
// interleaved slices).
type samples struct {
	mu       sync.Mutex
	lat      []time.Duration // scheduled send → last byte, successes only
	ttfb     []time.Duration // scheduled send → first token (readFirstToken)
	errors   int
	overflow int // open loop: sends skipped because too many were in flight
	elapsed  time.Duration
	cpu      time.Duration // CPU time of the measured process over the slices
	syscalls uint64        // its read and write system calls over the slices
	switches uint64        // its threads' context switches over the slices
	done     int           // completed requests (success or error)
	firstErr string
	slices   []sliceStat // one per interleaved slice, in order
}

// sliceStat is one interleaved slice of a measurement: comparing the
// service with the floor slice by slice, and taking the median over the
// slices, keeps a burst of machine noise in one slice from deciding the
// comparison.
type sliceStat struct {
	p99  time.Duration
	cpu  time.Duration
	done int
}

// endSlice records the slice whose latencies start at s.lat[from:].
func (s *samples) endSlice(from, doneFrom int, cpu time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := slices.Clone(s.lat[from:])
	s.slices = append(s.slices, sliceStat{p99: percentile(lat, 99), cpu: cpu, done: s.done - doneFrom})
}

func (s *samples) add(lat, ttfb time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done++
	if err != nil {
		s.errors++
		if s.firstErr == "" {
			s.firstErr = err.Error()
		}
		return
	}
	s.lat = append(s.lat, lat)
	s.ttfb = append(s.ttfb, ttfb)
}

// throughput is completed successful requests per second.
func (s *samples) throughput() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(len(s.lat)) / s.elapsed.Seconds()
}

// cpuPerRequest is the measured process's CPU time per completed request.
func (s *samples) cpuPerRequest() time.Duration {
	if s.done == 0 {
		return 0
	}
	return s.cpu / time.Duration(s.done)
}

// syscallsPerRequest is the process's read and write system calls per
// completed request over the slices.
func (s *samples) syscallsPerRequest() string {
	if s.done == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(s.syscalls)/float64(s.done))
}

// switchesPerRequest is the process's context switches (voluntary and
// not, over all its threads) per completed request over the slices: each
// is a thread put to sleep and woken, which the kernel charges to the
// process.
func (s *samples) switchesPerRequest() string {
	if s.done == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(s.switches)/float64(s.done))
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// ds, which it sorts in place; 0 for an empty slice.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	rank = min(max(rank, 1), len(ds))
	return ds[rank-1]
}

// schedule returns the planned send time of request i of an open loop
// at rate per second starting at start.
func schedule(start time.Time, rate float64, i int) time.Time {
	return start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
}

// openLoop sends at a fixed rate for d, whatever the answers do, and
// measures every latency from the request's scheduled send time, so a
// slow answer cannot hold back later sends and hide its own effect
// (no coordinated omission). At most maxInFlight requests are
// outstanding; a send past that is counted as overflow, not delayed.
func openLoop(ctx context.Context, rate float64, d time.Duration, maxInFlight int, fire shot, into *samples) {
	n := int(d.Seconds() * rate)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now().Add(time.Millisecond)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := schedule(start, rate, i)
		if wait := time.Until(at); wait > 0 {
			sleep(ctx, wait)
		}
		select {
		case sem <- struct{}{}:
		default:
			into.mu.Lock()
			into.overflow++
			into.mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			first, err := fire(ctx)
			end := time.Now()
			into.add(end.Sub(at), first.Sub(at), err)
		}()
	}
	wg.Wait()
	into.mu.Lock()
	into.elapsed += time.Since(start)
	into.mu.Unlock()
}

// closedLoop runs conns senders back to back for d: the maximum
// throughput the target sustains with that many connections.
func closedLoop(ctx context.Context, conns int, d time.Duration, fire shot, into *samples) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				sent := time.Now()
				first, err := fire(ctx)
				if ctx.Err() != nil {
					return // cut by the deadline: neither success nor failure
				}
				into.add(time.Since(sent), first.Sub(sent), err)
			}
		}()
	}
	wg.Wait()
	into.mu.Lock()
	into.elapsed += time.Since(start)
	into.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
