package mlflow

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/llm-connector/llm-connector/internal/track"
)

// The trace one interaction becomes, in the shape MLflow's own AI Gateway
// writes (mlflow/gateway/tracing_utils.py, providers/tracing.py):
//
//	gateway/<route>                 root: the gateway request (inputs: the chat request, outputs: the answer)
//	├── provider/<provider>/<model> CHAT_MODEL (EMBEDDING for /v1/embeddings), one per upstream attempt, in order
//	└── provider/<provider>/<model> (retries and fallbacks are siblings; a cache hit has none)
//
// MLflow-specific attributes are JSON text, as MLflow stores them
// (mlflow.spanType = "\"CHAT_MODEL\""); gen_ai.* follow the OTel GenAI
// conventions with native values, which MLflow's OTLP translation maps.
//
// Token usage (mlflow.chat.tokenUsage and gen_ai.usage.*) and the cost sit
// on exactly one span, the attempt that answered (or failed last; the root
// when there was no attempt): the server sums usage over the spans it
// receives, so one carrier keeps the trace's total equal to the call's.

// Span attribute keys MLflow reads.
const (
	attrSpanType    = "mlflow.spanType"
	attrSpanInputs  = "mlflow.spanInputs"
	attrSpanOutputs = "mlflow.spanOutputs"
	attrTokenUsage  = "mlflow.chat.tokenUsage"
	attrCost        = "mlflow.llm.cost"
	attrLLMProvider = "mlflow.llm.provider"
	attrLLMModel    = "mlflow.llm.model"
	attrRequestID   = "mlflow.traceRequestId"
	attrMsgFormat   = "mlflow.message.format"
)

// truncMarker ends a message cut to the per-message limit.
const truncMarker = "…[truncated by llm-connector: %d of %d bytes kept]"

// spanIDOf derives the span id of attempt i (1-based; 0 is the root,
// whose id traceIDs gives) from the interaction id.
func spanIDOf(interaction string, i int) []byte {
	if i == 0 {
		_, _, root := traceIDs(interaction)
		return root
	}
	sum := sha256.Sum256([]byte("llm-connector/span/" + interaction + "/" + strconv.Itoa(i)))
	return sum[:8]
}

// cut shortens s to at most n bytes (on a rune boundary) plus a marker;
// it reports whether it cut.
func cut(s string, n int) (string, bool) {
	if n <= 0 || len(s) <= n {
		return s, false
	}
	k := len(clip(s, n))
	return s[:k] + fmt.Sprintf(truncMarker, k, len(s)), true
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	k := n
	for k > 0 && !utf8.RuneStart(s[k]) {
		k--
	}
	return s[:k]
}

// spanBuilder turns one call into OTLP spans with content cut to limit
// bytes per message.
type spanBuilder struct {
	source  string
	secrets []string
	limit   int
	cuts    int // messages cut while building

	in, out string // the call's chat request and answer as JSON, built once per trace
}

func (b *spanBuilder) text(s string) string {
	out, did := cut(s, b.limit)
	if did {
		b.cuts++
	}
	return out
}

func (b *spanBuilder) inputs(c track.Call) string {
	var msgs []chatMessage
	if c.System != "" {
		msgs = append(msgs, chatMessage{"system", b.text(c.System)})
	}
	msgs = append(msgs, chatMessage{"user", b.text(c.Prompt)})
	in := map[string]any{"messages": msgs, "model": firstNonEmpty(c.RequestedModel, c.Model)}
	if c.Temperature != nil {
		in["temperature"] = *c.Temperature
	}
	if c.MaxTokens > 0 {
		in["max_tokens"] = c.MaxTokens
	}
	if c.Streamed {
		in["stream"] = true
	}
	return jsonString(in)
}

func (b *spanBuilder) outputs(c track.Call, model string) string {
	finish := "stop"
	if !c.Success {
		finish = "error"
	}
	return jsonString(map[string]any{
		"object": "chat.completion",
		"model":  model,
		"choices": []map[string]any{{"index": 0, "finish_reason": finish,
			"message": chatMessage{"assistant", b.text(c.Response)}}},
		"usage": map[string]int{"prompt_tokens": c.Usage.InputTokens, "completion_tokens": c.Usage.OutputTokens, "total_tokens": c.Usage.Total()},
	})
}

// strAttr is a string attribute, made valid UTF-8 (protobuf refuses to
// encode anything else, and one bad record must not block a batch).
func strAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: utf8Valid(v)}}}
}

func utf8Valid(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func intAttr(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

// jsonAttr is an MLflow attribute: the value as JSON text.
func jsonAttr(k string, v any) *commonpb.KeyValue { return strAttr(k, jsonString(v)) }

// attempts returns the call's tries; a record without them (written
// before they existed) that went upstream gets one from its summary.
func attempts(c track.Call) []track.Attempt {
	if len(c.Tries) > 0 || c.Cached || c.Attempts == 0 {
		return c.Tries
	}
	a := track.Attempt{Provider: c.Provider, Model: c.Model, Start: c.Start, Duration: c.Duration}
	if !c.Success {
		a.ErrorKind, a.ErrorMessage = c.ErrorKind, c.ErrorMessage
	}
	return []track.Attempt{a}
}

// resourceSpans is the whole trace of c.
func (b *spanBuilder) resourceSpans(c track.Call) *tracepb.ResourceSpans {
	id, rawTrace, _ := traceIDs(c.ID)
	tries := attempts(c)
	b.in, b.out = b.inputs(c), b.outputs(c, c.Model)
	spans := []*tracepb.Span{b.root(c, id, rawTrace, len(tries) == 0)}
	for i, a := range tries {
		spans = append(spans, b.attempt(c, a, i+1, i == len(tries)-1, id, rawTrace))
	}
	return &tracepb.ResourceSpans{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strAttr("service.name", b.source)}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "llm-connector"},
			Spans: spans,
		}},
	}
}

func (b *spanBuilder) root(c track.Call, id string, rawTrace []byte, carriesUsage bool) *tracepb.Span {
	route := firstNonEmpty(c.RequestedModel, c.Model, c.Endpoint)
	attrs := []*commonpb.KeyValue{
		jsonAttr(attrRequestID, id),
		jsonAttr(attrSpanType, "UNKNOWN"),
		jsonAttr("endpoint_name", route),
		jsonAttr("endpoint", c.Endpoint),
		jsonAttr(TagInteractionID, c.ID),
		strAttr(attrSpanInputs, b.in),
		strAttr(attrSpanOutputs, b.out),
		jsonAttr("attempts", c.Attempts),
	}
	if c.Cached {
		attrs = append(attrs, jsonAttr("cached", true))
	}
	if c.Fallback {
		attrs = append(attrs, jsonAttr("fallback", true))
	}
	if c.TTFT > 0 {
		attrs = append(attrs, jsonAttr("ttft_ms", float64(c.TTFT.Microseconds())/1000))
	}
	if carriesUsage {
		attrs = append(attrs, b.usageAttrs(c)...)
	}
	sp := &tracepb.Span{
		TraceId:           rawTrace,
		SpanId:            spanIDOf(c.ID, 0),
		Name:              utf8Valid("gateway/" + route),
		Kind:              tracepb.Span_SPAN_KIND_SERVER,
		StartTimeUnixNano: uint64(c.Start.UnixNano()),
		EndTimeUnixNano:   uint64(c.Start.Add(c.Duration).UnixNano()),
		Attributes:        attrs,
		Status:            &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
	}
	if !c.Success {
		b.fail(sp, c.ErrorKind, c.ErrorMessage)
	}
	return sp
}

// usageAttrs are the token usage and cost: on one span per trace only.
func (b *spanBuilder) usageAttrs(c track.Call) []*commonpb.KeyValue {
	if c.Usage.Total() == 0 && !c.CostKnown {
		return nil
	}
	out := []*commonpb.KeyValue{
		jsonAttr(attrTokenUsage, tokenUsage(c)),
		intAttr("gen_ai.usage.input_tokens", int64(c.Usage.InputTokens)),
		intAttr("gen_ai.usage.output_tokens", int64(c.Usage.OutputTokens)),
	}
	if c.CostKnown {
		out = append(out, jsonAttr(attrCost, map[string]float64{"total_cost": c.CostUSD}))
	}
	return out
}

func (b *spanBuilder) attempt(c track.Call, a track.Attempt, i int, last bool, id string, rawTrace []byte) *tracepb.Span {
	method, spanType, op := "chat", "CHAT_MODEL", "chat"
	if c.Streamed {
		method = "chat_stream"
	}
	if c.Endpoint == "/v1/embeddings" {
		method, spanType, op = "embeddings", "EMBEDDING", "embeddings"
	}
	name := "provider/" + firstNonEmpty(a.Provider, "unknown")
	if a.Model != "" {
		name += "/" + a.Model
	}
	attrs := []*commonpb.KeyValue{
		jsonAttr(attrRequestID, id),
		jsonAttr(attrSpanType, spanType),
		jsonAttr(attrLLMProvider, a.Provider),
		jsonAttr(attrLLMModel, a.Model),
		jsonAttr(attrMsgFormat, "openai"),
		jsonAttr("method", method),
		jsonAttr("attempt", i),
		strAttr("gen_ai.operation.name", op),
		strAttr("gen_ai.provider.name", a.Provider),
		strAttr("gen_ai.request.model", a.Model),
	}
	if c.Streamed {
		attrs = append(attrs, jsonAttr("streaming", true))
	}
	if c.Temperature != nil {
		attrs = append(attrs, &commonpb.KeyValue{Key: "gen_ai.request.temperature", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: *c.Temperature}}})
	}
	if c.MaxTokens > 0 {
		attrs = append(attrs, intAttr("gen_ai.request.max_tokens", int64(c.MaxTokens)))
	}
	if last { // the attempt that answered, or the one that failed last
		attrs = append(attrs, strAttr(attrSpanInputs, b.in), strAttr(attrSpanOutputs, b.out))
		if a.ErrorKind == "" {
			attrs = append(attrs, strAttr("gen_ai.response.model", firstNonEmpty(c.Model, a.Model)))
		}
		attrs = append(attrs, b.usageAttrs(c)...)
	}
	sp := &tracepb.Span{
		TraceId:           rawTrace,
		SpanId:            spanIDOf(c.ID, i),
		ParentSpanId:      spanIDOf(c.ID, 0),
		Name:              utf8Valid(name),
		Kind:              tracepb.Span_SPAN_KIND_CLIENT,
		StartTimeUnixNano: uint64(a.Start.UnixNano()),
		EndTimeUnixNano:   uint64(a.Start.Add(a.Duration).UnixNano()),
		Attributes:        attrs,
		Status:            &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
	}
	if a.ErrorKind != "" {
		b.fail(sp, a.ErrorKind, a.ErrorMessage)
	}
	return sp
}

// fail marks sp as failed with an OTel "exception" event, which MLflow's
// UI shows under the span's events.
func (b *spanBuilder) fail(sp *tracepb.Span, kind, msg string) {
	kind = firstNonEmpty(kind, "error")
	kind, msg = utf8Valid(kind), utf8Valid(truncateRunes(Redact(msg, b.secrets...), maxErrorMsgLen))
	sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: kind + ": " + msg}
	sp.Events = append(sp.Events, &tracepb.Span_Event{
		Name:         "exception",
		TimeUnixNano: sp.EndTimeUnixNano,
		Attributes:   []*commonpb.KeyValue{strAttr("exception.type", kind), strAttr("exception.message", msg)},
	})
}
