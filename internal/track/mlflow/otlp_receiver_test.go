package mlflow

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// otlpReceiver is a small MLflow 3.6+ stand-in for the trace endpoints,
// following mlflow.md §6: OTLP /v1/traces (protobuf, header
// x-mlflow-experiment-id, JSON answer labelled protobuf) creates the trace
// tr-<hex>, stores one row per span id and adds the spans' usage to the
// trace's mlflow.trace.tokenUsage on every export, re-sends included;
// StartTraceV3 sets metadata and is a 500 for an existing id; GET
// /api/3.0/mlflow/traces/{id} reads trace info; GET /version.
type otlpReceiver struct {
	srv     *httptest.Server
	version string

	mu       sync.Mutex
	traces   map[string]*recvTrace
	exports  []recvExport
	starts   int
	lookups  int
	faults   []string // per /v1/traces request: "eof" and "hang" process first; "500" does not
	versions int
	refuse   string // a request with a span named like this is a 400
	inFlight int    // /v1/traces requests being served
	maxConc  int    // the most at once
}

type recvTrace struct {
	exp       string
	meta      map[string]string
	spans     map[string]*tracepb.Span // by span id hex
	in, out   int                      // mlflow.trace.tokenUsage
	fromStart bool
}

type recvExport struct {
	bytes, traces, spans int
}

func newOTLPReceiver(t testing.TB, version string) *otlpReceiver {
	r := &otlpReceiver{version: version, traces: map[string]*recvTrace{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) fault(modes ...string) {
	r.mu.Lock()
	r.faults = append(r.faults, modes...)
	r.mu.Unlock()
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	switch p := req.URL.Path; {
	case p == "/version" && req.Method == http.MethodGet:
		r.mu.Lock()
		r.versions++
		r.mu.Unlock()
		io.WriteString(w, r.version)
	case p == "/v1/traces" && req.Method == http.MethodPost:
		r.otlp(w, req, body)
	case p == "/api/3.0/mlflow/traces" && req.Method == http.MethodPost:
		r.start(w, body)
	case strings.HasPrefix(p, "/api/3.0/mlflow/traces/") && req.Method == http.MethodGet:
		r.get(w, strings.TrimPrefix(p, "/api/3.0/mlflow/traces/"))
	default:
		writeMLflowErr(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND", "no such endpoint")
	}
}

func writeMLflowErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": msg})
}

func (r *otlpReceiver) otlp(w http.ResponseWriter, req *http.Request, body []byte) {
	exp := req.Header.Get("x-mlflow-experiment-id")
	if exp == "" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"detail":[{"loc":["header","x-mlflow-experiment-id"],"msg":"field required","type":"value_error.missing"}]}`)
		return
	}
	r.mu.Lock()
	r.inFlight++
	r.maxConc = max(r.maxConc, r.inFlight)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	var in collpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &in); err != nil {
		writeMLflowErr(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "bad protobuf: "+err.Error())
		return
	}
	r.mu.Lock()
	if r.refuse != "" && refused(&in, r.refuse) {
		r.mu.Unlock()
		writeMLflowErr(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "Invalid OpenTelemetry protobuf format")
		return
	}
	mode := ""
	if len(r.faults) > 0 {
		mode, r.faults = r.faults[0], r.faults[1:]
	}
	if mode != "500" {
		r.store(exp, &in, len(body))
	}
	r.mu.Unlock()
	switch mode {
	case "500":
		writeMLflowErr(w, http.StatusInternalServerError, "INTERNAL_ERROR", "database is locked")
	case "eof": // processed, then the connection drops before the answer
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
	case "hang": // processed; the answer comes after the client gave up
		<-req.Context().Done()
	default:
		w.Header().Set("Content-Type", "application/x-protobuf") // as the real server: JSON labelled protobuf
		io.WriteString(w, `{"partialSuccess": null}`)
	}
}

func refused(in *collpb.ExportTraceServiceRequest, name string) bool {
	for _, rs := range in.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				if strings.Contains(sp.Name, name) {
					return true
				}
			}
		}
	}
	return false
}

// store applies one export; r.mu is held.
func (r *otlpReceiver) store(exp string, in *collpb.ExportTraceServiceRequest, size int) {
	ex := recvExport{bytes: size}
	seen := map[string]bool{}
	for _, rs := range in.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				id := "tr-" + hex.EncodeToString(sp.TraceId)
				tr := r.traces[id]
				if tr == nil {
					tr = &recvTrace{exp: exp, meta: map[string]string{}, spans: map[string]*tracepb.Span{}}
					r.traces[id] = tr
				}
				if !seen[id] {
					seen[id] = true
					ex.traces++
				}
				ex.spans++
				tr.spans[hex.EncodeToString(sp.SpanId)] = sp
				if in, out, ok := spanUsage(sp); ok {
					tr.in, tr.out = tr.in+in, tr.out+out
					tr.meta["mlflow.trace.tokenUsage"] = jsonString(map[string]int{"input_tokens": tr.in, "output_tokens": tr.out, "total_tokens": tr.in + tr.out})
				}
			}
		}
	}
	r.exports = append(r.exports, ex)
}

// spanUsage reads mlflow.chat.tokenUsage (JSON text), else gen_ai.usage.*.
func spanUsage(sp *tracepb.Span) (in, out int, ok bool) {
	a := spanAttrs(sp)
	if v, has := a["mlflow.chat.tokenUsage"]; has {
		var u map[string]int
		json.Unmarshal([]byte(v.GetStringValue()), &u)
		return u["input_tokens"], u["output_tokens"], true
	}
	i, hi := a["gen_ai.usage.input_tokens"]
	o, ho := a["gen_ai.usage.output_tokens"]
	return int(i.GetIntValue()), int(o.GetIntValue()), hi || ho
}

func (r *otlpReceiver) start(w http.ResponseWriter, body []byte) {
	var in struct {
		Trace struct {
			Info struct {
				ID       string            `json:"trace_id"`
				Metadata map[string]string `json:"trace_metadata"`
				Location struct {
					Exp struct {
						ID string `json:"experiment_id"`
					} `json:"mlflow_experiment"`
				} `json:"trace_location"`
			} `json:"trace_info"`
		} `json:"trace"`
	}
	if json.Unmarshal(body, &in) != nil {
		writeMLflowErr(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "bad json")
		return
	}
	info := in.Trace.Info
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	if _, ok := r.traces[info.ID]; ok {
		writeMLflowErr(w, http.StatusInternalServerError, "INTERNAL_ERROR", "Dependency rule tried to blank-out primary key column 'trace_tags.request_id'")
		return
	}
	tr := &recvTrace{exp: info.Location.Exp.ID, meta: map[string]string{}, spans: map[string]*tracepb.Span{}, fromStart: true}
	for k, v := range info.Metadata {
		tr.meta[k] = v
	}
	tr.meta["mlflow.trace.spansLocation"] = "TRACKING_STORE"
	if u, ok := info.Metadata["mlflow.trace.tokenUsage"]; ok {
		var m map[string]int
		json.Unmarshal([]byte(u), &m)
		tr.in, tr.out = m["input_tokens"], m["output_tokens"]
	}
	r.traces[info.ID] = tr
	w.Write([]byte(`{"trace":{"trace_info":{"trace_id":"` + info.ID + `"}}}`))
}

func (r *otlpReceiver) get(w http.ResponseWriter, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	tr, ok := r.traces[id]
	if !ok {
		writeMLflowErr(w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "Trace with id '"+id+"' not found")
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"trace": map[string]any{"trace_info": map[string]any{
		"trace_id": id, "trace_metadata": tr.meta, "tags": map[string]string{},
	}}})
}

// trace returns a copy of what the receiver holds for id.
func (r *otlpReceiver) trace(id string) (recvTrace, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr, ok := r.traces[id]
	if !ok {
		return recvTrace{}, false
	}
	cp := *tr
	cp.meta = map[string]string{}
	for k, v := range tr.meta {
		cp.meta[k] = v
	}
	return cp, true
}

func (r *otlpReceiver) snapshot() (exports []recvExport, starts, lookups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recvExport(nil), r.exports...), r.starts, r.lookups
}

// --- a Queue in memory, with control over what a restart would show ---

type memQueue struct {
	mu      sync.Mutex
	seq     uint64
	entries map[uint64]*memEntry
	order   []uint64
	wake    chan struct{}
}

type memEntry struct {
	e        spool.Entry
	inFlight bool
	retryAt  time.Time
}

func newMemQueue() *memQueue {
	return &memQueue{entries: map[uint64]*memEntry{}, wake: make(chan struct{}, 1)}
}

func (q *memQueue) add(c track.Call, recovered bool) {
	q.mu.Lock()
	q.seq++
	q.entries[q.seq] = &memEntry{e: spool.Entry{Seq: q.seq, Call: c, Appended: time.Now(), Recovered: recovered}}
	q.order = append(q.order, q.seq)
	q.mu.Unlock()
	q.poke()
}

func (q *memQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *memQueue) Record(_ context.Context, c track.Call) error { q.add(c, false); return nil }

func (q *memQueue) Next(ctx context.Context) (spool.Entry, error) {
	for {
		q.mu.Lock()
		for _, s := range q.order {
			me := q.entries[s]
			if me != nil && !me.inFlight && !time.Now().Before(me.retryAt) {
				me.inFlight = true
				me.e.Attempts++
				e := me.e
				q.mu.Unlock()
				return e, nil
			}
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return spool.Entry{}, ctx.Err()
		case <-q.wake:
		case <-time.After(time.Millisecond):
		}
	}
}

func (q *memQueue) Ack(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.entries[seq] == nil {
		return errors.New("memQueue: ack of an unknown entry")
	}
	delete(q.entries, seq)
	return nil
}

func (q *memQueue) Release(seq uint64, retryAt time.Time) {
	q.mu.Lock()
	if me := q.entries[seq]; me != nil {
		me.inFlight, me.retryAt = false, retryAt
	}
	q.mu.Unlock()
	q.poke()
}

func (q *memQueue) Group(context.Context, string, []uint64) error { return nil }
func (q *memQueue) Sync(context.Context) error                    { return nil }
func (q *memQueue) Close() error                                  { return nil }

func (q *memQueue) Stats() spool.Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return spool.Stats{Backlog: len(q.entries)}
}

// dialFailer fails the first n requests to path as a refused dial.
type dialFailer struct {
	next http.RoundTripper
	path string
	mu   sync.Mutex
	n    int
}

func (d *dialFailer) RoundTrip(req *http.Request) (*http.Response, error) {
	d.mu.Lock()
	fail := d.n > 0 && req.URL.Path == d.path
	if fail {
		d.n--
	}
	d.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	}
	return d.next.RoundTrip(req)
}
