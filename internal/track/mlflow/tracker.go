// Package mlflow tracks every interaction in an MLflow tracking server
// without slowing requests or losing records.
//
// Tracker.Record only appends the call to a durable local spool
// (internal/track/spool) and returns. Background workers drain the spool:
// per record they create (or, on a replay, find) a run tagged with the
// interaction ID, log params, metrics and tags in one runs/log-batch,
// upload prompt.txt and response.txt (through the server's artifact proxy
// for mlflow-artifacts: URIs, straight to S3/MinIO for s3:// URIs) and
// end the run FINISHED or FAILED; in traces mode they log an MLflow 3
// trace instead (or as well). A record leaves the spool only after every
// call for it succeeded. MLflow errors never drop a record: transport
// errors, 5xx, 429 and 401 pause all workers with a growing, jittered
// backoff; other rejections delay just that record. Close flushes what it
// can within its context and leaves the rest for the next start.
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
	ModeRuns   Mode = "runs"   // one run per interaction (default)
	ModeTraces Mode = "traces" // one MLflow 3 GenAI trace per interaction
	ModeBoth   Mode = "both"   // a run and a trace linked by mlflow.sourceRun
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

	Mode          Mode          // default ModeRuns
	SpoolDir      string        // required
	SpoolMaxBytes int64         // default spool.DefaultMaxBytes (256 MiB)
	FullPolicy    spool.Policy  // default spool.DropOldest
	SpoolSync     time.Duration // group fsync delay; default spool.DefaultSyncInterval
	Workers       int           // default 4

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

// ParseMode maps a configuration string to a Mode; "" is ModeRuns.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeRuns, nil
	case ModeRuns, ModeTraces, ModeBoth:
		return m, nil
	}
	return "", fmt.Errorf("mlflow: unknown mode %q (want runs, traces or both)", s)
}

func (c *Config) defaults() error {
	if c.TrackingURI == "" {
		return ErrDisabled
	}
	if c.SpoolDir == "" {
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

// Stats is what /health and metrics show about tracking.
type Stats struct {
	Mode          Mode
	Backlog       int           // records not yet in MLflow (spooled, in flight included)
	BacklogBytes  int64         // their size on disk
	OldestAge     time.Duration // age of the oldest of them
	InFlight      int
	Dropped       uint64 // dropped by the drop_oldest policy since start
	Rejected      uint64 // refused by the reject policy since start
	Corrupt       uint64 // unreadable spool lines skipped since start
	Shipped       uint64 // records fully delivered since start
	Failures      uint64 // failed delivery attempts since start
	LastError     string // last delivery error, secrets removed; "" if none yet
	LastErrorTime time.Time
}

// Tracker is a track.Sink that spools records and ships them to MLflow.
type Tracker struct {
	cfg     Config
	log     *slog.Logger
	cl      *client
	sp      *spool.Spool
	secrets []string
	s3      s3Uploader
	gate    gate

	expMu sync.Mutex
	expID string

	progMu sync.Mutex
	prog   map[uint64]*progress

	shipped  atomic.Uint64
	failures atomic.Uint64
	errMu    sync.Mutex
	lastErr  string
	lastAt   time.Time
	failing  bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// progress is what this process already did for one record.
type progress struct {
	run         runInfo
	fromSearch  bool
	createTried bool
	batchDone   bool
	artsDone    bool
	runDone     bool
	traceTried  bool
	traceDone   bool
}

// Open opens (and recovers) the spool and starts the shipping workers.
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
	sp, err := spool.Open(spool.Options{Dir: cfg.SpoolDir, MaxBytes: cfg.SpoolMaxBytes, Policy: cfg.FullPolicy,
		SyncInterval: cfg.SpoolSync, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	t := &Tracker{
		cfg:  cfg,
		log:  cfg.Logger,
		cl:   &client{base: strings.TrimSuffix(u.String(), "/"), hc: hc, token: cfg.Token, user: cfg.Username, password: cfg.Password},
		sp:   sp,
		prog: map[uint64]*progress{},
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
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	for range cfg.Workers {
		t.wg.Go(func() { t.worker(ctx) })
	}
	return t, nil
}

// Record implements track.Sink: it appends c to the spool and returns.
// It fails only when the spool refuses the record (policy reject:
// track.ErrDropped), the disk fails, or the tracker is closed.
func (t *Tracker) Record(ctx context.Context, c track.Call) error {
	return t.sp.Record(ctx, c)
}

// Sync waits until every record appended before the call is fsynced.
func (t *Tracker) Sync(ctx context.Context) error { return t.sp.Sync(ctx) }

// Stats returns a snapshot for /health and metrics.
func (t *Tracker) Stats() Stats {
	ss := t.sp.Stats()
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return Stats{
		Mode: t.cfg.Mode, Backlog: ss.Backlog, BacklogBytes: ss.Bytes, OldestAge: ss.OldestAge,
		InFlight: ss.InFlight, Dropped: ss.Dropped, Rejected: ss.Rejected, Corrupt: ss.Corrupt,
		Shipped: t.shipped.Load(), Failures: t.failures.Load(), LastError: t.lastErr, LastErrorTime: t.lastAt,
	}
}

// Close keeps shipping until the backlog is empty or ctx ends, then stops
// the workers (calls in flight are abandoned; their records stay) and
// closes the spool. Records left over are shipped after the next Open.
func (t *Tracker) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
	drain:
		for t.sp.Stats().Backlog > 0 {
			select {
			case <-ctx.Done():
				break drain
			case <-tick.C:
			}
		}
		t.cancel()
		t.wg.Wait()
		if left := t.sp.Stats().Backlog; left > 0 {
			t.log.Warn("mlflow: records left in the spool for the next start", "records", left, "dir", t.cfg.SpoolDir)
		}
		t.closeErr = t.sp.Close()
	})
	return t.closeErr
}

func (t *Tracker) worker(ctx context.Context) {
	for {
		if err := t.gate.wait(ctx); err != nil {
			return
		}
		e, err := t.sp.Next(ctx)
		if err != nil {
			return
		}
		err = t.ship(ctx, e)
		if err == nil {
			t.sp.Ack(e.Seq)
			t.progMu.Lock()
			delete(t.prog, e.Seq)
			t.progMu.Unlock()
			t.shipped.Add(1)
			t.gate.ok()
			t.recovered()
			continue
		}
		if ctx.Err() != nil {
			t.sp.Release(e.Seq, time.Time{})
			return
		}
		t.failed(err, e)
		if retryable(err) {
			t.gate.fail()
			t.sp.Release(e.Seq, time.Time{})
		} else {
			t.sp.Release(e.Seq, time.Now().Add(t.gate.backoff(e.Attempts)))
		}
	}
}

func (t *Tracker) failed(err error, e spool.Entry) {
	msg := Redact(err.Error(), t.secrets...)
	t.errMu.Lock()
	first := !t.failing
	t.failing = true
	t.lastErr, t.lastAt = msg, time.Now()
	t.errMu.Unlock()
	// Counted after the message is set, so that a reader who sees the
	// count also sees the error.
	t.failures.Add(1)
	if first || !retryable(err) {
		t.log.Warn("mlflow: delivery failed; the record stays in the spool", "err", msg, "attempt", e.Attempts, "retryable", retryable(err))
	}
}

func (t *Tracker) recovered() {
	t.errMu.Lock()
	was := t.failing
	t.failing = false
	t.errMu.Unlock()
	if was {
		t.log.Info("mlflow: delivery resumed")
	}
}

func (t *Tracker) progressFor(seq uint64) *progress {
	t.progMu.Lock()
	defer t.progMu.Unlock()
	p := t.prog[seq]
	if p == nil {
		p = &progress{}
		t.prog[seq] = p
	}
	return p
}

// ship performs every call for one record; it is safe to repeat.
func (t *Tracker) ship(ctx context.Context, e spool.Entry) error {
	expID, err := t.experiment(ctx)
	if err != nil {
		return err
	}
	p := t.progressFor(e.Seq)
	var runID string
	if t.cfg.Mode != ModeTraces {
		if err := t.shipRun(ctx, e, expID, p); err != nil {
			if isCode(err, "RESOURCE_DOES_NOT_EXIST") && p.run.RunID == "" {
				t.forgetExperiment()
			}
			return err
		}
		runID = p.run.RunID
	}
	if t.cfg.Mode != ModeRuns && !p.traceDone {
		seen := e.Recovered || p.traceTried
		p.traceTried = true
		if err := t.shipTrace(ctx, e.Call, expID, runID, seen); err != nil {
			return err
		}
		p.traceDone = true
	}
	return nil
}

func (t *Tracker) shipRun(ctx context.Context, e spool.Entry, expID string, p *progress) error {
	if p.runDone {
		return nil
	}
	c := e.Call
	d := buildRun(c, t.cfg.SourceName, t.secrets)
	if p.run.RunID == "" && (e.Recovered || p.createTried) {
		ri, ok, err := t.cl.findRun(ctx, expID, TagInteractionID, c.ID)
		if err != nil {
			return err
		}
		if ok {
			p.run, p.fromSearch = ri, true
		}
	}
	if p.run.RunID == "" {
		ri, err := t.cl.createRun(ctx, createRunReq{ExperimentID: expID, RunName: d.name, UserID: d.user, StartTime: d.startMS, Tags: d.create})
		if err != nil {
			// Unless the request never left (dial failed), the server may
			// have created the run: look before creating next time.
			p.createTried = p.createTried || !notSent(err)
			return err
		}
		p.run = ri
	}
	if p.fromSearch && terminal(p.run.Status) { // an earlier process finished it
		p.runDone = true
		return nil
	}
	if !p.batchDone {
		if err := t.cl.logBatch(ctx, logBatchReq{RunID: p.run.RunID, Params: d.params, Metrics: d.metrics, Tags: d.tags}); err != nil {
			return err
		}
		p.batchDone = true
	}
	if !p.artsDone {
		if err := t.putArtifact(ctx, p.run.ArtifactURI, PromptArtifact, []byte(promptText(c))); err != nil {
			return err
		}
		if err := t.putArtifact(ctx, p.run.ArtifactURI, ResponseArtifact, []byte(c.Response)); err != nil {
			return err
		}
		p.artsDone = true
	}
	if err := t.cl.updateRun(ctx, p.run.RunID, d.status, d.endMS); err != nil {
		return err
	}
	p.runDone = true
	return nil
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
// with equal jitter, reset by a success.
type gate struct {
	min, max time.Duration
	mu       sync.Mutex
	until    time.Time
	fails    int
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

func (g *gate) ok() {
	g.mu.Lock()
	g.fails = 0
	g.mu.Unlock()
}

func (g *gate) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		d := time.Until(g.until)
		g.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-tm.C:
		}
	}
}

var _ track.Sink = (*Tracker)(nil)
