package mlflow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/llm-connector/llm-connector/internal/track"
)

// traceIDs derives the trace and root span ids from the interaction ID,
// so a replay addresses the same trace instead of starting a second one.
func traceIDs(interaction string) (traceID string, rawTrace, rawSpan []byte) {
	sum := sha256.Sum256([]byte("llm-connector/trace/" + interaction))
	return "tr-" + hex.EncodeToString(sum[:16]), sum[:16], sum[16:24]
}

type traceInfo struct {
	TraceID  string            `json:"trace_id"`
	Tags     map[string]string `json:"tags"`
	State    string            `json:"state"`
	Metadata map[string]string `json:"trace_metadata"`
}

// jsonString is how MLflow stores span attribute values: JSON text.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func traceInputs(c track.Call) map[string]any {
	var msgs []chatMessage
	if c.System != "" {
		msgs = append(msgs, chatMessage{"system", c.System})
	}
	msgs = append(msgs, chatMessage{"user", c.Prompt})
	in := map[string]any{"messages": msgs, "model": c.Model}
	if c.Temperature != nil {
		in["temperature"] = *c.Temperature
	}
	if c.MaxTokens > 0 {
		in["max_tokens"] = c.MaxTokens
	}
	return in
}

func tokenUsage(c track.Call) map[string]int {
	return map[string]int{"input_tokens": c.Usage.InputTokens, "output_tokens": c.Usage.OutputTokens, "total_tokens": c.Usage.Total()}
}

func traceOutputs(c track.Call) map[string]any {
	finish := "stop"
	if !c.Success {
		finish = "error"
	}
	return map[string]any{
		"model": c.Model,
		"choices": []map[string]any{{"index": 0, "finish_reason": finish,
			"message": chatMessage{"assistant", c.Response}}},
		"usage": map[string]int{"prompt_tokens": c.Usage.InputTokens, "completion_tokens": c.Usage.OutputTokens, "total_tokens": c.Usage.Total()},
	}
}

// startTraceBody is the StartTraceV3 request for a finished call.
func startTraceBody(c track.Call, expID, runID, source string, secrets []string) map[string]any {
	return startTraceBodyUsage(c, expID, runID, source, secrets, true)
}

// startTraceBodyUsage builds StartTraceV3; withUsage false leaves the
// token usage out, for a trace whose spans follow over OTLP (the server
// adds their usage to whatever the trace already has).
func startTraceBodyUsage(c track.Call, expID, runID, source string, secrets []string, withUsage bool) map[string]any {
	id, _, _ := traceIDs(c.ID)
	state := "OK"
	if !c.Success {
		state = "ERROR"
	}
	md := map[string]string{
		"mlflow.trace_schema.version": "3",
		"mlflow.traceInputs":          truncateRunes(jsonString(traceInputs(c)), 250),
		"mlflow.traceOutputs":         truncateRunes(jsonString(traceOutputs(c)), 250),
		"mlflow.trace.tokenUsage":     jsonString(tokenUsage(c)),
		"mlflow.source.name":          source,
	}
	if !withUsage {
		delete(md, "mlflow.trace.tokenUsage")
	}
	if c.User != "" {
		md["mlflow.trace.user"] = truncateRunes(c.User, 250)
	}
	if runID != "" {
		md["mlflow.sourceRun"] = runID
	}
	tags := map[string]string{"mlflow.traceName": "chat_completion", TagInteractionID: c.ID}
	if c.Model != "" {
		tags["model"] = c.Model
	}
	if c.Provider != "" {
		tags["provider"] = c.Provider
	}
	if !c.Success {
		tags[TagErrorKind] = firstNonEmpty(c.ErrorKind, "unknown")
		tags[TagErrorMessage] = truncateRunes(Redact(c.ErrorMessage, secrets...), maxErrorMsgLen)
	}
	info := map[string]any{
		"trace_id":           id,
		"client_request_id":  c.ID,
		"trace_location":     map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]string{"experiment_id": expID}},
		"request_time":       c.Start.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"execution_duration": fmt.Sprintf("%.3fs", c.Duration.Seconds()),
		"state":              state,
		"request_preview":    truncateRunes(c.Prompt, 1000),
		"response_preview":   truncateRunes(c.Response, 1000),
		"trace_metadata":     md,
		"tags":               tags,
	}
	return map[string]any{"trace": map[string]any{"trace_info": info}}
}

// tracesJSON is the traces.json artifact: one CHAT_MODEL root span in
// MLflow 3's file format (base64 ids, JSON-encoded attribute values).
func tracesJSON(c track.Call, secrets []string) []byte {
	id, rawTrace, rawSpan := traceIDs(c.ID)
	status := map[string]string{"code": "STATUS_CODE_OK", "message": ""}
	events := []any{}
	end := c.Start.Add(c.Duration)
	if !c.Success {
		msg := Redact(c.ErrorMessage, secrets...)
		status = map[string]string{"code": "STATUS_CODE_ERROR", "message": firstNonEmpty(c.ErrorKind, "error") + ": " + msg}
		events = append(events, map[string]any{"name": "exception", "time_unix_nano": end.UnixNano(),
			"attributes": map[string]string{"exception.type": jsonString(c.ErrorKind), "exception.message": jsonString(msg)}})
	}
	attrs := map[string]string{
		"mlflow.traceRequestId":  jsonString(id),
		"mlflow.spanType":        jsonString("CHAT_MODEL"),
		"mlflow.spanInputs":      jsonString(traceInputs(c)),
		"mlflow.spanOutputs":     jsonString(traceOutputs(c)),
		"mlflow.chat.tokenUsage": jsonString(tokenUsage(c)),
		"mlflow.llm.model":       jsonString(c.Model),
		"mlflow.llm.provider":    jsonString(c.Provider),
		"mlflow.message.format":  jsonString("openai"),
	}
	if c.Temperature != nil {
		attrs["temperature"] = jsonString(*c.Temperature)
	}
	if c.TTFT > 0 {
		attrs["ttft_ms"] = jsonString(float64(c.TTFT.Microseconds()) / 1000)
	}
	if c.CostKnown {
		attrs["mlflow.llm.cost"] = jsonString(map[string]float64{"total_cost": c.CostUSD})
	}
	span := map[string]any{
		"trace_id":             base64.StdEncoding.EncodeToString(rawTrace),
		"span_id":              base64.StdEncoding.EncodeToString(rawSpan),
		"trace_state":          "",
		"parent_span_id":       "",
		"name":                 "chat",
		"start_time_unix_nano": c.Start.UnixNano(),
		"end_time_unix_nano":   end.UnixNano(),
		"attributes":           attrs,
		"status":               status,
		"events":               events,
	}
	b, _ := json.Marshal(map[string]any{"spans": []any{span}})
	return b
}

// artifactPut writes name under a run's or trace's artifact URI.
type artifactPut func(ctx context.Context, uri, name string, data []byte) error

// proxyPut is artifactPut for servers that serve their artifacts
// (mlflow-artifacts: URIs) when no S3 writer is wired in.
func proxyPut(cl *client) artifactPut {
	return func(ctx context.Context, uri, name string, data []byte) error {
		root, ok := strings.CutPrefix(uri, "mlflow-artifacts:")
		if !ok {
			scheme, _, _ := strings.Cut(uri, ":")
			return &permanentError{fmt.Errorf("mlflow: artifact %s: unsupported artifact URI scheme %q", name, scheme)}
		}
		if rest, ok := strings.CutPrefix(root, "//"); ok {
			_, root, _ = strings.Cut(rest, "/")
		}
		return cl.putProxyArtifact(ctx, root, name, data)
	}
}

// shipTrace logs c as an MLflow 3 trace: StartTraceV3, then traces.json.
func (t *Tracker) shipTrace(ctx context.Context, c track.Call, expID, runID string, maybeSeen bool) error {
	return shipTraceV3(ctx, t.cl, t.putArtifact, c, expID, runID, t.cfg.SourceName, t.secrets, maybeSeen)
}

// shipTraceV3 is the MLflow 3.0–3.5 way: StartTraceV3, then the spans as
// a traces.json artifact. A replay finds the trace by its derived id
// instead of starting it again (a second StartTraceV3 with the same id is
// a 500 on the real server).
func shipTraceV3(ctx context.Context, cl *client, put artifactPut, c track.Call, expID, runID, source string, secrets []string, maybeSeen bool) error {
	id, _, _ := traceIDs(c.ID)
	var info *traceInfo
	if maybeSeen {
		got, err := getTrace(ctx, cl, id)
		if err != nil {
			return err
		}
		info = got
	}
	if info == nil {
		var out struct {
			Trace struct {
				Info traceInfo `json:"trace_info"`
			} `json:"trace"`
		}
		err := cl.call(ctx, http.MethodPost, "/api/3.0/mlflow/traces", nil, startTraceBody(c, expID, runID, source, secrets), &out)
		switch {
		case err == nil:
			info = &out.Trace.Info
		case isCode(err, "INTERNAL_ERROR"): // perhaps it exists already
			got, gerr := getTrace(ctx, cl, id)
			if gerr != nil || got == nil {
				return err
			}
			info = got
		default:
			return err
		}
	}
	loc := info.Tags["mlflow.artifactLocation"]
	if loc == "" {
		return &permanentError{fmt.Errorf("mlflow: trace %s: no mlflow.artifactLocation tag", id)}
	}
	return put(ctx, loc, "traces.json", tracesJSON(c, secrets))
}

// getTrace is GET /api/3.0/mlflow/traces/{id}; nil, nil when the server
// does not know the trace.
func getTrace(ctx context.Context, cl *client, id string) (*traceInfo, error) {
	var out struct {
		Trace struct {
			Info traceInfo `json:"trace_info"`
		} `json:"trace"`
	}
	if err := cl.call(ctx, http.MethodGet, "/api/3.0/mlflow/traces/"+id, nil, nil, &out); err != nil {
		if isCode(err, "RESOURCE_DOES_NOT_EXIST") {
			return nil, nil
		}
		return nil, err
	}
	return &out.Trace.Info, nil
}
