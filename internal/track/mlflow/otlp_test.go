package mlflow

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
	"github.com/llm-connector/llm-connector/internal/track"
)

func spanAttrs(sp *tracepb.Span) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range sp.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// shipperFor builds a traceShipper against base; rt may wrap the transport.
func shipperFor(t testing.TB, base string, rt http.RoundTripper, log *slog.Logger, opt TraceOptions) (*traceShipper, *memQueue) {
	t.Helper()
	if rt == nil {
		rt = http.DefaultTransport
	}
	if log == nil {
		log = quiet()
	}
	if opt.RecheckDelay == 0 {
		opt.RecheckDelay = time.Millisecond
	}
	q := newMemQueue()
	d := shipDeps{
		cl:         &client{base: base, hc: &http.Client{Transport: rt, Timeout: 2 * time.Second}},
		experiment: func(context.Context) (string, error) { return "1", nil },
		log:        log,
		wait:       func(ctx context.Context) error { return ctx.Err() },
		now:        time.Now,
	}
	return newTraceShipper(d, q, opt), q
}

func flushTraces(t testing.TB, s *traceShipper) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.flush(ctx); err != nil {
		t.Fatalf("flush: %v (stats %+v)", err, s.Stats())
	}
}

// fallbackCall failed twice on openai (503, then a timeout) and was
// answered by gemini.
func fallbackCall(i int) track.Call {
	c := sampleCall(i)
	c.User = ""
	c.RequestedModel = "smart"
	c.Attempts, c.Fallback = 3, true
	c.Tries = []track.Attempt{
		{Provider: "openai", Model: "gpt-4o", Start: c.Start, Duration: 100 * time.Millisecond, ErrorKind: "unavailable", ErrorMessage: "openai: HTTP 503"},
		{Provider: "openai", Model: "gpt-4o", Start: c.Start.Add(150 * time.Millisecond), Duration: 200 * time.Millisecond, ErrorKind: "timeout", ErrorMessage: "openai: timeout"},
		{Provider: "gemini", Model: "gemini-2.5-flash", Start: c.Start.Add(400 * time.Millisecond), Duration: 400 * time.Millisecond},
	}
	return c
}

func jsonAttrOf(t *testing.T, sp *tracepb.Span, key string, into any) {
	t.Helper()
	v, ok := spanAttrs(sp)[key]
	if !ok {
		t.Fatalf("span %s: no %s", sp.Name, key)
	}
	if err := json.Unmarshal([]byte(v.GetStringValue()), into); err != nil {
		t.Fatalf("span %s: %s is not JSON text: %v", sp.Name, key, err)
	}
}

func TestOTLPSpanTreeRetriesAndFallbackVisible(t *testing.T) {
	r := newOTLPReceiver(t, "3.11.1")
	s, q := shipperFor(t, r.srv.URL, nil, nil, TraceOptions{})
	c := fallbackCall(1)
	q.add(c, false)
	flushTraces(t, s)

	id, rawTrace, rootID := traceIDs(c.ID)
	tr, ok := r.trace(id)
	if !ok {
		t.Fatalf("trace %s not stored", id)
	}
	if tr.exp != "1" || len(tr.spans) != 4 {
		t.Fatalf("experiment %q, %d spans; want 1, 4 (root + 3 attempts)", tr.exp, len(tr.spans))
	}
	root := tr.spans[hex.EncodeToString(rootID)]
	if root == nil || len(root.ParentSpanId) != 0 || root.Name != "gateway/smart" || !bytes.Equal(root.TraceId, rawTrace) {
		t.Fatalf("root span: %+v", root)
	}
	var typ string
	jsonAttrOf(t, root, attrSpanType, &typ)
	var in struct {
		Messages []chatMessage `json:"messages"`
	}
	jsonAttrOf(t, root, attrSpanInputs, &in)
	if len(in.Messages) != 2 || in.Messages[0].Role != "system" || in.Messages[1].Content != c.Prompt {
		t.Fatalf("root inputs: %+v", in)
	}
	want := []struct {
		name   string
		status tracepb.Status_StatusCode
	}{
		{"provider/openai/gpt-4o", tracepb.Status_STATUS_CODE_ERROR},
		{"provider/openai/gpt-4o", tracepb.Status_STATUS_CODE_ERROR},
		{"provider/gemini/gemini-2.5-flash", tracepb.Status_STATUS_CODE_OK},
	}
	carriers := 0
	for i, w := range want {
		sp := tr.spans[hex.EncodeToString(spanIDOf(c.ID, i+1))]
		if sp == nil || sp.Name != w.name || sp.Status.GetCode() != w.status || !bytes.Equal(sp.ParentSpanId, rootID) {
			t.Fatalf("attempt %d: %+v; want %s %v under the root", i+1, sp, w.name, w.status)
		}
		a := spanAttrs(sp)
		jsonAttrOf(t, sp, attrSpanType, &typ)
		if typ != "CHAT_MODEL" || a["gen_ai.operation.name"].GetStringValue() != "chat" ||
			a["gen_ai.provider.name"].GetStringValue() != c.Tries[i].Provider || a["gen_ai.request.model"].GetStringValue() != c.Tries[i].Model {
			t.Fatalf("attempt %d attributes: %v", i+1, a)
		}
		var prov string
		jsonAttrOf(t, sp, attrLLMProvider, &prov)
		if prov != c.Tries[i].Provider {
			t.Fatalf("attempt %d: mlflow.llm.provider %q", i+1, prov)
		}
		if w.status == tracepb.Status_STATUS_CODE_ERROR && (len(sp.Events) != 1 || sp.Events[0].Name != "exception") {
			t.Fatalf("failed attempt %d: events %v", i+1, sp.Events)
		}
		if _, ok := a[attrTokenUsage]; ok {
			carriers++
		}
	}
	last := tr.spans[hex.EncodeToString(spanIDOf(c.ID, 3))]
	var usage map[string]int
	jsonAttrOf(t, last, attrTokenUsage, &usage)
	var cost map[string]float64
	jsonAttrOf(t, last, attrCost, &cost)
	var out struct {
		Choices []struct {
			Message chatMessage `json:"message"`
		} `json:"choices"`
	}
	jsonAttrOf(t, last, attrSpanOutputs, &out)
	la := spanAttrs(last)
	if carriers != 1 || usage["input_tokens"] != 12 || cost["total_cost"] != c.CostUSD || out.Choices[0].Message.Content != c.Response ||
		la["gen_ai.usage.input_tokens"].GetIntValue() != 12 || la["gen_ai.response.model"].GetStringValue() != c.Model {
		t.Fatalf("usage on %d spans (want 1), usage %v, cost %v, outputs %+v, attrs %v", carriers, usage, cost, out, la)
	}
	if tr.in != c.Usage.InputTokens || tr.out != c.Usage.OutputTokens {
		t.Fatalf("server's trace usage %d/%d; want the call's %d/%d", tr.in, tr.out, c.Usage.InputTokens, c.Usage.OutputTokens)
	}
}

func TestOTLPSpanCounts(t *testing.T) {
	cached := sampleCall(2)
	cached.Cached, cached.Attempts, cached.Usage = true, 0, llm.Usage{}
	legacy := sampleCall(3) // a record spooled before Tries existed
	legacy.Attempts = 2
	tests := []struct {
		name  string
		c     track.Call
		spans int
	}{
		{"cache hit: the root alone", cached, 1},
		{"record without tries: one attempt from its summary", legacy, 2},
		{"fallback: one per attempt", fallbackCall(4), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := spanBuilder{source: "x", limit: 1024}
			rs := b.resourceSpans(tt.c)
			if n := len(rs.ScopeSpans[0].Spans); n != tt.spans {
				t.Fatalf("%d spans; want %d", n, tt.spans)
			}
		})
	}
}

func TestOTLPIDsDeterministic(t *testing.T) {
	marshal := func(c track.Call) []byte {
		b := spanBuilder{source: "x", limit: 1024}
		out, err := proto.MarshalOptions{Deterministic: true}.Marshal(b.resourceSpans(c))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	c := fallbackCall(7)
	if !bytes.Equal(marshal(c), marshal(c)) {
		t.Fatal("the same call gave different OTLP bytes")
	}
	b := spanBuilder{source: "x", limit: 1024}
	ids := map[string]bool{}
	for _, call := range []track.Call{fallbackCall(7), fallbackCall(8)} {
		for _, sp := range b.resourceSpans(call).ScopeSpans[0].Spans {
			k := hex.EncodeToString(sp.TraceId) + "/" + hex.EncodeToString(sp.SpanId)
			if ids[k] || len(sp.TraceId) != 16 || len(sp.SpanId) != 8 {
				t.Fatalf("span id %s repeated or malformed", k)
			}
			ids[k] = true
		}
	}
}

func TestOTLPReplayAfterDialFailureResends(t *testing.T) {
	r := newOTLPReceiver(t, "3.11.1")
	df := &dialFailer{next: http.DefaultTransport, path: "/v1/traces", n: 1}
	s, q := shipperFor(t, r.srv.URL, df, nil, TraceOptions{Metadata: MetadataNever})
	for i := range 3 {
		q.add(sampleCall(i), false)
	}
	flushTraces(t, s)
	exports, _, lookups := r.snapshot()
	st := s.Stats()
	if len(exports) != 1 || lookups != 0 || st.Resent != 3 || st.Exported != 3 {
		t.Fatalf("exports %d, lookups %d, stats %+v; want 1 export, no lookup, 3 re-sent", len(exports), lookups, st)
	}
	for i := range 3 {
		id, _, _ := traceIDs(sampleCall(i).ID)
		if tr, _ := r.trace(id); tr.in != 12 || tr.out != 7 {
			t.Fatalf("trace %d usage %d/%d; want 12/7", i, tr.in, tr.out)
		}
	}
}

func TestOTLPReplayAfterAmbiguousFailureLooksUpFirst(t *testing.T) {
	tests := []struct {
		name      string
		fault     string
		metadata  MetadataPolicy
		exports   int // requests the server processed
		found     uint64
		starts    int
		processed bool
	}{
		{"EOF after processing", "eof", MetadataNever, 1, 3, 0, true},
		{"timeout after processing", "hang", MetadataNever, 1, 3, 0, true},
		{"500 before processing", "500", MetadataNever, 1, 0, 0, false},
		{"EOF after processing, with metadata", "eof", MetadataAlways, 1, 3, 3, true},
		{"500 before processing, with metadata", "500", MetadataAlways, 1, 0, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newOTLPReceiver(t, "3.6.1.dev0")
			r.fault(tt.fault)
			s, q := shipperFor(t, r.srv.URL, nil, nil, TraceOptions{Metadata: tt.metadata})
			s.d.cl.hc.Timeout = 300 * time.Millisecond // "hang" answers only after the client gives up
			for i := range 3 {
				q.add(sampleCall(i), false)
			}
			flushTraces(t, s)
			exports, starts, lookups := r.snapshot()
			st := s.Stats()
			if len(exports) != tt.exports || lookups != 3 || st.Found != tt.found || starts != tt.starts || st.Exported != 3 {
				t.Fatalf("processed exports %d, starts %d, lookups %d, stats %+v; want %d, %d, 3, found %d",
					len(exports), starts, lookups, st, tt.exports, tt.starts, tt.found)
			}
			for i := range 3 {
				id, _, _ := traceIDs(sampleCall(i).ID)
				tr, _ := r.trace(id)
				if tr.in != 12 || tr.out != 7 || len(tr.spans) != 2 {
					t.Fatalf("trace %d: usage %d/%d, %d spans; want 12/7 (not doubled), 2", i, tr.in, tr.out, len(tr.spans))
				}
				if tt.metadata == MetadataAlways && tr.meta["mlflow.trace.user"] != "alice" {
					t.Fatalf("trace %d metadata %v: no user", i, tr.meta)
				}
			}
		})
	}
}

func TestOTLPMetadataReplayAlreadyExistsIsDone(t *testing.T) {
	r := newOTLPReceiver(t, "3.11.1")
	c := sampleCall(1)
	id, _, _ := traceIDs(c.ID)
	// An earlier process started the trace, then died before the export.
	body, _ := json.Marshal(startTraceBodyUsage(c, "1", "", "llm-connector", nil, false))
	resp, err := http.Post(r.srv.URL+"/api/3.0/mlflow/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s, q := shipperFor(t, r.srv.URL, nil, nil, TraceOptions{})
	q.add(c, false) // not marked recovered: StartTraceV3 is tried and answered 500
	flushTraces(t, s)
	_, starts, _ := r.snapshot()
	tr, _ := r.trace(id)
	if starts != 2 || tr.in != 12 || len(tr.spans) != 2 || s.Stats().Exported != 1 {
		t.Fatalf("starts %d, usage %d, spans %d, stats %+v; want the 500 taken as done and the spans sent once", starts, tr.in, len(tr.spans), s.Stats())
	}
}

func TestOTLPRecoveredEntryFoundIsNotResent(t *testing.T) {
	r := newOTLPReceiver(t, "3.11.1")
	first, q1 := shipperFor(t, r.srv.URL, nil, nil, TraceOptions{})
	for i := range 5 {
		q1.add(sampleCall(i), false)
	}
	flushTraces(t, first)
	// A restart finds the same records in the queue (acks lost in a crash).
	again, q2 := shipperFor(t, r.srv.URL, nil, nil, TraceOptions{})
	for i := range 5 {
		q2.add(sampleCall(i), true)
	}
	flushTraces(t, again)
	exports, _, _ := r.snapshot()
	if st := again.Stats(); st.Found != 5 || st.Requests != 0 || len(exports) != 1 {
		t.Fatalf("stats %+v, exports %d; want all 5 found by lookup and none re-sent", st, len(exports))
	}
}

func TestOTLPBatchesBounded(t *testing.T) {
	big := strings.Repeat("é", 150<<10) // 300 KiB per message: 1.2 MB for a trace whole
	tests := []struct {
		name       string
		calls      int
		prompt     string
		opt        TraceOptions
		minExports int
	}{
		{"many small traces", 50, "", TraceOptions{BatchSize: 40}, 3},
		{"large messages cut to 8 KiB", 30, big, TraceOptions{}, 2},
		{"one trace bigger than a request", 4, big, TraceOptions{MaxMessageBytes: 1 << 20}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newOTLPReceiver(t, "3.11.1")
			s, q := shipperFor(t, r.srv.URL, nil, nil, tt.opt)
			for i := range tt.calls {
				c := sampleCall(i)
				if tt.prompt != "" {
					c.Prompt, c.Response = tt.prompt, tt.prompt
				}
				q.add(c, false)
			}
			flushTraces(t, s)
			exports, _, _ := r.snapshot()
			total := 0
			for _, e := range exports {
				if e.traces > maxTraceBatch || e.bytes > defaultOTLPBytes {
					t.Fatalf("an export of %d traces, %d bytes; want ≤ %d and ≤ %d", e.traces, e.bytes, maxTraceBatch, defaultOTLPBytes)
				}
				total += e.traces
			}
			if total != tt.calls || len(exports) < tt.minExports {
				t.Fatalf("%d traces in %d exports; want %d in at least %d", total, len(exports), tt.calls, tt.minExports)
			}
			if tt.prompt == "" {
				return
			}
			id, _, _ := traceIDs(sampleCall(0).ID)
			tr, _ := r.trace(id)
			_, _, root := traceIDs(sampleCall(0).ID)
			in := spanAttrs(tr.spans[hex.EncodeToString(root)])[attrSpanInputs].GetStringValue()
			if !strings.Contains(in, "[truncated by llm-connector:") || s.Stats().Truncated == 0 {
				t.Fatalf("inputs of %d bytes without the truncation marker", len(in))
			}
		})
	}
}

// behindVersion is the fake MLflow (StartTraceV3 + artifacts) behind a
// GET /version that answers status and text.
func behindVersion(t *testing.T, status int, text string) (*fakemlflow.Server, string) {
	f := startFake(t, fakemlflow.Options{})
	u, _ := url.Parse(f.URL())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, text)
	})
	mux.Handle("/", httputil.NewSingleHostReverseProxy(u))
	return f, newServer(t, mux)
}

func TestTraceV35PathStillWorks(t *testing.T) {
	f, base := behindVersion(t, http.StatusOK, "3.5.0")
	exp := f.CreateExperiment("llm-connector", "")
	s, q := shipperFor(t, base, nil, nil, TraceOptions{})
	s.d.experiment = func(context.Context) (string, error) { return exp, nil }
	for i := range 3 {
		q.add(fallbackCall(i), false)
	}
	q.add(sampleCall(9), true) // recovered: looked up, then started
	flushTraces(t, s)
	traces := f.Traces(exp)
	if len(traces) != 4 || s.Stats().API != traceArtifact.String() {
		t.Fatalf("%d traces, stats %+v; want 4 over StartTraceV3", len(traces), s.Stats())
	}
	for _, tr := range traces {
		if !bytes.Contains(tr.TracesJSON, []byte(`CHAT_MODEL`)) {
			t.Fatalf("trace %v without a CHAT_MODEL span in traces.json", tr.Info["trace_id"])
		}
	}
}

// logCounter counts log lines containing a text.
type logCounter struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	return len(p), nil
}

func (l *logCounter) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func TestTrace2xDisabledSaysSoOnce(t *testing.T) {
	r := newOTLPReceiver(t, "2.22.1")
	lc := &logCounter{}
	s, q := shipperFor(t, r.srv.URL, nil, slog.New(slog.NewTextHandler(lc, nil)), TraceOptions{})
	for round := range 3 {
		for i := range 5 {
			q.add(sampleCall(round*10+i), false)
		}
		flushTraces(t, s)
	}
	exports, starts, _ := r.snapshot()
	st := s.Stats()
	if len(exports) != 0 || starts != 0 || st.Skipped != 15 || st.API != "none" || r.versions != 1 || lc.count("MLflow 2.x") != 1 {
		t.Fatalf("exports %d, starts %d, stats %+v, /version asked %d times, %d log lines; want nothing sent, 15 skipped, asked once, said once",
			len(exports), starts, st, r.versions, lc.count("MLflow 2.x"))
	}
}

func TestTraceVersionRedetectedAfterConnectionError(t *testing.T) {
	r := newOTLPReceiver(t, "3.11.1")
	df := &dialFailer{next: http.DefaultTransport, path: "/v1/traces", n: 1}
	s, q := shipperFor(t, r.srv.URL, df, nil, TraceOptions{})
	q.add(sampleCall(1), false)
	flushTraces(t, s)
	q.add(sampleCall(2), false)
	flushTraces(t, s)
	if r.versions != 2 || s.Stats().Exported != 2 {
		t.Fatalf("/version asked %d times, stats %+v; want 2 (again after the refused connection)", r.versions, s.Stats())
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		api  traceAPI
		fail bool
	}{
		{"3.11.1", traceOTLP, false},
		{"3.6.1.dev0\n", traceOTLP, false},
		{"3.6.0rc0", traceOTLP, false},
		{"3.5.1", traceArtifact, false},
		{"3.0.0", traceArtifact, false},
		{"2.22.1", traceNone, false},
		{"4.0.0", traceOTLP, false},
		{"<html>", traceUnknown, true},
		{"", traceUnknown, true},
	}
	for _, tt := range tests {
		v, err := parseVersion(tt.in)
		if (err != nil) != tt.fail || (!tt.fail && v.api() != tt.api) {
			t.Errorf("parseVersion(%q) = %v, %v; want %v (error %v)", tt.in, v.api(), err, tt.api, tt.fail)
		}
	}
}

func TestRejectedSpansParsedDefensively(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want int64
	}{
		{"JSON labelled protobuf", []byte(`{"partialSuccess": null}`), 0},
		{"JSON partial success", []byte(`{"partialSuccess": {"rejectedSpans": "2", "errorMessage": "bad"}}`), 2},
		{"empty", nil, 0},
		{"garbage", []byte("\xff\xff\xff"), 0},
	}
	for _, tt := range tests {
		if n, _ := rejectedSpans(tt.body); n != tt.want {
			t.Errorf("%s: %d rejected; want %d", tt.name, n, tt.want)
		}
	}
}

func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestOTLPRunAndFlushShareOneSender(t *testing.T) {
	r := newOTLPReceiver(t, "3.11.1")
	s, q := shipperFor(t, r.srv.URL, nil, nil, TraceOptions{Linger: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx) })
	for i := range 200 {
		q.add(fallbackCall(i), false)
	}
	flushTraces(t, s)
	cancel()
	wg.Wait()
	exports, _, _ := r.snapshot()
	total := 0
	for _, e := range exports {
		if e.traces > maxTraceBatch {
			t.Fatalf("an export of %d traces", e.traces)
		}
		total += e.traces
	}
	r.mu.Lock()
	conc := r.maxConc
	r.mu.Unlock()
	if total != 200 || conc != 1 || s.Stats().Exported != 200 {
		t.Fatalf("%d traces exported, %d exports at once at most, stats %+v; want 200, 1", total, conc, s.Stats())
	}
}

// BenchmarkOTLPBuildTrace is the service's CPU to turn one interaction
// (three attempts) into its OTLP bytes.
func BenchmarkOTLPBuildTrace(b *testing.B) {
	c := fallbackCall(1)
	c.Prompt, c.Response = strings.Repeat("p", 200), strings.Repeat("r", 400)
	sb := spanBuilder{source: "llm-connector", limit: defaultMessageBytes}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proto.Marshal(sb.resourceSpans(c)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOTLPOneRefusedTraceHoldsUpNoOther(t *testing.T) {
	r := newOTLPReceiver(t, "3.11.1")
	r.refuse = "poison"
	s, q := shipperFor(t, r.srv.URL, nil, nil, TraceOptions{})
	bad := sampleCall(0)
	bad.RequestedModel = "poison"
	q.add(bad, false)
	for i := 1; i < 5; i++ {
		c := sampleCall(i)
		c.Prompt = "not UTF-8: \xff\xfe"
		q.add(c, false)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.flush(ctx) })
	eventually(t, "the four good traces exported", func() bool { return s.Stats().Exported == 4 })
	cancel()
	wg.Wait()
	badID, _, _ := traceIDs(bad.ID)
	if tr, _ := r.trace(badID); len(tr.spans) != 0 || q.Stats().Backlog != 1 {
		t.Fatalf("refused trace has %d spans stored, backlog %d; want none, and it kept in the queue alone", len(tr.spans), q.Stats().Backlog)
	}
}

func TestCutKeepsRunesWhole(t *testing.T) {
	tests := []struct {
		in       string
		n        int
		keep     string
		wasTrunc bool
	}{
		{"short", 10, "short", false},
		{"ééé", 3, "é", true}, // 6 bytes; byte 3 is inside the second é
		{"abcdef", 4, "abcd", true},
	}
	for _, tt := range tests {
		got, did := cut(tt.in, tt.n)
		if did != tt.wasTrunc || !strings.HasPrefix(got, tt.keep) || (did && !strings.Contains(got, fmt.Sprintf("%d of %d bytes kept", len(tt.keep), len(tt.in)))) {
			t.Errorf("cut(%q, %d) = %q, %v", tt.in, tt.n, got, did)
		}
	}
}

func TestTraceVersionUnknownUsesStartTraceV3(t *testing.T) {
	f, base := behindVersion(t, http.StatusNotFound, `{"error_code":"ENDPOINT_NOT_FOUND"}`)
	exp := f.CreateExperiment("llm-connector", "")
	s, q := shipperFor(t, base, nil, nil, TraceOptions{})
	s.d.experiment = func(context.Context) (string, error) { return exp, nil }
	q.add(sampleCall(1), false)
	flushTraces(t, s)
	if n := len(f.Traces(exp)); n != 1 || s.Stats().API != traceArtifact.String() {
		t.Fatalf("%d traces, stats %+v; want 1 over StartTraceV3", n, s.Stats())
	}
}

// TestOTLPEmbeddingSpans: an embeddings call's attempts are EMBEDDING
// spans of the embeddings operation.
func TestOTLPEmbeddingSpans(t *testing.T) {
	r := newOTLPReceiver(t, "3.11.1")
	s, q := shipperFor(t, r.srv.URL, nil, nil, TraceOptions{})
	c := fallbackCall(2)
	c.Endpoint, c.Streamed, c.Response = "/v1/embeddings", false, ""
	q.add(c, false)
	flushTraces(t, s)
	id, _, _ := traceIDs(c.ID)
	tr, ok := r.trace(id)
	if !ok {
		t.Fatalf("trace %s not stored", id)
	}
	for i := range c.Tries {
		sp := tr.spans[hex.EncodeToString(spanIDOf(c.ID, i+1))]
		var typ string
		jsonAttrOf(t, sp, attrSpanType, &typ)
		if a := spanAttrs(sp); typ != "EMBEDDING" || a["gen_ai.operation.name"].GetStringValue() != "embeddings" {
			t.Errorf("attempt %d: span type %q, attributes %v", i+1, typ, a)
		}
	}
}
