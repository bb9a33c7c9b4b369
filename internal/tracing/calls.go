package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// Attributes the gateway adds to the request's SERVER span.
const (
	RouteKey    = attribute.Key("llm_connector.route")    // the route asked for: "default", an alias, "provider/model"
	CachedKey   = attribute.Key("llm_connector.cached")   // answered from the cache
	FallbackKey = attribute.Key("llm_connector.fallback") // answered by another provider than the route's primary
	AttemptsKey = attribute.Key("llm_connector.attempts") // upstream tries, all targets
	// AttemptKey numbers the CLIENT spans of one request from 1.
	AttemptKey = attribute.Key("llm_connector.attempt")
)

// FirstTokenEvent marks, on the answering attempt's span, when the first
// content chunk reached the caller.
const FirstTokenEvent = "gen_ai.first_token"

// ObserveCall is the gateway's hook (gateway.CallObserver), called once
// a request's answer has finished streaming, with the request's context
// (which carries the SERVER span) and every upstream attempt. It makes
// one CLIENT span per attempt, back-dated to the recorded start and end,
// with GenAI semantic-convention attributes, and annotates the SERVER
// span with the gateway's outcome. Failed attempts carry error.type (the
// error kind) and an Error status with the public message only: upstream
// error text, which might quote a URL or a credential, is never copied.
func (t *Tracer) ObserveCall(ctx context.Context, attempts []llm.Attempt, res *gateway.Result) {
	if !t.Enabled() || res == nil {
		return
	}
	parent := trace.SpanFromContext(ctx)
	if parent.SpanContext().IsValid() && !parent.IsRecording() {
		return // the request's trace was sampled out
	}
	if parent.IsRecording() {
		attrs := []attribute.KeyValue{
			CachedKey.Bool(res.Cached),
			FallbackKey.Bool(res.Fallback),
			AttemptsKey.Int(res.Attempts),
		}
		if res.Route.Name != "" {
			attrs = append(attrs, RouteKey.String(res.Route.Name))
		}
		if res.Err != nil {
			// A stream that fails after its 200 shows only here.
			attrs = append(attrs, semconv.ErrorTypeKey.String(llm.KindOf(res.Err).String()))
		}
		parent.SetAttributes(attrs...)
	}
	firstToken := llm.TraceFrom(ctx).FirstToken()
	for i, a := range attempts {
		name := "chat"
		if a.Model != "" {
			name += " " + a.Model
		}
		_, span := t.tracer.Start(ctx, name,
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithTimestamp(a.Start),
			trace.WithAttributes(
				semconv.GenAIOperationNameChat,
				semconv.GenAIProviderNameKey.String(providerName(a.Provider)),
				semconv.GenAIRequestModel(a.Model),
				AttemptKey.Int(i+1),
			))
		end := a.Start.Add(a.Duration)
		if a.Err == nil {
			answered(span, a, res)
			if !firstToken.IsZero() && !firstToken.Before(a.Start) && !firstToken.After(end) {
				span.AddEvent(FirstTokenEvent, trace.WithTimestamp(firstToken))
			}
		} else {
			span.SetAttributes(semconv.ErrorTypeKey.String(llm.KindOf(a.Err).String()))
			span.SetStatus(codes.Error, llm.PublicMessage(a.Err))
		}
		span.End(trace.WithTimestamp(end))
	}
}

// answered adds what the answering attempt returned.
func answered(span trace.Span, a llm.Attempt, res *gateway.Result) {
	r := &res.Response
	model := a.Model
	if r.Model != "" && (r.Provider == "" || r.Provider == a.Provider) {
		model = r.Model
	}
	attrs := []attribute.KeyValue{semconv.GenAIResponseModel(model)}
	if r.Usage != (llm.Usage{}) {
		// Absent when the provider reported none, not zero.
		attrs = append(attrs,
			semconv.GenAIUsageInputTokens(r.Usage.InputTokens),
			semconv.GenAIUsageOutputTokens(r.Usage.OutputTokens))
	}
	if r.FinishReason != "" {
		attrs = append(attrs, semconv.GenAIResponseFinishReasons(r.FinishReason))
	}
	span.SetAttributes(attrs...)
}

// providerName maps the gateway's provider names to the well-known
// gen_ai.provider.name values; others (ollama, configured names) pass.
func providerName(p string) string {
	switch p {
	case "google", "gemini":
		return "gcp.gemini"
	}
	return p
}

// Interface guard: the gateway calls ObserveCall through this interface.
var _ gateway.CallObserver = (*Tracer)(nil)
