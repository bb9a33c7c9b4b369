package fakemlflow

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	otelattr "go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

const (
	traceHex = "0123456789abcdef0123456789abcdef"
	traceID  = "tr-" + traceHex
)

func startVersion(t *testing.T, v string) *Server {
	t.Helper()
	s, err := Start(Options{Version: v})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustHex(t testing.TB, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// otlpSpan builds a span; string values in attrs become string attributes,
// int64 values int attributes.
func otlpSpan(t testing.TB, trace, span, parent, name string, attrs map[string]any) *tracepb.Span {
	t.Helper()
	sp := &tracepb.Span{TraceId: mustHex(t, trace), SpanId: mustHex(t, span), Name: name,
		StartTimeUnixNano: 1_795_648_850_230_000_000, EndTimeUnixNano: 1_795_648_851_042_000_000,
		Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK}}
	if parent != "" {
		sp.ParentSpanId = mustHex(t, parent)
	}
	for k, v := range attrs {
		kv := &commonpb.KeyValue{Key: k}
		switch x := v.(type) {
		case string:
			kv.Value = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: x}}
		case int64:
			kv.Value = &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: x}}
		}
		sp.Attributes = append(sp.Attributes, kv)
	}
	return sp
}

func otlpBody(t testing.TB, spans ...*tracepb.Span) []byte {
	t.Helper()
	b, err := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postOTLP sends body to /v1/traces; exp "" leaves the header out.
func postOTLP(t *testing.T, s *Server, exp, contentType string, body []byte) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL()+"/v1/traces", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if exp != "" {
		req.Header.Set("x-mlflow-experiment-id", exp)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}

// chatTrace is a gateway root span and one CHAT_MODEL child carrying GenAI
// usage (118 in, 72 out).
func chatTrace(t *testing.T) []*tracepb.Span {
	return []*tracepb.Span{
		otlpSpan(t, traceHex, "00000000000000a1", "", "gateway_request", map[string]any{"mlflow.spanType": `"CHAIN"`}),
		otlpSpan(t, traceHex, "00000000000000b2", "00000000000000a1", "chat gpt-4o", map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": int64(118), "gen_ai.usage.output_tokens": int64(72),
			"gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai",
			"mlflow.spanInputs": `{"messages": [{"role": "user", "content": "hi"}]}`}),
	}
}

func TestOTLPRejects(t *testing.T) {
	s := startVersion(t, "")
	exp := s.CreateExperiment("llm-connector", "")
	good := otlpBody(t, chatTrace(t)...)
	badID := otlpBody(t, &tracepb.Span{TraceId: []byte{1, 2}, SpanId: mustHex(t, "00000000000000a1")})
	cases := []struct {
		name, exp, ct string
		body          []byte
		status        int
		want          string
	}{
		{"no experiment header", "", "application/x-protobuf", good, 422, `{"detail":[{"loc":["header","x-mlflow-experiment-id"],"msg":"field required","type":"value_error.missing"}]}`},
		{"JSON body", exp, "application/json", []byte(`{"resourceSpans":[]}`), 400, `{"detail":"Invalid Content-Type: application/json. Expected: application/x-protobuf"}`},
		{"not protobuf", exp, "application/x-protobuf", []byte("\xff\xff\xff"), 400, `{"detail":"Invalid OpenTelemetry protobuf format"}`},
		{"no spans", exp, "application/x-protobuf", nil, 400, `{"detail":"Invalid OpenTelemetry protobuf format - no spans found"}`},
		{"bad trace id", exp, "application/x-protobuf", badID, 422, `{"detail":"Cannot convert OpenTelemetry span to MLflow span"}`},
		{"unknown experiment", "424242", "application/x-protobuf", good, 422, `{"detail":"Failed to log OpenTelemetry spans: Trace ` + traceID + `: No Experiment with id=424242 exists"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, b, _ := postOTLP(t, s, c.exp, c.ct, c.body)
			if st != c.status || strings.TrimSpace(b) != c.want {
				t.Fatalf("got %d %s", st, b)
			}
		})
	}
	if n := s.Count().Traces; n != 0 {
		t.Fatalf("rejected exports stored %d traces", n)
	}
}

func TestOTLPCreatesTraceAndResendsAddUsage(t *testing.T) {
	s := startVersion(t, "")
	exp := s.CreateExperiment("llm-connector", "")
	body := otlpBody(t, chatTrace(t)...)
	st, b, ct := postOTLP(t, s, exp, "application/x-protobuf", body)
	if st != 200 || b != "" || ct != "application/x-protobuf" {
		t.Fatalf("export: %d %q %s", st, b, ct)
	}
	spans := s.Spans(traceID)
	if len(spans) != 2 || spans[0].ParentID != "" || spans[1].ParentID != "00000000000000a1" {
		t.Fatalf("spans = %+v", spans)
	}
	chat := spans[1]
	if chat.Type != "CHAT_MODEL" || chat.Attributes["mlflow.spanType"] != `"CHAT_MODEL"` ||
		chat.Attributes["mlflow.chat.tokenUsage"] != `{"input_tokens": 118, "output_tokens": 72, "total_tokens": 190}` ||
		chat.Attributes["mlflow.llm.model"] != `"gpt-4o"` || chat.Attributes["mlflow.llm.provider"] != `"openai"` ||
		chat.Attributes["gen_ai.usage.input_tokens"] != "118" || spans[0].Type != "CHAIN" {
		t.Fatalf("chat span = %+v", chat)
	}
	info, ok := s.TraceInfo(traceID)
	if !ok || info.ExperimentID != exp || info.State != "OK" || info.Tags["mlflow.trace.spansLocation"] != "TRACKING_STORE" ||
		info.Tags["mlflow.traceName"] != "gateway_request" || info.Metadata["mlflow.trace.tokenUsage"] != `{"input_tokens": 118, "output_tokens": 72, "total_tokens": 190}` {
		t.Fatalf("info = %+v", info)
	}
	// The same batch twice more, once naming another experiment: one row per
	// span id, the original experiment, but the usage added every time.
	other := s.CreateExperiment("other", "")
	postOTLP(t, s, exp, "application/x-protobuf", body)
	postOTLP(t, s, other, "application/x-protobuf", body)
	info, _ = s.TraceInfo(traceID)
	if n := len(s.Spans(traceID)); n != 2 || info.ExperimentID != exp ||
		info.Metadata["mlflow.trace.tokenUsage"] != `{"input_tokens": 354, "output_tokens": 216, "total_tokens": 570}` {
		t.Fatalf("after re-sends: %d spans, %+v", n, info)
	}
	// A new span id on the same trace is another span (and more usage).
	postOTLP(t, s, exp, "application/x-protobuf", otlpBody(t, otlpSpan(t, traceHex, "00000000000000c3", "", "again",
		map[string]any{"mlflow.chat.tokenUsage": `{"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}`})))
	info, _ = s.TraceInfo(traceID)
	if c := s.Count(); c.Traces != 1 || c.Spans != 3 || info.Metadata["mlflow.trace.tokenUsage"] != `{"input_tokens": 355, "output_tokens": 218, "total_tokens": 573}` {
		t.Fatalf("new span id: %+v %+v", c, info)
	}
}

// On 3.6+ StartTraceV3 writes info only; traces.json is ignored and the
// spans are those OTLP stored.
func TestSpansOnlyThroughOTLP(t *testing.T) {
	s := startVersion(t, "3.11.1")
	exp := s.CreateExperiment("llm-connector", "")
	start := `{"trace":{"trace_info":{"trace_id":"` + traceID + `","trace_location":{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"` + exp + `"}},"state":"OK","trace_metadata":{"mlflow.trace.user":"alice"}}}}`
	if st, b, _ := do(t, s, "POST", "/api/3.0/mlflow/traces", start); st != 200 || !strings.Contains(b, `"mlflow.trace.spansLocation":"TRACKING_STORE"`) {
		t.Fatalf("start: %d %s", st, b)
	}
	do(t, s, "PUT", "/api/2.0/mlflow-artifacts/artifacts/"+exp+"/traces/"+traceID+"/artifacts/traces.json", `{"spans":[{"name":"ignored"}]}`)
	if st, b, _ := do(t, s, "GET", "/ajax-api/2.0/mlflow/get-trace-artifact?request_id="+traceID, ""); st != 200 || b != `{"spans": []}` {
		t.Fatalf("artifact before OTLP: %d %s", st, b)
	}
	if st, b, _ := do(t, s, "GET", "/api/3.0/mlflow/traces/get?trace_id="+traceID, ""); st != 404 || !strings.Contains(b, "is not fully exported yet") {
		t.Fatalf("traces/get before OTLP: %d %s", st, b)
	}
	postOTLP(t, s, exp, "application/x-protobuf", otlpBody(t, chatTrace(t)...))
	var file struct {
		Spans []struct {
			Name   string `json:"name"`
			SpanID string `json:"span_id"`
			Status struct{ Code string }
		} `json:"spans"`
	}
	_, b, _ := do(t, s, "GET", "/ajax-api/2.0/mlflow/get-trace-artifact?request_id="+traceID, "")
	if err := json.Unmarshal([]byte(b), &file); err != nil || len(file.Spans) != 2 || file.Spans[1].Name != "chat gpt-4o" ||
		file.Spans[1].SpanID != "AAAAAAAAALI=" || file.Spans[1].Status.Code != "STATUS_CODE_OK" {
		t.Fatalf("artifact after OTLP: %s", b)
	}
	if st, b, _ := do(t, s, "GET", "/api/3.0/mlflow/traces/get?trace_id="+traceID, ""); st != 200 || !strings.Contains(b, `"mlflow.trace.user":"alice"`) || !strings.Contains(b, `"chat gpt-4o"`) {
		t.Fatalf("traces/get: %d %s", st, b)
	}
	if st, _, _ := do(t, s, "GET", "/ajax-api/3.0/mlflow/traces/"+traceID, ""); st != 200 {
		t.Fatalf("UI trace info: %d", st)
	}
	// StartTraceV3 for a trace OTLP created fails as the SQL store does.
	other := strings.Replace(start, traceHex, "ffffffffffffffffffffffffffffffff", 1)
	postOTLP(t, s, exp, "application/x-protobuf", otlpBody(t, otlpSpan(t, "ffffffffffffffffffffffffffffffff", "00000000000000a1", "", "r", nil)))
	if st, b, _ := do(t, s, "POST", "/api/3.0/mlflow/traces", other); st != 500 || !strings.Contains(b, "Dependency rule tried to blank-out primary key column") {
		t.Fatalf("StartTraceV3 after OTLP: %d %s", st, b)
	}
	if tr := s.Traces(exp); len(tr) != 2 || len(tr[0].Spans) != 2 || tr[0].TracesJSON == nil {
		t.Fatalf("Traces = %+v", tr)
	}
}

func TestVersions(t *testing.T) {
	cases := []struct {
		version             string
		otlp, v3            int    // status of an export and of StartTraceV3
		otlpBody            string // answer of a good export
		artifactOfOTLPTrace int    // get-trace-artifact for a trace sent only by OTLP
	}{
		{"2.22.0", 404, 404, "", 0},
		{"3.5.0", 200, 200, `{"partialSuccess":null}`, 404},
		{"3.6.1", 200, 200, `{"partialSuccess":null}`, 200},
		{"3.11.1", 200, 200, "", 200},
	}
	for _, c := range cases {
		t.Run(c.version, func(t *testing.T) {
			s := startVersion(t, c.version)
			exp := s.CreateExperiment("llm-connector", "")
			if st, b, ct := do(t, s, "GET", "/version", ""); st != 200 || b != c.version || !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("/version: %d %q %s", st, b, ct)
			}
			st, b, _ := postOTLP(t, s, exp, "application/x-protobuf", otlpBody(t, chatTrace(t)...))
			if st != c.otlp || (st == 200 && b != c.otlpBody) {
				t.Fatalf("export: %d %q", st, b)
			}
			v3 := `{"trace":{"trace_info":{"trace_id":"tr-1","trace_location":{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"` + exp + `"}}}}}`
			if st, _, _ := do(t, s, "POST", "/api/3.0/mlflow/traces", v3); st != c.v3 {
				t.Fatalf("StartTraceV3: %d", st)
			}
			if c.artifactOfOTLPTrace == 0 {
				return
			}
			if st, _, _ := do(t, s, "GET", "/ajax-api/2.0/mlflow/get-trace-artifact?request_id="+traceID, ""); st != c.artifactOfOTLPTrace {
				t.Fatalf("get-trace-artifact: %d", st)
			}
		})
	}
}

// The official OpenTelemetry Go exporter talks to the fake as to the real
// server: accepted on 3.11 (gzip too), and on 3.6 stored although the
// exporter cannot parse the JSON answer labelled protobuf (mlflow.md §2).
func TestOTelSDKExporter(t *testing.T) {
	for _, c := range []struct {
		name, version string
		compression   otlptracehttp.Compression
		wantErr       bool
	}{
		{"3.11.1 gzip", "3.11.1", otlptracehttp.GzipCompression, false},
		{"3.11.1 plain", "3.11.1", otlptracehttp.NoCompression, false},
		{"3.6.1 JSON answer", "3.6.1", otlptracehttp.NoCompression, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startVersion(t, c.version)
			exp := s.CreateExperiment("llm-connector", "")
			ctx := context.Background()
			exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(s.URL()+"/v1/traces"), otlptracehttp.WithCompression(c.compression),
				otlptracehttp.WithHeaders(map[string]string{"x-mlflow-experiment-id": exp}), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
			if err != nil {
				t.Fatal(err)
			}
			defer exporter.Shutdown(ctx)
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			tid, _ := oteltrace.TraceIDFromHex(traceHex)
			pctx := oteltrace.ContextWithSpanContext(ctx, oteltrace.NewSpanContext(oteltrace.SpanContextConfig{TraceID: tid, SpanID: oteltrace.SpanID{1}, TraceFlags: oteltrace.FlagsSampled, Remote: true}))
			_, span := tp.Tracer("test").Start(pctx, "chat gpt-4o", oteltrace.WithAttributes(
				otelattr.String("gen_ai.operation.name", "chat"), otelattr.Int("gen_ai.usage.input_tokens", 12), otelattr.Int("gen_ai.usage.output_tokens", 7)))
			span.End()
			err = exporter.ExportSpans(ctx, rec.Ended())
			if (err != nil) != c.wantErr || (err != nil && !strings.Contains(err.Error(), "proto")) {
				t.Fatalf("export error = %v", err)
			}
			spans := s.Spans(traceID)
			info, _ := s.TraceInfo(traceID)
			if len(spans) != 1 || spans[0].Type != "CHAT_MODEL" || spans[0].ParentID != "0100000000000000" ||
				info.Metadata["mlflow.trace.tokenUsage"] != `{"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}` {
				t.Fatalf("spans %+v info %+v", spans, info)
			}
		})
	}
}
