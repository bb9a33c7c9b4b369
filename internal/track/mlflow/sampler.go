package mlflow

import (
	"sync"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
)

// Sampler defaults. One MLflow server takes about 40 traces/s over OTLP
// (mlflow.md §6); the sampler starts there and follows what it measures.
const (
	samplerStartRate = 40.0          // traces/s assumed before anything was measured
	samplerFloor     = 1.0           // traces/s admitted at least, however slow the server looks
	samplerThreshold = 100           // traces backlog below which every trace is admitted
	samplerAlpha     = 0.3           // EWMA weight of one measurement window
	samplerBusy      = maxTraceBatch // backlog that keeps the shipper busy: a window measures the server only above it
)

// traceSampler decides per call, when it is recorded, whether it goes to
// the traces channel. Every error and every fallback is kept. While the
// traces backlog is below a small threshold every call is kept; above it
// the rest are admitted through a token bucket refilled at the rate the
// server has been taking traces: an EWMA of traces/s delivered, measured
// only over windows in which the shipper never ran short of a full batch
// (otherwise it would measure the traffic, not the server), starting at 40/s and never
// below a floor. Kept errors spend tokens too, so what is admitted in
// total follows the server's pace and the backlog stays bounded.
type traceSampler struct {
	now       func() time.Time
	threshold int
	floor     float64
	ceiling   float64 // > 0: the most traces/s admitted, whatever the server takes (auto mode's share)

	mu     sync.Mutex
	ewma   float64 // traces/s the server took
	tokens float64
	filled time.Time // last refill

	winStart  time.Time // measurement window
	winCount  int       // traces delivered in it
	winMin    int       // lowest backlog seen in it; -1 before the first
	winActive bool      // an admit call saw the window

	secs [60]samplerSecond // admitted fraction over the last minute
}

type samplerSecond struct {
	at         int64 // unix second
	seen, kept int
}

func newTraceSampler(now func() time.Time) *traceSampler {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &traceSampler{now: now, threshold: samplerThreshold, floor: samplerFloor,
		ewma: samplerStartRate, tokens: samplerStartRate, filled: t, winStart: t, winMin: -1}
}

// admit reports whether c goes to the traces channel, given the channel's
// current backlog.
func (s *traceSampler) admit(c track.Call, backlog int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.measure(now)
	if s.winMin < 0 || backlog < s.winMin {
		s.winMin = backlog
	}
	s.winActive = true
	s.refill(now)
	keep := true
	switch {
	case !c.Success || c.Fallback:
		s.tokens = max(s.tokens-1, -s.burst())
	case backlog < s.threshold:
	case s.tokens >= 1:
		s.tokens--
	default:
		keep = false
	}
	s.count(now, keep)
	return keep
}

// delivered is the shipper's feedback: n traces reached the server.
func (s *traceSampler) delivered(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.measure(s.now())
	s.winCount += n
}

// rate is the fraction of calls admitted over the last minute (1 when
// there were none): what /health and /metrics show.
func (s *traceSampler) rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := s.now().Unix() - 59
	seen, kept := 0, 0
	for _, b := range s.secs {
		if b.at >= from {
			seen, kept = seen+b.seen, kept+b.kept
		}
	}
	if seen == 0 {
		return 1
	}
	return float64(kept) / float64(seen)
}

// serverRate is the EWMA of traces/s the server took.
func (s *traceSampler) serverRate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ewma
}

func (s *traceSampler) burst() float64 { return max(s.pace(), 5) }

func (s *traceSampler) pace() float64 {
	p := max(s.ewma, s.floor)
	if s.ceiling > 0 {
		p = min(p, max(s.ceiling, s.floor))
	}
	return p
}

func (s *traceSampler) refill(now time.Time) {
	if dt := now.Sub(s.filled).Seconds(); dt > 0 {
		s.tokens = min(s.tokens+dt*s.pace(), s.burst())
	}
	s.filled = now
}

// measure closes the measurement window once it is a second old; it
// counts only when the backlog never fell below a full batch, so the
// shipper was busy throughout and the count is the server's pace.
func (s *traceSampler) measure(now time.Time) {
	dt := now.Sub(s.winStart).Seconds()
	if dt < 1 {
		return
	}
	if s.winActive && s.winMin >= samplerBusy {
		s.ewma = samplerAlpha*(float64(s.winCount)/dt) + (1-samplerAlpha)*s.ewma
	}
	s.winStart, s.winCount, s.winMin, s.winActive = now, 0, -1, false
}

func (s *traceSampler) count(now time.Time, keep bool) {
	sec := now.Unix()
	b := &s.secs[sec%int64(len(s.secs))]
	if b.at != sec {
		*b = samplerSecond{at: sec}
	}
	b.seen++
	if keep {
		b.kept++
	}
}
