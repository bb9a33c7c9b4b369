package fakemlflow

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Cost is what one call costs the server's single core (one uvicorn worker,
// one Python thread). Every figure is added on top of Base, which every HTTP
// call pays (routing, auth, JSON, one SQL session): /health, /version,
// runs/search, runs/get, get-by-name, traces/get and artifact GETs cost Base
// alone.
type Cost struct {
	Base        time.Duration // every call
	RunCreate   time.Duration // runs/create
	RunUpdate   time.Duration // runs/update and runs/delete
	LogBatch    time.Duration // runs/log-batch, per call
	PerValue    time.Duration // runs/log-batch, per metric, param and tag
	ArtifactPut time.Duration // artifact PUT through the proxy, per call
	PerKB       time.Duration // artifact PUT, per KiB of body
	StartTrace  time.Duration // StartTraceV3 (POST /api/3.0/mlflow/traces)
	OTLP        time.Duration // POST /v1/traces, per request
	PerTrace    time.Duration // POST /v1/traces, per distinct trace id (≈10 SQL statements)
	PerSpan     time.Duration // POST /v1/traces, per span
}

// Calibrated returns the costs fitted to shared/reference/mlflow.md §6 "How
// much one server takes" (server CPU per 1,000 interactions, one uvicorn
// worker, SQLite). Totals per call include Base = 5 ms.
//
// The fit (ms per interaction; the §6 row in brackets):
//
//	run per interaction, no artifacts: create 30 + log-batch of 18 values
//	  (4 params, 8 metrics, 6 tags) 20 + 18×0.22 = 23.96 + update 25
//	  = 78.96                                                   [78–80]
//	with 2 artifact PUTs of < 1 KiB: 78.96 + 2×(5 + 0.05×0.6)
//	  = 89.0  → 11.2/s                                          [78–97, 9–11/s]
//	OTLP, 1 span per request: 5 + 21.5 + 1 = 27.5 → 36/s
//	OTLP, 100 traces of 1 span per request: (5 + 100×22.5)/100
//	  = 22.55 → 44/s (batching saves 18 %)                      [20–25, 35–44/s, 10–20 %]
//	  a 500-span request holds the core 5 + 500×22.5 = 11.3 s   [/health 9.9 s, 11–13 s p50]
//	StartTraceV3 14 + OTLP in batches of 100 22.55 = 36.55      [35–37]
//	window of 1,000 interactions, 8 metrics each: create 30 +
//	  8 log-batches of 1,000 values 8×(20 + 1000×0.22) = 1920 +
//	  table PUT of ~800 KiB 5 + 800×0.05 = 45 + update 25
//	  = 2020 per 1,000 = 2.02 → 495/s                           [1.9–2.3 s, 437–497/s]
func Calibrated() *Cost {
	return &Cost{
		Base:        5 * time.Millisecond,
		RunCreate:   25 * time.Millisecond,
		RunUpdate:   20 * time.Millisecond,
		LogBatch:    15 * time.Millisecond,
		PerValue:    220 * time.Microsecond,
		ArtifactPut: 0,
		PerKB:       50 * time.Microsecond,
		StartTrace:  9 * time.Millisecond,
		OTLP:        0,
		PerTrace:    21500 * time.Microsecond,
		PerSpan:     1 * time.Millisecond,
	}
}

// Scale returns a copy with every figure multiplied by f (tests use e.g.
// 0.02 to run 50× faster in the same proportions).
func (c *Cost) Scale(f float64) *Cost {
	m := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f) }
	return &Cost{
		Base: m(c.Base), RunCreate: m(c.RunCreate), RunUpdate: m(c.RunUpdate),
		LogBatch: m(c.LogBatch), PerValue: m(c.PerValue),
		ArtifactPut: m(c.ArtifactPut), PerKB: m(c.PerKB),
		StartTrace: m(c.StartTrace),
		OTLP:       m(c.OTLP), PerTrace: m(c.PerTrace), PerSpan: m(c.PerSpan),
	}
}

// of is the cost of one request. It parses just enough of the body to count
// what the real server pays for; a body that does not parse costs Base.
func (c *Cost) of(method, path string, body []byte) time.Duration {
	d := c.Base
	switch {
	case method == http.MethodPost && path == api+"runs/create":
		d += c.RunCreate
	case method == http.MethodPost && (path == api+"runs/update" || path == api+"runs/delete"):
		d += c.RunUpdate
	case method == http.MethodPost && path == api+"runs/log-batch":
		var in struct{ Metrics, Params, Tags []json.RawMessage }
		if json.Unmarshal(body, &in) == nil {
			d += c.LogBatch + time.Duration(len(in.Metrics)+len(in.Params)+len(in.Tags))*c.PerValue
		}
	case method == http.MethodPut && strings.HasPrefix(path, artProxy+"/"):
		d += c.ArtifactPut + time.Duration(float64(c.PerKB)*float64(len(body))/1024)
	case method == http.MethodPost && path == apiV3:
		d += c.StartTrace
	case method == http.MethodPost && path == otlpPath:
		traces, spans := countOTLP(body)
		d += c.OTLP + time.Duration(traces)*c.PerTrace + time.Duration(spans)*c.PerSpan
	}
	return d
}

// countOTLP counts the distinct trace ids and the spans of an export request.
func countOTLP(body []byte) (traces, spans int) {
	var req collectortrace.ExportTraceServiceRequest
	if proto.Unmarshal(body, &req) != nil {
		return 0, 0
	}
	seen := map[string]bool{}
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				spans++
				seen[string(sp.GetTraceId())] = true
			}
		}
	}
	return len(seen), spans
}

// recorder buffers a response so that the core is released before the bytes
// go out to a (possibly slow or gone) client.
type recorder struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.buf.Write(b)
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) flush(w http.ResponseWriter) {
	for k, v := range r.h {
		w.Header()[k] = v
	}
	if r.code == 0 {
		r.code = http.StatusOK
	}
	w.WriteHeader(r.code)
	w.Write(r.buf.Bytes())
}
