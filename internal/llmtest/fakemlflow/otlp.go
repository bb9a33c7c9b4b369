package fakemlflow

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

const otlpPath = "/v1/traces"

// decompressOTLP undoes a gzip or deflate Content-Encoding, as MLflow's
// decompress_otlp_body does (later than 3.6).
func decompressOTLP(encoding string, body []byte) ([]byte, error) {
	var rd io.ReadCloser
	var err error
	switch strings.ToLower(encoding) {
	case "", "identity":
		return body, nil
	case "gzip":
		rd, err = gzip.NewReader(bytes.NewReader(body))
	case "deflate":
		rd, err = zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			rd, err = flate.NewReader(bytes.NewReader(body)), nil
		}
	default:
		return nil, fmt.Errorf("Unsupported Content-Encoding: %s", encoding)
	}
	if err == nil {
		defer rd.Close()
		body, err = io.ReadAll(io.LimitReader(rd, 256<<20))
	}
	if err != nil {
		return nil, fmt.Errorf("Failed to decompress request body with encoding %s", encoding)
	}
	return body, nil
}

// version is a parsed "major.minor[.patch…]".
type version struct{ major, minor int }

func parseVersion(v string) version {
	parts := strings.SplitN(v, ".", 3)
	var out version
	out.major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		out.minor, _ = strconv.Atoi(parts[1])
	}
	return out
}

func (v version) atLeast(major, minor int) bool {
	return v.major > major || v.major == major && v.minor >= minor
}

// spansInStore: 3.6+ reads spans only from the OTLP-filled store.
func (s *Server) spansInStore() bool { return s.ver.atLeast(3, 6) }

// Span is one span stored through OTLP, one row per span id as MLflow's SQL
// store keeps it.
type Span struct {
	TraceID  string // "tr-<32 hex>"
	SpanID   string // 16 hex
	ParentID string // 16 hex, "" for a root span
	Name     string
	Type     string // mlflow.spanType decoded, e.g. "CHAT_MODEL"; "" when unknown
	StartNS  int64
	EndNS    int64
	Status   string // "OK", "ERROR" or "UNSET"
	// Attributes in MLflow's convention: JSON-encoded values
	// ("mlflow.spanType": `"CHAT_MODEL"`); a string attribute is kept as sent.
	Attributes map[string]string
}

type spanSet struct {
	order []string
	byID  map[string]Span
}

func (ss *spanSet) list() []Span {
	out := make([]Span, 0, len(ss.order))
	for _, id := range ss.order {
		sp := ss.byID[id]
		sp.Attributes = cloneMap(sp.Attributes)
		out = append(out, sp)
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// detail writes FastAPI's error shape.
func detail(w http.ResponseWriter, status int, d any) {
	writeJSON(w, status, map[string]any{"detail": d})
}

// otlpTraces is POST /v1/traces, as otel_api.py handles it: header and
// content type checked, spans grouped by trace id, each group logged.
func (s *Server) otlpTraces(w http.ResponseWriter, r *http.Request, body []byte) {
	exp := r.Header.Get("x-mlflow-experiment-id")
	if exp == "" {
		detail(w, http.StatusUnprocessableEntity, []map[string]any{{
			"loc": []string{"header", "x-mlflow-experiment-id"}, "msg": "field required", "type": "value_error.missing"}})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		if ct == "" {
			ct = "None"
		}
		detail(w, http.StatusBadRequest, fmt.Sprintf("Invalid Content-Type: %s. Expected: application/x-protobuf", ct))
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		detail(w, http.StatusBadRequest, "Invalid OpenTelemetry protobuf format")
		return
	}
	if len(req.GetResourceSpans()) == 0 {
		detail(w, http.StatusBadRequest, "Invalid OpenTelemetry protobuf format - no spans found")
		return
	}
	groups, order, ok := groupSpans(&req)
	if !ok {
		detail(w, http.StatusUnprocessableEntity, "Cannot convert OpenTelemetry span to MLflow span")
		return
	}
	var errs []string
	s.mu.Lock()
	for _, id := range order {
		if err := s.logSpans(exp, id, groups[id]); err != "" {
			errs = append(errs, fmt.Sprintf("Trace %s: %s", id, err))
		}
	}
	s.mu.Unlock()
	if len(errs) > 0 {
		detail(w, http.StatusUnprocessableEntity, "Failed to log OpenTelemetry spans: "+strings.Join(errs, "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	if s.ver.atLeast(3, 7) { // later servers serialise ExportTraceServiceResponse
		w.WriteHeader(http.StatusOK)
		return
	}
	// 3.5 and 3.6 answer a pydantic model: JSON labelled protobuf.
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, `{"partialSuccess":null}`)
}

// groupSpans converts the request's spans and groups them by trace id, in
// order of first appearance; false if a span has malformed ids.
func groupSpans(req *collectortrace.ExportTraceServiceRequest) (map[string][]Span, []string, bool) {
	groups := map[string][]Span{}
	var order []string
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, p := range ss.GetSpans() {
				sp, ok := convertSpan(p)
				if !ok {
					return nil, nil, false
				}
				if _, seen := groups[sp.TraceID]; !seen {
					order = append(order, sp.TraceID)
				}
				groups[sp.TraceID] = append(groups[sp.TraceID], sp)
			}
		}
	}
	return groups, order, true
}

var genAIType = map[string]string{
	"chat": "CHAT_MODEL", "text_completion": "LLM", "generate_content": "LLM",
	"embeddings": "EMBEDDING", "execute_tool": "TOOL", "invoke_agent": "AGENT", "create_agent": "AGENT",
}

func convertSpan(p *tracepb.Span) (Span, bool) {
	if len(p.GetTraceId()) != 16 || len(p.GetSpanId()) != 8 || (len(p.GetParentSpanId()) != 0 && len(p.GetParentSpanId()) != 8) {
		return Span{}, false
	}
	sp := Span{
		TraceID: "tr-" + hex.EncodeToString(p.GetTraceId()), SpanID: hex.EncodeToString(p.GetSpanId()),
		ParentID: hex.EncodeToString(p.GetParentSpanId()), Name: p.GetName(),
		StartNS: int64(p.GetStartTimeUnixNano()), EndNS: int64(p.GetEndTimeUnixNano()),
		Status: "UNSET", Attributes: map[string]string{},
	}
	switch p.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_OK:
		sp.Status = "OK"
	case tracepb.Status_STATUS_CODE_ERROR:
		sp.Status = "ERROR"
	}
	for _, kv := range p.GetAttributes() {
		sp.Attributes[kv.GetKey()] = encodeAttr(kv.GetValue())
	}
	mapGenAI(&sp)
	return sp, true
}

// mapGenAI fills MLflow's span attributes from GenAI semantic conventions
// where the span does not carry them itself.
func mapGenAI(sp *Span) {
	a := sp.Attributes
	if _, ok := a["mlflow.spanType"]; !ok {
		if t, ok := genAIType[unquote(a["gen_ai.operation.name"])]; ok {
			a["mlflow.spanType"] = strconv.Quote(t)
		}
	}
	sp.Type = unquote(a["mlflow.spanType"])
	if _, ok := a["mlflow.chat.tokenUsage"]; !ok {
		in, okIn := strconv.ParseInt(unquote(a["gen_ai.usage.input_tokens"]), 10, 64)
		out, okOut := strconv.ParseInt(unquote(a["gen_ai.usage.output_tokens"]), 10, 64)
		if okIn == nil || okOut == nil {
			a["mlflow.chat.tokenUsage"] = usageJSON(usage{in, out, in + out})
		}
	}
	for mk, gks := range map[string][]string{
		"mlflow.llm.model":    {"gen_ai.response.model", "gen_ai.request.model"},
		"mlflow.llm.provider": {"gen_ai.provider.name", "gen_ai.system"},
	} {
		if _, ok := a[mk]; ok {
			continue
		}
		for _, gk := range gks {
			if v, ok := a[gk]; ok {
				a[mk] = strconv.Quote(unquote(v))
				break
			}
		}
	}
}

// encodeAttr renders an OTLP value in MLflow's attribute convention.
func encodeAttr(v *commonpb.AnyValue) string {
	if sv, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return sv.StringValue
	}
	b, _ := json.Marshal(anyValue(v))
	return string(b)
}

func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		out := []any{}
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, anyValue(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		out := map[string]any{}
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.GetKey()] = anyValue(kv.GetValue())
		}
		return out
	}
	return nil
}

// unquote decodes a JSON string attribute ("\"chat\"" → "chat"); other
// values come back as they are.
func unquote(s string) string {
	var v string
	if json.Unmarshal([]byte(s), &v) == nil {
		return v
	}
	return s
}

type usage struct{ in, out, total int64 }

// usageJSON is Python's json.dumps of MLflow's token usage dict.
func usageJSON(u usage) string {
	return fmt.Sprintf(`{"input_tokens": %d, "output_tokens": %d, "total_tokens": %d}`, u.in, u.out, u.total)
}

func parseUsage(s string) (usage, bool) {
	var u struct {
		In    *int64 `json:"input_tokens"`
		Out   *int64 `json:"output_tokens"`
		Total *int64 `json:"total_tokens"`
	}
	if json.Unmarshal([]byte(unquote(s)), &u) != nil || (u.In == nil && u.Out == nil && u.Total == nil) {
		return usage{}, false
	}
	var out usage
	if u.In != nil {
		out.in = *u.In
	}
	if u.Out != nil {
		out.out = *u.Out
	}
	out.total = out.in + out.out
	if u.Total != nil {
		out.total = *u.Total
	}
	return out, true
}

// logSpans stores one trace's spans (s.mu held), creating the trace from
// them if it does not exist; "" or the store's error message. The trace's
// token usage grows by this request's span usage every time, re-sends
// included, as MLflow's SQL store does.
func (s *Server) logSpans(exp, id string, spans []Span) string {
	info := s.traces[id]
	if info == nil {
		e := s.exps[exp]
		if e == nil {
			return fmt.Sprintf("No Experiment with id=%s exists", exp)
		}
		info = map[string]any{
			"trace_id": id, "state": "IN_PROGRESS",
			"trace_location": map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]any{"experiment_id": exp}},
			"trace_metadata": map[string]any{"mlflow.trace_schema.version": "3"},
			"tags":           map[string]any{"mlflow.artifactLocation": e.ArtifactLocation + "/traces/" + id + "/artifacts"},
		}
		if s.spansInStore() {
			info["tags"].(map[string]any)["mlflow.trace.spansLocation"] = "TRACKING_STORE"
		}
		s.traces[id] = info
		s.trOrder = append(s.trOrder, id)
	}
	set := s.spans[id]
	if set == nil {
		set = &spanSet{byID: map[string]Span{}}
		s.spans[id] = set
	}
	var sum usage
	var have bool
	for _, sp := range spans {
		if _, dup := set.byID[sp.SpanID]; !dup {
			set.order = append(set.order, sp.SpanID)
		}
		set.byID[sp.SpanID] = sp
		if u, ok := parseUsage(sp.Attributes["mlflow.chat.tokenUsage"]); ok {
			sum, have = usage{sum.in + u.in, sum.out + u.out, sum.total + u.total}, true
		}
		if sp.ParentID == "" {
			rootInfo(info, sp)
		}
	}
	if have {
		md := metadata(info)
		if old, ok := md["mlflow.trace.tokenUsage"].(string); ok {
			if u, ok := parseUsage(old); ok {
				sum = usage{sum.in + u.in, sum.out + u.out, sum.total + u.total}
			}
		}
		md["mlflow.trace.tokenUsage"] = usageJSON(sum)
	}
	return ""
}

func metadata(info map[string]any) map[string]any {
	md, _ := info["trace_metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		info["trace_metadata"] = md
	}
	return md
}

// rootInfo completes a trace's info from its root span.
func rootInfo(info map[string]any, root Span) {
	tags, _ := info["tags"].(map[string]any)
	if tags == nil {
		tags = map[string]any{}
		info["tags"] = tags
	}
	if _, ok := tags["mlflow.traceName"]; !ok {
		tags["mlflow.traceName"] = root.Name
	}
	if st, _ := info["state"].(string); st == "" || st == "IN_PROGRESS" || st == "STATE_UNSPECIFIED" {
		info["state"] = map[string]string{"OK": "OK", "ERROR": "ERROR"}[root.Status]
		if info["state"] == "" {
			info["state"] = "OK"
		}
	}
	if _, ok := info["request_time"]; !ok {
		info["request_time"] = time.Unix(0, root.StartNS).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if _, ok := info["execution_duration"]; !ok && root.EndNS >= root.StartNS {
		info["execution_duration"] = strconv.FormatFloat(float64(root.EndNS-root.StartNS)/1e9, 'f', -1, 64) + "s"
	}
}

// spanDicts renders spans as MLflow's v3 Span.to_dict, what
// get-trace-artifact and traces/get answer.
func spanDicts(spans []Span) []map[string]any {
	out := []map[string]any{}
	b64 := func(h string) string {
		if h == "" {
			return ""
		}
		b, _ := hex.DecodeString(h)
		return base64.StdEncoding.EncodeToString(b)
	}
	for _, sp := range spans {
		out = append(out, map[string]any{
			"trace_id": b64(strings.TrimPrefix(sp.TraceID, "tr-")), "span_id": b64(sp.SpanID), "trace_state": "",
			"parent_span_id": b64(sp.ParentID), "name": sp.Name,
			"start_time_unix_nano": sp.StartNS, "end_time_unix_nano": sp.EndNS,
			"attributes": sp.Attributes, "events": []any{},
			"status": map[string]string{"message": "", "code": "STATUS_CODE_" + sp.Status},
		})
	}
	return out
}

// Spans returns the spans stored for a trace through OTLP, in first-seen
// order (nil if none).
func (s *Server) Spans(traceID string) []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.spans[traceID]; set != nil {
		return set.list()
	}
	return nil
}

// TraceInfo is a trace's info as the server holds it.
type TraceInfo struct {
	ID, ExperimentID, State string
	Tags                    map[string]string // e.g. mlflow.trace.spansLocation
	Metadata                map[string]string // e.g. mlflow.trace.tokenUsage, mlflow.trace.user
}

// TraceInfo returns a trace's info, created by StartTraceV3 or OTLP.
func (s *Server) TraceInfo(traceID string) (TraceInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.traces[traceID]
	if !ok {
		return TraceInfo{}, false
	}
	st, _ := info["state"].(string)
	ti := TraceInfo{ID: traceID, ExperimentID: traceExp(info), State: st, Tags: map[string]string{}, Metadata: map[string]string{}}
	tags, _ := info["tags"].(map[string]any)
	for k, v := range tags {
		ti.Tags[k] = fmt.Sprint(v)
	}
	md, _ := info["trace_metadata"].(map[string]any)
	for k, v := range md {
		ti.Metadata[k] = fmt.Sprint(v)
	}
	return ti, true
}
