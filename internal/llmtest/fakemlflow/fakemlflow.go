// Package fakemlflow is an in-process MLflow tracking server for tests. It
// follows what real MLflow 2.22 / 3.5 / 3.6 / 3.11 servers were observed to
// do (shared/reference/mlflow.md): the REST paths and JSON shapes, error
// codes and messages, batch limits, key rules, param immutability, silent
// truncation of long values, metric de-duplication, runs/delete, the
// artifact proxy with path-traversal rejection, StartTraceV3, OTLP/HTTP
// /v1/traces with 3.6+ span storage (Options.Version), and an HTML 500 for
// malformed JSON. Tests can take it down (connection refused) and up again,
// slow it, make it fail the next N requests, and read back what was stored.
//
// By default it is fast. With Options.Cost (Calibrated, or a Scale of it)
// it costs what one real server costs: one serialised core spends each
// call's cost, requests queue for it (Workers admitted at once) and are
// processed even after their client has gone; Busy reports the core time.
package fakemlflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure Start.
type Options struct {
	// ArtifactRoot is the server's default artifact root. "" means
	// "mlflow-artifacts:" (the proxied default, --serve-artifacts): new
	// experiments get "mlflow-artifacts:/<id>". An "s3://bucket/prefix"
	// root gives "s3://bucket/prefix/<id>", as --default-artifact-root does.
	ArtifactRoot string
	// Token, when set, is the only accepted "Authorization: Bearer" value;
	// User/Password likewise for basic auth. Both empty: no auth.
	Token          string
	User, Password string
	// Cost, when set, makes the server cost what a real one does: one
	// serialised core spends (sleeps) each call's cost while holding it, so a
	// chatty client falls behind and one big OTLP export stalls every other
	// request. nil is the fast mode for unit tests.
	Cost *Cost
	// Workers bounds how many requests are admitted at once (queued for the
	// core or in it) when Cost is set; beyond it requests wait before their
	// body is read. 0 means 16. Ignored without Cost.
	Workers int
	// Version is the MLflow version the fake behaves as and GET /version
	// answers: "3.11.1" when empty. ≥ 3.6: spans only through OTLP
	// /v1/traces (StartTraceV3 writes info only, traces.json is ignored);
	// 3.5: spans from traces.json, OTLP stored but not readable; 2.x: no
	// /api/3.0 traces and no /v1/traces.
	Version string
}

// DefaultVersion is the MLflow version the fake behaves as by default.
const DefaultVersion = "3.11.1"

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	opt  Options
	addr string

	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	slow     time.Duration
	failNext int
	failCode int
	requests []Request
	calls    map[string]int // "METHOD path-pattern" → count
	nextExp  int
	exps     map[string]*experiment // by id
	runs     map[string]*Run
	runOrder []string
	arts     map[string][]byte // proxy artifacts by "<path after mlflow-artifacts:/>"
	traces   map[string]map[string]any
	trOrder  []string
	spans    map[string]*spanSet // OTLP span store by trace id

	ver      version
	core     sync.Mutex    // the one Python core (Cost set)
	free     time.Time     // when the core's last call should end (core held)
	sem      chan struct{} // admission, Workers slots (Cost set)
	busy     atomic.Int64  // core time charged, ns
	admitted atomic.Int64
	waiting  atomic.Int64
}

// Request is one request the fake received, recorded for assertions.
type Request struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

type experiment struct {
	ID, Name, ArtifactLocation, Stage string
	Created                           int64
	Tags                              []KV
}

// KV is an MLflow key/value (param or tag).
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Metric is one logged metric value.
type Metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

// Run is a stored run. Accessors return copies.
type Run struct {
	ID, ExperimentID, Name, UserID, Status, ArtifactURI string
	LifecycleStage                                      string // "active" or "deleted" (runs/delete)
	StartTime, EndTime                                  int64
	Params                                              map[string]string
	Tags                                                map[string]string
	Metrics                                             []Metric // full history, in logging order

	seen map[Metric]bool // the stored values, for de-duplication
}

// Start listens on 127.0.0.1 (a free port) and serves.
func Start(opt Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakemlflow: listen: %w", err)
	}
	s := &Server{
		opt:    opt,
		addr:   ln.Addr().String(),
		calls:  map[string]int{},
		exps:   map[string]*experiment{},
		runs:   map[string]*Run{},
		arts:   map[string][]byte{},
		traces: map[string]map[string]any{},
		spans:  map[string]*spanSet{},
	}
	if s.opt.Version == "" {
		s.opt.Version = DefaultVersion
	}
	s.ver = parseVersion(s.opt.Version)
	if opt.Cost != nil {
		n := opt.Workers
		if n <= 0 {
			n = 16
		}
		s.sem = make(chan struct{}, n)
	}
	s.exps["0"] = &experiment{ID: "0", Name: "Default", ArtifactLocation: s.location("0"), Stage: "active", Created: nowMS()}
	s.nextExp = 1
	s.serve(ln)
	return s, nil
}

// URL is the tracking URI, e.g. "http://127.0.0.1:40123".
func (s *Server) URL() string { return "http://" + s.addr }

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.ln, s.srv = ln, srv
	go srv.Serve(ln)
}

// Close stops the server for good.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// Down closes the listener and every open connection: clients get
// "connection refused" until Up. Requests being handled may still
// complete on the server side, as with a real crash mid-request.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// Up listens again on the same address.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("fakemlflow: relisten: %w", err)
	}
	s.serve(ln)
	return nil
}

// Slow delays every request by d (0 turns it off).
func (s *Server) Slow(d time.Duration) {
	s.mu.Lock()
	s.slow = d
	s.mu.Unlock()
}

// FailNext makes the next n requests answer 503 with an HTML body, as a
// proxy in front of a restarting server does.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	s.failNext = n
	s.failCode = http.StatusServiceUnavailable
	s.mu.Unlock()
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Calls returns how many requests hit each endpoint, keyed like
// "POST /api/2.0/mlflow/runs/create" (artifact paths collapse to
// "PUT /api/2.0/mlflow-artifacts/artifacts/*").
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// ExperimentID returns the id of the named experiment.
func (s *Server) ExperimentID(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.expByName(name)
	if e == nil {
		return "", false
	}
	return e.ID, true
}

// CreateExperiment makes an experiment directly (artifactLocation "" takes
// the server default), as an operator would before the gateway starts.
func (s *Server) CreateExperiment(name, artifactLocation string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createExp(name, artifactLocation, nil).ID
}

// Runs returns copies of the runs of an experiment (deleted ones included,
// see LifecycleStage), in creation order.
func (s *Server) Runs(experimentID string) []Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Run
	for _, id := range s.runOrder {
		if r := s.runs[id]; r.ExperimentID == experimentID {
			out = append(out, r.clone())
		}
	}
	return out
}

// CreateRunForTest inserts a RUNNING run, as a crashed client would have
// left it; tags are set as given.
func (s *Server) CreateRunForTest(experimentID string, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.newRun(experimentID, "crashed", "", nowMS())
	for k, v := range tags {
		r.Tags[k] = v
	}
	return r.ID
}

// Artifact returns a run's artifact stored through the proxy.
func (s *Server) Artifact(runID, path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[runID]
	if r == nil || !strings.HasPrefix(r.ArtifactURI, "mlflow-artifacts:/") {
		return nil, false
	}
	b, ok := s.arts[strings.TrimPrefix(r.ArtifactURI, "mlflow-artifacts:/")+"/"+path]
	return append([]byte(nil), b...), ok
}

// Trace is a stored GenAI trace.
type Trace struct {
	Info       map[string]any // trace_info as stored (JSON shape)
	TracesJSON []byte         // the uploaded traces.json, nil if none
	Spans      []Span         // spans stored through OTLP, nil if none
}

// Traces returns the traces of an experiment, in creation order.
func (s *Server) Traces(experimentID string) []Trace {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Trace
	for _, id := range s.trOrder {
		info := s.traces[id]
		if traceExp(info) != experimentID {
			continue
		}
		t := Trace{Info: info}
		if b, ok := s.arts[strings.TrimPrefix(traceLocation(info), "mlflow-artifacts:/")+"/traces.json"]; ok {
			t.TracesJSON = append([]byte(nil), b...)
		}
		if set := s.spans[id]; set != nil {
			t.Spans = set.list()
		}
		out = append(out, t)
	}
	return out
}

func (r *Run) clone() Run {
	c := *r
	c.seen = nil
	c.Params = make(map[string]string, len(r.Params))
	for k, v := range r.Params {
		c.Params[k] = v
	}
	c.Tags = make(map[string]string, len(r.Tags))
	for k, v := range r.Tags {
		c.Tags[k] = v
	}
	c.Metrics = append([]Metric(nil), r.Metrics...)
	return c
}

// LatestMetric returns the last logged value of key.
func (r Run) LatestMetric(key string) (float64, bool) {
	for i := len(r.Metrics) - 1; i >= 0; i-- {
		if r.Metrics[i].Key == key {
			return r.Metrics[i].Value, true
		}
	}
	return 0, false
}

func (s *Server) location(id string) string {
	root := strings.TrimSuffix(s.opt.ArtifactRoot, "/")
	if root == "" || root == "mlflow-artifacts:" {
		return "mlflow-artifacts:/" + id
	}
	return root + "/" + id
}

func (s *Server) expByName(name string) *experiment {
	for _, e := range s.exps {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func (s *Server) createExp(name, loc string, tags []KV) *experiment {
	id := fmt.Sprint(s.nextExp)
	s.nextExp++
	if loc == "" {
		loc = s.location(id)
	}
	e := &experiment{ID: id, Name: name, ArtifactLocation: loc, Stage: "active", Created: nowMS(), Tags: tags}
	s.exps[id] = e
	return e
}

func (s *Server) newRun(expID, name, user string, start int64) *Run {
	id := randHex(16)
	loc := s.exps[expID].ArtifactLocation
	r := &Run{
		ID: id, ExperimentID: expID, Name: name, UserID: user, Status: "RUNNING",
		StartTime: start, ArtifactURI: loc + "/" + id + "/artifacts", LifecycleStage: "active",
		Params: map[string]string{}, Tags: map[string]string{"mlflow.runName": name},
	}
	s.runs[id] = r
	s.runOrder = append(s.runOrder, id)
	return r
}

// ServeHTTP routes like the real server. It does not clean paths, so a
// "..%2F" artifact path reaches the traversal check as the real one does.
// With a Cost, a request first waits for one of Workers admission slots
// (giving up only if the client leaves before it is admitted); once
// admitted it is processed to the end even if the client has gone, as the
// real server does with requests already queued.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.sem != nil {
		s.waiting.Add(1)
		select {
		case s.sem <- struct{}{}:
			s.waiting.Add(-1)
		case <-r.Context().Done():
			s.waiting.Add(-1)
			return
		}
		s.admitted.Add(1)
		defer func() { s.admitted.Add(-1); <-s.sem }()
		r = r.WithContext(context.WithoutCancel(r.Context()))
	}
	body, err := readBody(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "BAD_REQUEST", "could not read body")
		return
	}
	if r.URL.Path == otlpPath && s.ver.atLeast(3, 7) {
		if body, err = decompressOTLP(r.Header.Get("Content-Encoding"), body); err != nil {
			detail(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	s.calls[r.Method+" "+pattern(r.URL.Path)]++
	slow, fail := s.slow, s.failNext > 0
	if fail {
		s.failNext--
	}
	code := s.failCode
	s.mu.Unlock()
	if slow > 0 {
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
	}
	if fail {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(code)
		fmt.Fprint(w, "<html><body><h1>503 Service Unavailable</h1></body></html>")
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mlflow"`)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.")
		return
	}
	if s.opt.Cost == nil {
		s.route(w, r, body)
		return
	}
	rec := newRecorder()
	s.onCore(s.opt.Cost.of(r.Method, r.URL.Path, body), func() { s.route(rec, r, body) })
	rec.flush(w)
}

// onCore runs fn on the core and keeps the core for d in all, fn's own
// work included. The charge is counted in Busy as soon as the core is
// taken. A sleep wakes late; when the core goes straight from one call to
// the next, the next counts from where the last should have ended, so that
// late wake-ups do not add up under load.
func (s *Server) onCore(d time.Duration, fn func()) {
	const catchUp = 5 * time.Millisecond
	s.core.Lock()
	defer s.core.Unlock()
	s.busy.Add(int64(d))
	start := time.Now()
	if late := start.Sub(s.free); late >= 0 && late < catchUp {
		start = s.free
	}
	s.free = start.Add(d)
	fn()
	time.Sleep(time.Until(s.free))
}

// Busy is the total core time charged so far (the server CPU a real
// MLflow would have spent); 0 in fast mode.
func (s *Server) Busy() time.Duration { return time.Duration(s.busy.Load()) }

// Queue reports how many requests are admitted (waiting for the core or in
// it) and how many wait for admission; both 0 in fast mode.
func (s *Server) Queue() (admitted, waiting int) {
	return int(s.admitted.Load()), int(s.waiting.Load())
}

// HoldCore takes the core as a long request would, until the returned
// release is called: tests use it to queue requests deterministically.
func (s *Server) HoldCore() (release func()) {
	s.core.Lock()
	var once sync.Once
	return func() { once.Do(s.core.Unlock) }
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opt.Token == "" && s.opt.User == "" {
		return true
	}
	if s.opt.Token != "" && r.Header.Get("Authorization") == "Bearer "+s.opt.Token {
		return true
	}
	u, p, ok := r.BasicAuth()
	return s.opt.User != "" && ok && u == s.opt.User && p == s.opt.Password
}

func pattern(path string) string {
	if strings.HasPrefix(path, "/api/2.0/mlflow-artifacts/artifacts/") {
		return "/api/2.0/mlflow-artifacts/artifacts/*"
	}
	if strings.HasPrefix(path, "/api/3.0/mlflow/traces/") && path != "/api/3.0/mlflow/traces/search" {
		return "/api/3.0/mlflow/traces/*"
	}
	return path
}

func nowMS() int64 { return time.Now().UnixMilli() }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Wait polls cond until it holds or ctx ends; a test helper for "eventually".
func Wait(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return errors.New("fakemlflow: condition not met before deadline")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
