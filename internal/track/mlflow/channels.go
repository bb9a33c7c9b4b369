package mlflow

import (
	"context"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
)

// openTraces opens the traces channel: one sender of OTLP batches (or
// StartTraceV3 + traces.json on MLflow 3.0–3.5), fed by the sampler.
func (t *Tracker) openTraces() (*channel, error) {
	q, err := t.openQueue(ChannelTraces)
	if err != nil {
		return nil, err
	}
	t.sampler = newTraceSampler(time.Now)
	if t.cfg.Mode == ModeAuto {
		t.sampler.ceiling = float64(t.cfg.TraceMaxRate)
	}
	opt := t.cfg.Trace
	opt.Source, opt.PutArtifact, opt.Delivered = t.cfg.SourceName, t.putArtifact, t.sampler.delivered
	s := newTraceShipper(t.yieldingDeps(), q, opt)
	t.traceShip = s
	return &channel{name: ChannelTraces, q: q, run: s.run,
		flush:   func(ctx context.Context) { s.flush(ctx) },
		shipped: func() uint64 { st := s.Stats(); return st.Exported + st.Skipped }}, nil
}

// admitTrace decides at record time whether c gets a trace. In traces and
// both modes every interaction does (the trace is the record). In auto
// mode the window runs carry every interaction, so traces are sampled
// when the server cannot take them all (every error and fallback kept),
// and none are queued for a server without traces (MLflow 2.x).
func (t *Tracker) admitTrace(c track.Call) bool {
	if t.cfg.Mode != ModeAuto {
		return true
	}
	if api, _, known := t.traceShip.ver.cached(); known && api == traceNone { // one lock, not the shipper's whole Stats
		return false
	}
	return t.sampler.admit(c, t.traces.q.Stats().Backlog)
}

// TraceSampleRate is the fraction of interactions that got a trace over
// the last minute (1 when every one did).
func (t *Tracker) traceSampleRate() float64 {
	if t.sampler == nil || t.cfg.Mode != ModeAuto {
		return 1
	}
	return t.sampler.rate()
}

// openWindows opens the windows channel: every interaction lands as a row
// (and steps) of a window run of its route.
func (t *Tracker) openWindows() (*channel, error) {
	q, err := t.openQueue(ChannelWindows)
	if err != nil {
		return nil, err
	}
	opt := t.cfg.Window
	opt.SourceName, opt.PutArtifact = t.cfg.SourceName, t.putArtifact
	w := newWindowShipper(t.deps(), q, opt)
	t.windowShip = w
	return &channel{name: ChannelWindows, q: q, run: w.run,
		flush:   func(ctx context.Context) { w.flush(ctx) },
		shipped: func() uint64 { return w.Stats().Interactions }}, nil
}
