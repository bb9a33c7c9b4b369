// Package mlflow tracks every interaction in an MLflow tracking server
// without slowing requests or losing records.
//
// Tracker.Record only appends the call to durable local queues ("channels",
// internal/track/spool on one machine, or a shared PostgreSQL queue) and
// returns. Each channel has its own shipper and its own exactly-once logic:
//
//   - windows: one run per window of up to N interactions of one route
//     (each interaction's metrics as steps, every interaction a row of the
//     interactions.json table, summaries at close): ~2 ms of MLflow server
//     CPU per interaction, so one server keeps up with ~1,000/s.
//   - traces: one MLflow 3 trace per interaction (OTLP on 3.6+), sampled
//     when the server cannot take them all (errors and fallbacks always).
//   - runs: one run per interaction (the seed's shape; ~90 ms of server CPU
//     each, so ~10/s per server).
//
// A record leaves a channel only after every call for it succeeded. MLflow
// errors never drop a record: transport errors, 5xx, 429 and 401 pause all
// shippers with a growing, jittered backoff, cut short by a cheap probe of
// the server's /health once it answers again; other rejections delay just
// that record. Close flushes what it can within its context and leaves the
// rest for the next start.
package mlflow

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// Mode selects what is logged per interaction.
type Mode string

// The logging modes.
const (
	// ModeAuto (the default): window runs always, traces when the server
	// supports them (sampled when it cannot keep up), per-interaction runs
	// while their backlog is small.
	ModeAuto    Mode = "auto"
	ModeRuns    Mode = "runs"    // one run per interaction (the seed's shape)
	ModeWindows Mode = "windows" // window runs only
	ModeTraces  Mode = "traces"  // one MLflow 3 GenAI trace per interaction, none sampled away
	ModeBoth    Mode = "both"    // a run and a trace per interaction
)

// Channel names: the queue (and spool subdirectory) of each kind of record.
const (
	ChannelRuns    = "runs"
	ChannelWindows = "windows"
	ChannelTraces  = "traces"
)

// ErrDisabled is returned by Open when no tracking URI is configured.
var ErrDisabled = errors.New("mlflow: tracking disabled (no tracking URI)")

// Config configures Open. Zero values take the defaults noted.
type Config struct {
	TrackingURI    string // MLFLOW_TRACKING_URI; "" disables tracking (Open returns ErrDisabled)
	ExperimentName string // MLFLOW_EXPERIMENT_NAME; default "llm-connector"
	Token          string // MLFLOW_TRACKING_TOKEN (bearer); wins over basic auth
	Username       string // MLFLOW_TRACKING_USERNAME
	Password       string // MLFLOW_TRACKING_PASSWORD

	S3EndpointURL string // MLFLOW_S3_ENDPOINT_URL; "" means AWS S3
	S3AccessKey   string // AWS_ACCESS_KEY_ID
	S3SecretKey   string // AWS_SECRET_ACCESS_KEY
	S3Region      string // AWS_DEFAULT_REGION; default "us-east-1"
	S3IgnoreTLS   bool   // MLFLOW_S3_IGNORE_TLS

	Mode          Mode          // default ModeAuto
	SpoolDir      string        // required unless OpenQueue is set; the runs channel uses it, the others subdirectories
	SpoolMaxBytes int64         // per channel; default spool.DefaultMaxBytes (256 MiB)
	FullPolicy    spool.Policy  // default spool.DropOldest
	SpoolSync     time.Duration // group fsync delay; default spool.DefaultSyncInterval
	Workers       int           // runs channel workers; default 4
	// OpenQueue, when set, opens each channel's queue instead of a file
	// spool (the PostgreSQL queue shared by many instances).
	OpenQueue func(channel string) (Queue, error)
	// Window shapes the window runs (size, age, step metrics).
	Window WindowOptions
	// Trace shapes the trace channel (batches, sizes, metadata).
	Trace TraceOptions
	// RunsBacklogMax: in auto mode a per-interaction run is queued only
	// while fewer than this many wait (and the windows are not behind);
	// default 20: a run costs the server ~90 ms, so one server makes ~10
	// of them a second, and a longer queue would only hold stale extras.
	RunsBacklogMax int
	// RunsMaxRate: in auto mode per-interaction runs are made only while
	// interactions arrive slower than this per second (a run costs the
	// server ~90 ms: one server makes ~10 a second); default 5.
	RunsMaxRate float64
	// TraceMaxRate: in auto mode at most this many traces a second besides
	// errors and fallbacks (one server takes ~40, and the window runs come
	// first); default 10.
	TraceMaxRate float64
	// RecheckAfter: a replayed interaction's run is checked for a
	// duplicate right after it is finished and once more this much later
	// (a congested server may still be creating one from a killed
	// process's queued request); default 1 min.
	RecheckAfter time.Duration
	// ProbeInterval: while deliveries fail, how often the server's /health
	// is probed, so shipping resumes at once when it answers; default
	// 500 ms (one cheap GET, only while deliveries fail).
	ProbeInterval time.Duration

	SourceName     string        // mlflow.source.name; default "llm-connector"
	RequestTimeout time.Duration // per HTTP call; default 30 s
	MinBackoff     time.Duration // default 200 ms
	MaxBackoff     time.Duration // default 30 s
	HTTPClient     *http.Client  // default: a client with RequestTimeout
	Logger         *slog.Logger  // default slog.Default()
}

// ConfigFromEnv reads the variables MLflow's own clients read:
// MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME, MLFLOW_TRACKING_TOKEN,
// MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_S3_ENDPOINT_URL,
// MLFLOW_S3_IGNORE_TLS, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_DEFAULT_REGION (or AWS_REGION). Spool and mode settings are left for
// the caller.
func ConfigFromEnv(getenv func(string) string) Config {
	ignore, _ := strconv.ParseBool(getenv("MLFLOW_S3_IGNORE_TLS"))
	return Config{
		TrackingURI:    strings.TrimSpace(getenv("MLFLOW_TRACKING_URI")),
		ExperimentName: getenv("MLFLOW_EXPERIMENT_NAME"),
		Token:          getenv("MLFLOW_TRACKING_TOKEN"),
		Username:       getenv("MLFLOW_TRACKING_USERNAME"),
		Password:       getenv("MLFLOW_TRACKING_PASSWORD"),
		S3EndpointURL:  getenv("MLFLOW_S3_ENDPOINT_URL"),
		S3AccessKey:    getenv("AWS_ACCESS_KEY_ID"),
		S3SecretKey:    getenv("AWS_SECRET_ACCESS_KEY"),
		S3Region:       firstNonEmpty(getenv("AWS_DEFAULT_REGION"), getenv("AWS_REGION")),
		S3IgnoreTLS:    ignore,
	}
}

// ParseMode maps a configuration string to a Mode; "" is ModeAuto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeRuns, ModeWindows, ModeTraces, ModeBoth:
		return m, nil
	}
	return "", fmt.Errorf("mlflow: unknown mode %q (want auto, runs, windows, traces or both)", s)
}

// channels returns which channels a mode uses.
func (m Mode) channels() (runs, windows, traces bool) {
	switch m {
	case ModeRuns:
		return true, false, false
	case ModeWindows:
		return false, true, false
	case ModeTraces:
		return false, false, true
	case ModeBoth:
		return true, false, true
	}
	return true, true, true
}

func (c *Config) defaults() error {
	if c.TrackingURI == "" {
		return ErrDisabled
	}
	if c.SpoolDir == "" && c.OpenQueue == nil {
		return errors.New("mlflow: no spool directory")
	}
	m, err := ParseMode(string(c.Mode))
	if err != nil {
		return err
	}
	c.Mode = m
	if c.ExperimentName == "" {
		c.ExperimentName = "llm-connector"
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Window.Size <= 0 {
		c.Window.Size = 1000
	}
	if c.RunsBacklogMax <= 0 {
		c.RunsBacklogMax = 20
	}
	if c.RunsMaxRate <= 0 {
		c.RunsMaxRate = 5
	}
	if c.TraceMaxRate <= 0 {
		c.TraceMaxRate = 10
	}
	if c.RecheckAfter <= 0 {
		c.RecheckAfter = time.Minute
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 500 * time.Millisecond
	}
	if c.SourceName == "" {
		c.SourceName = "llm-connector"
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 200 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(30*time.Second, c.MinBackoff)
	}
	if c.S3Region == "" {
		c.S3Region = "us-east-1"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Stats is what /health and metrics show about tracking: the sums over
// every channel, and each channel on its own.
type Stats struct {
	Mode          Mode
	Backlog       int           // records not yet in MLflow (queued, in flight included)
	BacklogBytes  int64         // their size on disk
	OldestAge     time.Duration // age of the oldest of them
	InFlight      int
	Dropped       uint64 // dropped by the drop_oldest policy since start
	Rejected      uint64 // refused by the reject policy since start
	Corrupt       uint64 // unreadable spool lines skipped since start
	Shipped       uint64 // records fully delivered since start
	Failures      uint64 // failed delivery attempts since start
	Failing       bool   // the last delivery attempt failed
	LastError     string // error of the last failed attempt while failing, secrets removed; "" once a delivery succeeds
	LastErrorTime time.Time
	// Skipped counts interactions that, in auto mode, got no run of their
	// own because the runs backlog was full (they are in the windows).
	Skipped uint64
	// TraceSampleRate is the fraction of interactions that got a trace
	// over the last minute (auto mode samples when MLflow cannot take
	// them all; 1 in the other modes).
	TraceSampleRate float64
	// TraceAPI is how traces reach this server: "otlp",
	// "start_trace_v3+traces.json", "none" (MLflow 2.x) or "unknown".
	TraceAPI string
	Channels map[string]ChannelStats
}

// ChannelStats is one channel's queue.
type ChannelStats struct {
	Backlog   int
	OldestAge time.Duration
	Shipped   uint64
	Dropped   uint64
}

// channel is one queue and the shipper that drains it.
type channel struct {
	name    string
	q       Queue
	run     func(ctx context.Context)
	flush   func(ctx context.Context) // ships what the shipper holds (open windows); may be nil
	shipped func() uint64
}

// Tracker is a track.Sink that queues records and ships them to MLflow.
type Tracker struct {
	cfg     Config
	log     *slog.Logger
	cl      *client
	secrets []string
	s3      s3Uploader
	gate    gate
	health  healthState

	runs, windows, traces *channel
	all                   []*channel
	skipped               atomic.Uint64
	arrivals              rateMeter
	sampler               *traceSampler
	traceShip             *traceShipper
	windowShip            *windowShipper

	expMu sync.Mutex
	expID string

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens (and recovers) the queues and starts the shippers.
func Open(cfg Config) (*Tracker, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.TrackingURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mlflow: tracking URI must be http(s)://host[:port][/path]")
	}
	if u.User != nil { // credentials in the URI: use them, never echo them
		if cfg.Username == "" {
			cfg.Username = u.User.Username()
			cfg.Password, _ = u.User.Password()
		}
		u.User = nil
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Workers * 2
		hc = &http.Client{Timeout: cfg.RequestTimeout, Transport: tr}
	}
	t := &Tracker{
		cfg:  cfg,
		log:  cfg.Logger,
		cl:   &client{base: strings.TrimSuffix(u.String(), "/"), hc: hc, token: cfg.Token, user: cfg.Username, password: cfg.Password},
		gate: gate{min: cfg.MinBackoff, max: cfg.MaxBackoff},
	}
	basic := ""
	if cfg.Password != "" { // the Authorization value a server may echo
		basic = base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
	}
	for _, s := range []string{cfg.Token, cfg.Password, cfg.S3SecretKey, basic} {
		if s != "" {
			t.secrets = append(t.secrets, s)
		}
	}
	t.s3 = s3Uploader{cfg: &t.cfg}
	if err := t.openChannels(); err != nil {
		t.closeQueues()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	for _, ch := range t.all {
		t.wg.Go(func() { ch.run(ctx) })
	}
	t.wg.Go(func() { t.probe(ctx) })
	return t, nil
}

// openQueue opens one channel's queue: the configured opener, else a file
// spool (the runs channel in SpoolDir itself, as before channels existed,
// so a spool left by an older version is shipped; the others beside it).
func (t *Tracker) openQueue(name string) (Queue, error) {
	if t.cfg.OpenQueue != nil {
		return t.cfg.OpenQueue(name)
	}
	dir := t.cfg.SpoolDir
	if name != ChannelRuns {
		dir = filepath.Join(dir, name)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("mlflow: spool: %w", err)
	}
	sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: t.cfg.SpoolMaxBytes, Policy: t.cfg.FullPolicy,
		SyncInterval: t.cfg.SpoolSync, Logger: t.cfg.Logger})
	if err != nil {
		return nil, err
	}
	return sp, nil
}

func (t *Tracker) deps() shipDeps {
	return shipDeps{
		cl: t.cl, experiment: t.experiment, forgetExperiment: t.forgetExperiment,
		secrets: t.secrets, log: t.log, report: t.report, wait: t.gate.wait,
		put: t.putArtifact, now: time.Now,
	}
}

// yieldingDeps are the deps of a channel that, in auto mode, gives the
// server's time to the window runs: its shipper waits while they are
// behind (they carry every interaction; runs and traces are extras).
func (t *Tracker) yieldingDeps() shipDeps {
	d := t.deps()
	if t.cfg.Mode != ModeAuto {
		return d
	}
	d.wait = func(ctx context.Context) error {
		for {
			if err := t.gate.wait(ctx); err != nil {
				return err
			}
			if !t.windowsBehind() {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return d
}

// windowsBehind reports whether a closed window waits for the server: the
// runs and traces channels then leave the server to the window runs.
func (t *Tracker) windowsBehind() bool {
	return t.windowShip != nil && t.windowShip.Stats().Waiting > 0
}

// wantRun is auto mode's rule for a per-interaction run: only while
// interactions arrive slowly, the runs backlog is small and the window
// runs are not waiting.
func (t *Tracker) wantRun() bool {
	return t.arrivals.rate(time.Now()) < t.cfg.RunsMaxRate && t.runs.q.Stats().Backlog < t.cfg.RunsBacklogMax && !t.windowsBehind()
}

func (t *Tracker) openChannels() error {
	runs, windows, traces := t.cfg.Mode.channels()
	if runs {
		q, err := t.openQueue(ChannelRuns)
		if err != nil {
			return err
		}
		rs := &runShipper{d: t.yieldingDeps(), q: q, workers: t.cfg.Workers, source: t.cfg.SourceName,
			backoff: t.gate.backoff, prog: map[uint64]*progress{}, recheckAfter: t.cfg.RecheckAfter}
		t.runs = &channel{name: ChannelRuns, q: q, run: rs.run, shipped: rs.shipped.Load}
		t.all = append(t.all, t.runs)
	}
	if windows {
		ch, err := t.openWindows()
		if err != nil {
			return err
		}
		t.windows = ch
		t.all = append(t.all, ch)
	}
	if traces {
		ch, err := t.openTraces()
		if err != nil {
			return err
		}
		t.traces = ch
		t.all = append(t.all, ch)
	}
	return nil
}

func (t *Tracker) closeQueues() {
	for _, ch := range t.all {
		ch.q.Close()
	}
}

// Record implements track.Sink: it appends c to each channel's queue the
// mode asks for and returns. It fails only when a queue refuses the record
// (policy reject: track.ErrDropped), the disk fails, or the tracker is
// closed.
func (t *Tracker) Record(ctx context.Context, c track.Call) error {
	if c.Content == track.ContentNone { // MLflow shows that content was withheld, not an empty prompt
		c.System, c.Prompt, c.Response = "", track.NotLogged, track.NotLogged
	}
	t.arrivals.add(time.Now())
	var errs []error
	if t.windows != nil {
		errs = append(errs, t.windows.q.Record(ctx, c))
	}
	if t.runs != nil {
		if t.cfg.Mode != ModeAuto || t.wantRun() {
			errs = append(errs, t.runs.q.Record(ctx, c))
		} else {
			t.skipped.Add(1)
		}
	}
	if t.traces != nil && t.admitTrace(c) {
		errs = append(errs, t.traces.q.Record(ctx, c))
	}
	return errors.Join(errs...)
}

// Sync waits until every record appended before the call is durable.
func (t *Tracker) Sync(ctx context.Context) error {
	var errs []error
	for _, ch := range t.all {
		errs = append(errs, ch.q.Sync(ctx))
	}
	return errors.Join(errs...)
}

// Stats returns a snapshot for /health and metrics.
func (t *Tracker) Stats() Stats {
	st := Stats{Mode: t.cfg.Mode, Skipped: t.skipped.Load(), Channels: map[string]ChannelStats{}}
	for _, ch := range t.all {
		ss := ch.q.Stats()
		st.Backlog += ss.Backlog
		st.BacklogBytes += ss.Bytes
		st.OldestAge = max(st.OldestAge, ss.OldestAge)
		st.InFlight += ss.InFlight
		st.Dropped += ss.Dropped
		st.Rejected += ss.Rejected
		st.Corrupt += ss.Corrupt
		shipped := ch.shipped()
		st.Shipped += shipped
		st.Channels[ch.name] = ChannelStats{Backlog: ss.Backlog, OldestAge: ss.OldestAge, Shipped: shipped, Dropped: ss.Dropped + ss.Rejected}
	}
	t.health.fill(&st)
	if t.traceShip != nil {
		st.TraceAPI = t.traceShip.Stats().API
		st.TraceSampleRate = t.traceSampleRate()
	}
	return st
}

func (t *Tracker) backlog() int {
	n := 0
	for _, ch := range t.all {
		n += ch.q.Stats().Backlog
	}
	return n
}

// Close keeps shipping until the backlog is empty or ctx ends (shippers
// that hold records, like open windows, ship them first), then stops the
// shippers (calls in flight are abandoned; their records stay) and closes
// the queues. Records left over are shipped after the next Open.
func (t *Tracker) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		for _, ch := range t.all {
			if ch.flush != nil {
				ch.flush(ctx)
			}
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
	drain:
		for t.backlog() > 0 {
			select {
			case <-ctx.Done():
				break drain
			case <-tick.C:
			}
		}
		t.cancel()
		t.wg.Wait()
		if left := t.backlog(); left > 0 {
			t.log.Warn("mlflow: records left in the queue for the next start", "records", left, "dir", t.cfg.SpoolDir)
		}
		var errs []error
		for _, ch := range t.all {
			errs = append(errs, ch.q.Close())
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

func terminal(status string) bool {
	return status == "FINISHED" || status == "FAILED" || status == "KILLED"
}

func (t *Tracker) experiment(ctx context.Context) (string, error) {
	t.expMu.Lock()
	defer t.expMu.Unlock()
	if t.expID != "" {
		return t.expID, nil
	}
	id, err := t.cl.ensureExperiment(ctx, t.cfg.ExperimentName, t.cfg.SourceName)
	if err != nil {
		return "", err
	}
	t.expID = id
	return id, nil
}

func (t *Tracker) forgetExperiment() {
	t.expMu.Lock()
	t.expID = ""
	t.expMu.Unlock()
}

// putArtifact writes name under a run's (or trace's) artifact URI, the
// way the real server expects for that URI's scheme.
func (t *Tracker) putArtifact(ctx context.Context, uri, name string, data []byte) error {
	switch {
	case strings.HasPrefix(uri, "mlflow-artifacts:"):
		root := strings.TrimPrefix(uri, "mlflow-artifacts:")
		if rest, ok := strings.CutPrefix(root, "//"); ok { // mlflow-artifacts://host:port/path
			_, root, _ = strings.Cut(rest, "/")
		}
		return t.cl.putProxyArtifact(ctx, root, name, data)
	case strings.HasPrefix(uri, "s3://"):
		return t.s3.put(ctx, uri, name, data)
	}
	scheme, _, _ := strings.Cut(uri, ":")
	return &permanentError{fmt.Errorf("mlflow: artifact %s: unsupported artifact URI scheme %q (serve artifacts through the tracking server or use s3://)", name, scheme)}
}

// gate pauses every worker after retryable failures: exponential backoff
// with equal jitter, reset by a success or by the probe.
type gate struct {
	min, max time.Duration
	mu       sync.Mutex
	until    time.Time
	fails    int
	opened   chan struct{} // closed and replaced by reset: wakes the waiters
}

func (g *gate) backoff(n int) time.Duration {
	d := g.max
	if n < 30 {
		d = min(g.max, g.min<<max(n-1, 0))
	}
	return d/2 + rand.N(d/2+1)
}

func (g *gate) fail() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fails++
	if u := time.Now().Add(g.backoff(g.fails)); u.After(g.until) {
		g.until = u
	}
}

// closed reports whether the gate is holding shippers back now.
func (g *gate) closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Now().Before(g.until)
}

// reset opens the gate at once (the server answers again) and wakes every
// waiter.
func (g *gate) reset() {
	g.mu.Lock()
	g.until, g.fails = time.Time{}, 0
	if g.opened != nil {
		close(g.opened)
		g.opened = nil
	}
	g.mu.Unlock()
}

func (g *gate) ok() {
	g.mu.Lock()
	g.fails = 0
	g.mu.Unlock()
}

func (g *gate) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		d := time.Until(g.until)
		if d > 0 && g.opened == nil {
			g.opened = make(chan struct{})
		}
		opened := g.opened
		g.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-opened:
			tm.Stop()
		case <-tm.C:
		}
	}
}

var _ track.Sink = (*Tracker)(nil)
