package mlflow

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// MetadataPolicy says when a trace is started with StartTraceV3 before its
// spans go over OTLP: the only way to give it trace metadata
// (mlflow.trace.user, which the UI filters by). It costs the server about
// 14 ms of CPU per trace, a third more than the spans themselves.
type MetadataPolicy string

// The metadata policies.
const (
	MetadataAuto   MetadataPolicy = ""       // when the call has a user (default)
	MetadataAlways MetadataPolicy = "always" // every trace
	MetadataNever  MetadataPolicy = "never"  // spans only: cheapest
)

// TraceOptions configures newTraceShipper. Zero values take the defaults.
type TraceOptions struct {
	BatchSize       int           // traces per OTLP request: default 16, at most 20
	MaxRequestBytes int           // per OTLP request: default 1 MiB
	MaxMessageBytes int           // per message (system, prompt, response) in a span: default 8 KiB, cut with a marker
	Linger          time.Duration // wait for a batch to fill: default 100 ms
	RecheckDelay    time.Duration // after an export that may have landed, wait before looking its traces up: default 5 s
	Metadata        MetadataPolicy
	Source          string // service.name and mlflow.source.name: default "llm-connector"
	// PutArtifact writes traces.json for MLflow 3.0–3.5 (the tracker's
	// putArtifact, which also speaks S3); default: the artifact proxy.
	PutArtifact func(ctx context.Context, uri, name string, data []byte) error
	// Delivered is told how many traces the server took (the sampler's
	// feedback); may be nil.
	Delivered func(n int)
}

// Defaults and bounds of TraceOptions.
const (
	defaultTraceBatch   = 16
	maxTraceBatch       = 20
	defaultOTLPBytes    = 1 << 20
	defaultMessageBytes = 8 << 10
)

func (o *TraceOptions) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = defaultTraceBatch
	}
	o.BatchSize = min(o.BatchSize, maxTraceBatch)
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = defaultOTLPBytes
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = defaultMessageBytes
	}
	if o.Linger <= 0 {
		o.Linger = 100 * time.Millisecond
	}
	if o.RecheckDelay <= 0 {
		o.RecheckDelay = 5 * time.Second
	}
	if o.Source == "" {
		o.Source = "llm-connector"
	}
}

// TraceStats is what the trace channel's shipper has done since start.
type TraceStats struct {
	API           string // "otlp", "start_trace_v3+traces.json", "none" (MLflow 2.x) or "unknown"
	ServerVersion string // as GET /version said it; "" if unknown
	Exported      uint64 // traces the server took
	Requests      uint64 // OTLP export requests sent
	Metadata      uint64 // StartTraceV3 calls made for trace metadata
	Resent        uint64 // traces sent again after an export that never left (dial failure)
	LookedUp      uint64 // traces looked up after an export that may have landed
	Found         uint64 // of those, found in the server and not sent again
	Skipped       uint64 // acked without shipping: the server has no traces (2.x)
	Truncated     uint64 // messages cut to MaxMessageBytes
	Failures      uint64 // failed delivery attempts
}

// traceProgress is what this process knows about one queued trace.
type traceProgress struct {
	maybeSent bool // an export with it may have reached the server: look before sending
	dialFail  bool // its last export never left: the next one is a re-send
	metaDone  bool // StartTraceV3 done, or the trace exists already
	v3Tried   bool // 3.0–3.5: a StartTraceV3 may have reached the server
	solo      bool // a request with it was refused: send it alone, so it holds up no other
}

// traceShipper drains the traces channel: one sender, batches of
// BatchSize traces.
type traceShipper struct {
	d   shipDeps
	q   Queue
	opt TraceOptions
	ver *versionCache
	put artifactPut

	send     sync.Mutex // one sender: held around every shipped batch
	flushing atomic.Int32

	progMu sync.Mutex
	prog   map[uint64]*traceProgress

	failing atomic.Bool
	st      struct {
		exported, requests, metadata, resent, lookedUp, found, skipped, truncated, failures atomic.Uint64
	}
}

func newTraceShipper(d shipDeps, q Queue, opt TraceOptions) *traceShipper {
	opt.defaults()
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.wait == nil {
		d.wait = func(ctx context.Context) error { return ctx.Err() }
	}
	s := &traceShipper{d: d, q: q, opt: opt, ver: newVersionCache(d.cl, d.log), prog: map[uint64]*traceProgress{}}
	s.put = proxyPut(d.cl)
	if opt.PutArtifact != nil {
		s.put = opt.PutArtifact
	}
	if s.d.now == nil {
		s.d.now = time.Now
	}
	return s
}

// Stats returns a snapshot.
func (s *traceShipper) Stats() TraceStats {
	api, raw, known := s.ver.cached()
	if !known {
		api, raw = traceUnknown, ""
	}
	return TraceStats{
		API: api.String(), ServerVersion: raw,
		Exported: s.st.exported.Load(), Requests: s.st.requests.Load(), Metadata: s.st.metadata.Load(),
		Resent: s.st.resent.Load(), LookedUp: s.st.lookedUp.Load(), Found: s.st.found.Load(),
		Skipped: s.st.skipped.Load(), Truncated: s.st.truncated.Load(), Failures: s.st.failures.Load(),
	}
}

// run ships until ctx ends.
func (s *traceShipper) run(ctx context.Context) {
	for {
		if err := s.d.wait(ctx); err != nil {
			return
		}
		e, err := s.q.Next(ctx)
		if err != nil {
			return
		}
		s.shipFrom(ctx, e)
	}
}

// flush ships without lingering until the queue is empty or ctx ends.
// It may run beside run: the two share the one sender.
func (s *traceShipper) flush(ctx context.Context) error {
	s.flushing.Add(1)
	defer s.flushing.Add(-1)
	for s.q.Stats().Backlog > 0 {
		if err := s.d.wait(ctx); err != nil {
			return err
		}
		tctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		e, err := s.q.Next(tctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue // the rest is in flight with run or waits for its retry time
		}
		s.shipFrom(ctx, e)
	}
	return nil
}

// shipFrom gathers a batch starting with e and ships it.
func (s *traceShipper) shipFrom(ctx context.Context, e spool.Entry) {
	s.send.Lock()
	defer s.send.Unlock()
	batch := []spool.Entry{e}
	linger := s.opt.Linger
	if s.flushing.Load() > 0 {
		linger = time.Millisecond
	}
	lctx, cancel := context.WithTimeout(ctx, linger)
	for len(batch) < s.opt.BatchSize {
		n, err := s.q.Next(lctx)
		if err != nil {
			break
		}
		batch = append(batch, n)
	}
	cancel()
	s.ship(ctx, batch)
}

func (s *traceShipper) progress(e spool.Entry) *traceProgress {
	s.progMu.Lock()
	defer s.progMu.Unlock()
	p := s.prog[e.Seq]
	if p == nil {
		p = &traceProgress{maybeSent: e.Recovered, v3Tried: e.Recovered}
		s.prog[e.Seq] = p
	}
	return p
}

func (s *traceShipper) ack(e spool.Entry) {
	if err := s.q.Ack(e.Seq); err != nil {
		s.d.log.Warn("mlflow: trace ack failed", "err", err)
	}
	s.progMu.Lock()
	delete(s.prog, e.Seq)
	s.progMu.Unlock()
}

func (s *traceShipper) delivered(n int) {
	s.st.exported.Add(uint64(n))
	if s.opt.Delivered != nil {
		s.opt.Delivered(n)
	}
	s.ok()
}

func (s *traceShipper) ok() {
	if s.failing.Swap(false) {
		s.d.log.Info("mlflow: trace delivery resumed")
	}
	if s.d.report != nil {
		s.d.report(nil)
	}
}

// fail counts and reports err; a transport error also drops the cached
// server version (the server may have been replaced).
func (s *traceShipper) fail(err error) {
	s.st.failures.Add(1)
	var ae *APIError
	if !errors.As(err, &ae) {
		s.ver.forget()
	}
	if !s.failing.Swap(true) || !retryable(err) {
		s.d.log.Warn("mlflow: trace delivery failed; traces stay queued", "err", Redact(err.Error(), s.d.secrets...))
	}
	if s.d.report != nil {
		s.d.report(err)
	}
}

// release hands es out again: now for what a retry may fix (the shared
// gate paces it), later for a rejection, at retryAt when given.
func (s *traceShipper) release(es []spool.Entry, err error, retryAt time.Time) {
	for _, e := range es {
		at := retryAt
		if at.IsZero() && err != nil && !retryable(err) {
			at = s.d.now().Add(min(30*time.Second, 200*time.Millisecond<<min(e.Attempts, 8)))
		}
		s.q.Release(e.Seq, at)
	}
}

// ship delivers one batch the way the server takes traces.
func (s *traceShipper) ship(ctx context.Context, batch []spool.Entry) {
	exp, err := s.d.experiment(ctx)
	if err == nil {
		var api traceAPI
		api, _, err = s.ver.get(ctx)
		switch {
		case err != nil:
		case api == traceNone:
			for _, e := range batch {
				s.ack(e)
			}
			s.st.skipped.Add(uint64(len(batch)))
			s.ok()
			return
		case api == traceArtifact:
			s.shipV3(ctx, batch, exp)
			return
		default:
			s.shipOTLP(ctx, batch, exp)
			return
		}
	}
	if ctx.Err() == nil {
		s.fail(err)
	}
	s.release(batch, err, time.Time{})
}

// shipV3 is the MLflow 3.0–3.5 path, one trace at a time.
func (s *traceShipper) shipV3(ctx context.Context, batch []spool.Entry, exp string) {
	for i, e := range batch {
		p := s.progress(e)
		seen := p.v3Tried
		p.v3Tried = true
		err := shipTraceV3(ctx, s.d.cl, s.put, e.Call, exp, "", s.opt.Source, s.d.secrets, seen)
		if err == nil {
			s.ack(e)
			s.delivered(1)
			continue
		}
		if notSent(err) {
			p.v3Tried = seen
		}
		if ctx.Err() == nil {
			s.fail(err)
		}
		if retryable(err) || ctx.Err() != nil { // the server is struggling: stop here
			s.release(batch[i:], err, time.Time{})
			return
		}
		s.release(batch[i:i+1], err, time.Time{})
	}
}

// wantsMeta reports whether c's trace is started with StartTraceV3.
func (s *traceShipper) wantsMeta(c track.Call) bool {
	switch s.opt.Metadata {
	case MetadataAlways:
		return true
	case MetadataNever:
		return false
	}
	return c.User != ""
}

// landed reports whether info, the server's record of c's trace, shows
// that c's spans arrived. A trace the server knows without spans is one
// only StartTraceV3 made: its metadata has no token usage yet. For a call
// without usage a re-send adds nothing, so it is sent again.
func (s *traceShipper) landed(info *traceInfo, c track.Call) bool {
	if !s.wantsMeta(c) {
		return true // only OTLP can have made it
	}
	_, ok := info.Metadata["mlflow.trace.tokenUsage"]
	return ok
}
