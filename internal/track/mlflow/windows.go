package mlflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// Window runs. The windows channel logs one MLflow run per window: per
// route (endpoint + requested model), up to Size interactions or what
// arrived within MaxAge of the window's first record, whichever comes
// first. A run carries the route as params, each interaction's metrics as
// steps, every interaction as a row of the table artifact interactions.json
// and summary metrics. It costs one server ~1-2 ms of CPU per interaction
// where a run per interaction costs ~90 ms (issue 12).
//
// Exactly once. A closed window is named and the name recorded durably in
// the queue (Queue.Group) before any MLflow call, so a replay after a
// crash ships the same members under the same name. The name is random,
// not derived from the first interaction's ID: request IDs may come from
// clients (X-Request-ID) and repeat, and two windows sharing a tag would
// make the re-check below delete the other's run. The run carries the
// name as tag llm_connector.window_id. A replay (recovered group, or a
// runs/create that may have reached the server) looks the run up by that
// tag before creating one; every later step is idempotent (re-logged
// params with the same value, identical metric values de-duplicated by
// the SQL store, PUT overwrites). After the run is FINISHED the shipper
// searches by the tag again and deletes every other run carrying it (the
// orphan a congested server creates from a dead process's queued
// runs/create), keeping the FINISHED run with the smallest run ID so two
// instances that raced on one window agree. Only then are the members
// acked. A periodic sweep deletes RUNNING window runs older than SweepAge
// that have a FINISHED sibling (orphans whose create landed after the
// re-check).

// WindowOptions configure a windowShipper. Zero values take the defaults.
type WindowOptions struct {
	Size          int           // interactions per window; default and maximum 1000
	MaxAge        time.Duration // a window closes when its first record is this old; default 60 s
	Concurrency   int           // windows shipped at once; default 2
	FullMetrics   []string      // step metrics while the shipper keeps up; default FullStepMetrics
	CoreMetrics   []string      // step metrics when it is behind; default CoreStepMetrics
	BehindWindows int           // behind (core set) when more than this many windows wait; default 2
	FarBehind     int           // far behind (no step metrics, table and summary only) past this many; default 8
	MaxCell       int           // bytes of prompt and of response per table row; default 4096
	MaxHeld       int           // records held in memory (open and waiting windows); default 10 × Size. Reading also pauses while MLflow is down or closed windows wait for every shipping slot
	MaxRoutes     int           // open windows at once; records of further routes share "<endpoint>:other"; default 64
	SourceName    string        // mlflow.source.name; default "llm-connector"
	SweepEvery    time.Duration // orphan sweep period; default 5 min; negative disables
	SweepAge      time.Duration // RUNNING window runs younger than this are left alone; default 5 min
	RetryMin      time.Duration // delay of a window after a permanent error, doubling; default 1 s
	RetryMax      time.Duration // default 60 s
	// PutArtifact uploads name under a run's artifact URI; default: the
	// tracking server's artifact proxy (mlflow-artifacts: URIs only). The
	// tracker passes its own, which also writes s3:// URIs.
	PutArtifact func(ctx context.Context, uri, name string, data []byte) error
}

// Metric set names, as the run's llm_connector.step_metrics tag.
const (
	StepMetricsFull = "full"
	StepMetricsCore = "core"
	StepMetricsNone = "none" // table and summary only
)

func (o *WindowOptions) defaults() {
	if o.Size <= 0 || o.Size > maxMetricsPerCall {
		o.Size = maxMetricsPerCall
	}
	if o.MaxAge <= 0 {
		o.MaxAge = time.Minute
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	o.FullMetrics = validStepMetrics(o.FullMetrics, FullStepMetrics)
	o.CoreMetrics = validStepMetrics(o.CoreMetrics, CoreStepMetrics)
	if o.BehindWindows <= 0 {
		o.BehindWindows = 2
	}
	if o.FarBehind <= o.BehindWindows {
		o.FarBehind = max(8, 4*o.BehindWindows)
	}
	if o.MaxCell <= 0 {
		o.MaxCell = defaultMaxCell
	}
	if o.MaxHeld < o.Size {
		o.MaxHeld = 10 * o.Size
	}
	if o.MaxRoutes <= 0 {
		o.MaxRoutes = 64
	}
	if o.SourceName == "" {
		o.SourceName = "llm-connector"
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = 5 * time.Minute
	}
	if o.SweepAge <= 0 {
		o.SweepAge = 5 * time.Minute
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(time.Minute, o.RetryMin)
	}
}

// validStepMetrics keeps the known keys of set (nil: def).
func validStepMetrics(set, def []string) []string {
	if set == nil {
		return def
	}
	out := []string{}
	for _, k := range set {
		if knownStepMetric(k) {
			out = append(out, k)
		}
	}
	return out
}

// WindowStats is a snapshot of the windows channel.
type WindowStats struct {
	Shipped        uint64 // windows finished in MLflow and acked since start
	Interactions   uint64 // interactions in them
	CoreWindows    uint64 // of Shipped, those logged with the core step-metric set
	TableOnly      uint64 // of Shipped, those logged far behind: no step metrics
	OrphansDeleted uint64 // duplicate window runs deleted (re-check and sweep)
	Failures       uint64 // failed shipping attempts
	Open           int    // windows collecting records
	Waiting        int    // closed windows not yet shipping
	Shipping       int    // windows being shipped
	Held           int    // records held in memory
	Behind         bool   // more than BehindWindows windows wait: the core set is in use
}

// windowShipper drains a Queue into window runs.
type windowShipper struct {
	d   shipDeps
	q   Queue
	opt WindowOptions

	in       chan spool.Entry
	finished chan struct{}
	kick     chan struct{}
	flushing atomic.Bool
	// held counts records taken from the queue and not yet acked or
	// released; it drops before each Ack, so Backlog - held never
	// undercounts what the queue still has to hand out.
	held atomic.Int64
	// down is set when a window's last attempt failed with a retryable
	// error (the server is down or refusing) and cleared by an answer
	// from it (a success or a permanent error). While it is set the run
	// loop takes no more records: they are on disk already, and reading
	// and decoding them now would only hold them in memory until the
	// server is back.
	down atomic.Bool

	mu    sync.Mutex
	stats WindowStats
}

// window is one route's group of records. The run loop owns it until it
// is handed to a shipping goroutine, which owns it from then on.
type window struct {
	key, endpoint, model string
	entries              []spool.Entry
	first                time.Time // Appended of the first record
	opened               time.Time // when this process opened the window
	last                 time.Time // when the last record joined
	name                 string    // the delivery group; "" until grouped
	size                 int       // GroupSize of a recovered group
	recovered            bool      // its records were grouped before: look before creating

	// Progress in this process.
	set         string // step-metric set
	createTried bool
	paramsKept  bool // the found run has its params already: never send others
	run         runInfo
	finished    bool // the run is FINISHED
	batches     int  // step batches logged
	tableDone   bool
	summaryDone bool
	attempts    int
}

func newWindowShipper(d shipDeps, q Queue, opt WindowOptions) *windowShipper {
	opt.defaults()
	if d.now == nil {
		d.now = time.Now
	}
	if d.wait == nil {
		d.wait = func(ctx context.Context) error { return ctx.Err() }
	}
	if d.report == nil {
		d.report = func(error) {}
	}
	return &windowShipper{d: d, q: q, opt: opt, in: make(chan spool.Entry), finished: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Stats returns a snapshot.
func (s *windowShipper) Stats() WindowStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// flush closes every open window at once and waits until the queue is
// empty (everything shipped and acked) or ctx ends.
func (s *windowShipper) flush(ctx context.Context) error {
	s.flushing.Store(true)
	defer s.flushing.Store(false)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.q.Stats().Backlog > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// run ships until ctx ends; records it holds then are released.
func (s *windowShipper) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.read(ctx) })
	if s.opt.SweepEvery > 0 {
		wg.Go(func() { s.sweepLoop(ctx) })
	}
	l := &windowLoop{s: s, open: map[string]*window{}, groups: map[string]*window{}}
	every := min(max(s.opt.MaxAge/10, 10*time.Millisecond), time.Second)
	tick := time.NewTicker(every)
	fast := time.NewTicker(10 * time.Millisecond) // while flushing
	defer tick.Stop()
	defer fast.Stop()
	for {
		in := s.in
		if int(s.held.Load()) >= s.opt.MaxHeld {
			in = nil
			l.closeLargest()
		}
		// Read ahead only while it helps: not while the server is down,
		// nor while closed windows already wait for every shipping slot
		// (what is read now could not ship sooner; it would only be held).
		if s.down.Load() || len(l.waiting) >= s.opt.Concurrency {
			in = nil
		}
		var fl <-chan time.Time
		if s.flushing.Load() {
			fl = fast.C
		}
		select {
		case <-ctx.Done():
			l.releaseAll()
			cancel()
			l.wg.Wait()
			wg.Wait()
			return
		case e := <-in:
			l.add(e)
		case <-tick.C:
			l.closeDue()
		case <-fl:
			l.closeDue()
		case <-s.kick:
			l.closeDue()
		case <-s.finished:
			l.shipping--
		}
		l.dispatch(ctx)
		l.publish()
	}
}

// read moves entries from the queue to the run loop.
func (s *windowShipper) read(ctx context.Context) {
	for {
		e, err := s.q.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return
			}
			s.d.log.Warn("mlflow windows: queue", "err", err)
			if sleepCtx(ctx, 100*time.Millisecond) != nil {
				return
			}
			continue
		}
		select {
		case s.in <- e:
		case <-ctx.Done():
			s.q.Release(e.Seq, time.Time{})
			return
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// windowLoop is the run loop's state.
type windowLoop struct {
	s        *windowShipper
	open     map[string]*window // by route key
	groups   map[string]*window // recovered groups, by name
	waiting  []*window
	shipping int
	isBehind bool // as of the last tick or dispatch
	wg       sync.WaitGroup
}

// otherRoute is the model part of the route that collects the records of
// routes beyond MaxRoutes.
const otherRoute = "other"

func routeOf(c track.Call) (key, endpoint, model string) {
	model = firstNonEmpty(c.RequestedModel, "default")
	return c.Endpoint + ":" + model, c.Endpoint, model
}

func (l *windowLoop) add(e spool.Entry) {
	l.s.held.Add(1)
	now := l.s.d.now()
	if e.Group != "" { // grouped before (an earlier process, or another instance)
		w := l.groups[e.Group]
		if w == nil {
			key, ep, m := routeOf(e.Call)
			w = &window{key: key, endpoint: ep, model: m, name: e.Group, size: e.GroupSize, recovered: true, first: e.Appended}
			l.groups[e.Group] = w
		}
		w.entries = append(w.entries, e)
		w.last = now
		if len(w.entries) >= w.size {
			delete(l.groups, w.name)
			l.waiting = append(l.waiting, w)
		}
		return
	}
	key, ep, m := routeOf(e.Call)
	w := l.open[key]
	if w == nil && len(l.open) >= l.s.opt.MaxRoutes {
		// Requested model names come from callers: a flood of made-up
		// names must not become a flood of tiny runs.
		m = otherRoute
		key = ep + ":" + m
		w = l.open[key]
	}
	if w == nil {
		w = &window{key: key, endpoint: ep, model: m, first: e.Appended, opened: now}
		l.open[key] = w
	}
	w.entries = append(w.entries, e)
	w.last = now
	if len(w.entries) >= l.s.opt.Size {
		l.closeOpen(w)
	}
}

func (l *windowLoop) closeOpen(w *window) {
	delete(l.open, w.key)
	l.waiting = append(l.waiting, w)
}

// settle is how long a recovered group waits for members still to come.
const settle = time.Second

// closeDue closes the windows whose first record is MaxAge old, and
// recovered groups that stopped growing (some members were acked or
// dropped); everything when flushing. While the queue still has records
// to hand out (a backlog after an outage, whose records are all old),
// windows fill up to Size unless this process opened them MaxAge ago:
// small windows would cost the server most exactly when it is behind.
func (l *windowLoop) closeDue() {
	l.isBehind = l.behind()
	now := l.s.d.now()
	drained := l.s.q.Stats().Backlog <= int(l.s.held.Load())
	all := l.s.flushing.Load() && drained
	for _, w := range l.open {
		aged := now.Sub(w.first) >= l.s.opt.MaxAge && (drained || now.Sub(w.opened) >= l.s.opt.MaxAge)
		if all || aged {
			l.closeOpen(w)
		}
	}
	for name, w := range l.groups {
		if all || now.Sub(w.last) >= settle {
			delete(l.groups, name)
			l.waiting = append(l.waiting, w)
		}
	}
}

// closeLargest makes room when MaxHeld records are held and none can ship.
func (l *windowLoop) closeLargest() {
	if len(l.waiting) > 0 || l.shipping > 0 {
		return
	}
	var big *window
	for _, w := range l.open {
		if big == nil || len(w.entries) > len(big.entries) {
			big = w
		}
	}
	if big != nil {
		l.closeOpen(big)
		return
	}
	for name, w := range l.groups {
		delete(l.groups, name)
		l.waiting = append(l.waiting, w)
		return
	}
}

// pending is how many windows wait, counting the records still in the
// queue as windows of Size.
func (l *windowLoop) pending() int {
	queued := max(l.s.q.Stats().Backlog-int(l.s.held.Load()), 0)
	return len(l.waiting) + (queued+l.s.opt.Size-1)/l.s.opt.Size
}

func (l *windowLoop) behind() bool { return l.pending() > l.s.opt.BehindWindows }

func (l *windowLoop) dispatch(ctx context.Context) {
	for l.shipping < l.s.opt.Concurrency && len(l.waiting) > 0 {
		w := l.waiting[0]
		l.waiting = l.waiting[1:]
		sort.Slice(w.entries, func(i, j int) bool { return w.entries[i].Seq < w.entries[j].Seq })
		n := l.pending()
		l.isBehind = n > l.s.opt.BehindWindows
		switch {
		case n > l.s.opt.FarBehind:
			w.set = StepMetricsNone
		case l.isBehind:
			w.set = StepMetricsCore
		default:
			w.set = StepMetricsFull
		}
		l.shipping++
		l.wg.Go(func() { l.s.shipLoop(ctx, w) })
	}
}

func (l *windowLoop) releaseAll() {
	for _, w := range l.open {
		l.s.release(w)
	}
	for _, w := range l.groups {
		l.s.release(w)
	}
	for _, w := range l.waiting {
		l.s.release(w)
	}
}

func (s *windowShipper) release(w *window) {
	for _, e := range w.entries {
		s.held.Add(-1)
		s.q.Release(e.Seq, time.Time{})
	}
}

func (l *windowLoop) publish() {
	behind := l.isBehind
	l.s.mu.Lock()
	st := &l.s.stats
	st.Open = len(l.open) + len(l.groups)
	st.Waiting = len(l.waiting)
	st.Shipping = l.shipping
	st.Held = int(l.s.held.Load())
	st.Behind = behind
	l.s.mu.Unlock()
}

// shipLoop ships w until it is done or ctx ends, then hands it back.
func (s *windowShipper) shipLoop(ctx context.Context, w *window) {
	for {
		if s.d.wait(ctx) != nil {
			s.release(w)
			return
		}
		w.attempts++
		err := s.ship(ctx, w)
		if err == nil {
			s.down.Store(false)
			break
		}
		if ctx.Err() != nil {
			s.release(w)
			return
		}
		s.down.Store(retryable(err))
		s.failed(w, err)
		delay := 50 * time.Millisecond // the shared gate paces retryable failures
		if !retryable(err) {
			delay = min(s.opt.RetryMax, s.opt.RetryMin<<min(w.attempts-1, 20))
		}
		if sleepCtx(ctx, delay) != nil {
			s.release(w)
			return
		}
	}
	for _, e := range w.entries {
		s.held.Add(-1)
		if err := s.q.Ack(e.Seq); err != nil {
			s.d.log.Warn("mlflow windows: ack", "err", err) // replayed after a restart: found FINISHED
		}
	}
	s.d.report(nil)
	s.mu.Lock()
	s.stats.Shipped++
	s.stats.Interactions += uint64(len(w.entries))
	switch w.set {
	case StepMetricsCore:
		s.stats.CoreWindows++
	case StepMetricsNone:
		s.stats.TableOnly++
	}
	s.mu.Unlock()
	select {
	case s.finished <- struct{}{}:
	case <-ctx.Done():
	}
}

func (s *windowShipper) failed(w *window, err error) {
	s.d.report(err)
	s.mu.Lock()
	s.stats.Failures++
	s.mu.Unlock()
	if w.attempts == 1 || !retryable(err) {
		s.d.log.Warn("mlflow windows: shipping a window failed; its records stay queued",
			"window", w.name, "records", len(w.entries), "attempt", w.attempts, "retryable", retryable(err),
			"err", Redact(err.Error(), s.d.secrets...))
	}
}

// newWindowName is "w-<unix ms hex>-<64 random bits hex>".
func newWindowName(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("w-%x-%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

func (w *window) calls() []track.Call {
	out := make([]track.Call, len(w.entries))
	for i, e := range w.entries {
		out[i] = e.Call
	}
	return out
}

func (w *window) seqs() []uint64 {
	out := make([]uint64, len(w.entries))
	for i, e := range w.entries {
		out[i] = e.Seq
	}
	return out
}

// span returns the earliest start and the latest end of w's interactions.
func (w *window) span() (startMS, endMS int64) {
	for i, e := range w.entries {
		s, end := e.Call.Start.UnixMilli(), e.Call.Start.Add(e.Call.Duration).UnixMilli()
		if i == 0 || s < startMS {
			startMS = s
		}
		endMS = max(endMS, end)
	}
	return startMS, endMS
}

func (w *window) route() string { return w.key }

func (w *window) runName() string {
	start, _ := w.span()
	return truncateRunes(fmt.Sprintf("window-%s-%d", strings.TrimPrefix(w.route(), "/"), start), maxRunName)
}

// forgetRun makes the next attempt look the run up again (another
// instance may have finished the window and deleted this run).
func (w *window) forgetRun() {
	w.run = runInfo{}
	w.createTried, w.paramsKept = true, false
	w.finished, w.batches, w.tableDone, w.summaryDone = false, 0, false, false
}

var _ Queue = (*spool.Spool)(nil)
