package mlflow

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// simulate offers arrive calls/s for secs seconds to a server that takes
// capacity traces/s, with the sampler in front of the traces backlog. It
// returns how many ordinary calls and how many errors were admitted in
// the last window seconds, and the backlog at the end.
func simulate(s *traceSampler, clk *fakeClock, backlog *int, arrive, capacity, secs, window int, errEvery int) (kept, errsKept, errsSeen, end int) {
	ok, bad := track.Call{Success: true}, track.Call{Success: false}
	const ticks = 10
	for sec := range secs {
		for range ticks {
			clk.add(time.Second / ticks)
			for i := range arrive / ticks {
				c := ok
				isErr := errEvery > 0 && i%errEvery == 0
				if isErr {
					c = bad
				}
				if s.admit(c, *backlog) {
					*backlog++
					if sec >= secs-window {
						if isErr {
							errsKept++
						} else {
							kept++
						}
					}
				}
				if isErr && sec >= secs-window {
					errsSeen++
				}
			}
			n := min(*backlog, capacity/ticks)
			*backlog -= n
			s.delivered(n)
		}
	}
	return kept, errsKept, errsSeen, *backlog
}

func TestSamplerAdmitsEverythingWhileTheBacklogIsSmall(t *testing.T) {
	clk := &fakeClock{t: t0}
	s := newTraceSampler(clk.now)
	backlog := 0
	kept, _, _, end := simulate(s, clk, &backlog, 30, 40, 60, 60, 0)
	if kept != 30*60 || s.rate() != 1 || end != 0 {
		t.Fatalf("kept %d of %d, rate %v, backlog %d; want all, 1, 0", kept, 30*60, s.rate(), end)
	}
}

func TestSamplerAdaptsToWhatTheServerTakes(t *testing.T) {
	tests := []struct {
		name             string
		arrive, capacity int
	}{
		{"server slower than the start rate", 500, 20},
		{"server faster than the start rate", 500, 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: t0}
			s := newTraceSampler(clk.now)
			backlog := 0
			kept, errsKept, errsSeen, end := simulate(s, clk, &backlog, tt.arrive, tt.capacity, 120, 60, 50) // 10 errors/s
			got := float64(kept+errsKept) / 60                                                               // traces/s admitted over the last minute
			t.Logf("admitted %.1f/s (%d errors kept), EWMA %.1f/s, backlog %d, rate %.3f", got, errsKept, s.serverRate(), end, s.rate())
			if math.Abs(got-float64(tt.capacity))/float64(tt.capacity) > 0.2 {
				t.Fatalf("admitted %.1f/s; want within 20%% of the server's %d/s (EWMA %.1f)", got, tt.capacity, s.serverRate())
			}
			if r := s.serverRate(); math.Abs(r-float64(tt.capacity))/float64(tt.capacity) > 0.2 {
				t.Fatalf("EWMA %.1f/s; want within 20%% of the server's %d/s", r, tt.capacity)
			}
			if errsKept != errsSeen {
				t.Fatalf("kept %d of %d errors; want every one", errsKept, errsSeen)
			}
			if end > 4*samplerThreshold {
				t.Fatalf("backlog %d after two minutes; want it bounded near the threshold %d", end, samplerThreshold)
			}
			want := got / float64(tt.arrive)
			if r := s.rate(); math.Abs(r-want) > 0.05 {
				t.Fatalf("rate() %.3f; want the admitted fraction %.3f", r, want)
			}
		})
	}
}

func TestSamplerKeepsErrorsAndFallbacksAboveTheThreshold(t *testing.T) {
	clk := &fakeClock{t: t0}
	s := newTraceSampler(clk.now)
	calls := []struct {
		c    track.Call
		keep bool
	}{
		{track.Call{Success: false, ErrorKind: "timeout"}, true},
		{track.Call{Success: true, Fallback: true}, true},
	}
	for i := range 1000 { // no time passes: the bucket empties
		for _, tt := range calls {
			if !s.admit(tt.c, 10*samplerThreshold) {
				t.Fatalf("call %d: %+v dropped; errors and fallbacks are always kept", i, tt.c)
			}
		}
	}
	if s.admit(track.Call{Success: true}, 10*samplerThreshold) {
		t.Fatal("an ordinary call admitted with an empty bucket above the threshold")
	}
}

func TestSamplerNeverBelowTheFloor(t *testing.T) {
	clk := &fakeClock{t: t0}
	s := newTraceSampler(clk.now)
	backlog := 10 * samplerThreshold
	for range 300 { // a server that takes nothing for five minutes
		clk.add(time.Second)
		s.admit(track.Call{Success: true}, backlog)
		s.delivered(0)
	}
	if r := s.serverRate(); r > 1 {
		t.Fatalf("EWMA %.2f/s after five minutes of nothing delivered; want it to have followed the server down", r)
	}
	admitted := 0
	for range 60 {
		clk.add(time.Second)
		if s.admit(track.Call{Success: true}, backlog) {
			admitted++
		}
	}
	if admitted < int(samplerFloor*60*0.9) {
		t.Fatalf("%d admitted in a minute; want at least the floor's %v/s", admitted, samplerFloor)
	}
}
