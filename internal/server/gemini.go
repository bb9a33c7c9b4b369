package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// The Gemini-native surface (Generative Language API v1beta, wire.md
// §1): POST /v1beta/models/{model}:generateContent,
// :streamGenerateContent?alt=sse, :countTokens, :embedContent and
// :batchEmbedContents, GET /v1beta/models[/{model}], in Google's exact
// shapes, so that the google-genai SDKs point at the gateway unchanged.
// The model in the path is routed as /v1 routes model names: "default"
// (the configured chain), an alias, "provider/model", or a bare name
// ("gemini-2.5-flash" → google/gemini-2.5-flash).

// Endpoint names of the surface, for records and metrics.
const (
	gmEndpointGenerate = "/v1beta/models:generateContent"
	gmEndpointStream   = "/v1beta/models:streamGenerateContent"
	gmEndpointCount    = "/v1beta/models:countTokens"
	gmEndpointEmbed    = "/v1beta/models:embedContent"
	gmEndpointBatch    = "/v1beta/models:batchEmbedContents"
)

// geminiCall serves POST /v1beta/models/{call...}: "model:method", split
// at the last ':' (a model name may hold colons: "ollama/llama3:8b").
func (s *Server) geminiCall(w http.ResponseWriter, r *http.Request) {
	call := r.PathValue("call")
	i := strings.LastIndexByte(call, ':')
	if i <= 0 {
		writeGeminiFail(w, &gmFail{status: http.StatusNotFound,
			message: "unknown method: use models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent or :batchEmbedContents"})
		return
	}
	model, method := call[:i], call[i+1:]
	if msg := checkModelName("model", model, maxModelName); msg != "" {
		writeGeminiFail(w, gmInvalid("%s", msg))
		return
	}
	switch method {
	case "generateContent":
		s.geminiGenerate(w, r, model, false)
	case "streamGenerateContent":
		if r.URL.Query().Get("alt") != "sse" {
			writeGeminiFail(w, gmInvalid("streamGenerateContent is served as Server-Sent Events only: add ?alt=sse"))
			return
		}
		s.geminiGenerate(w, r, model, true)
	case "countTokens":
		s.geminiCountTokens(w, r, model)
	case "embedContent":
		s.geminiEmbed(w, r, model, false)
	case "batchEmbedContents":
		s.geminiEmbed(w, r, model, true)
	default:
		writeGeminiFail(w, &gmFail{status: http.StatusNotFound,
			message: fmt.Sprintf("method %q is not served by this gateway", truncate(method, 40))})
	}
}

const gmExample = `{"contents": [{"role": "user", "parts": [{"text": "..."}]}]}`

// readGemini reads the body, answering a Gemini error when it cannot.
func (s *Server) readGemini(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, rerr := readBody(w, r, s.bodyLimit(), gmExample)
	if rerr != nil {
		writeGeminiFail(w, &gmFail{status: rerr.status, message: rerr.Error()})
		return nil, false
	}
	return body, true
}

func (s *Server) geminiGenerate(w http.ResponseWriter, r *http.Request, model string, stream bool) {
	body, ok := s.readGemini(w, r)
	if !ok {
		return
	}
	d, f := DecodeGemini(body)
	if f != nil {
		writeGeminiFail(w, f)
		return
	}
	endpoint := gmEndpointGenerate
	if stream {
		endpoint = gmEndpointStream
	}
	d.req.Model = model
	in := s.input(r, endpoint, d.req, stream)
	in.Model = model
	d.req.User = in.Who.User
	ev := &gmEvents{id: RequestID(r.Context()), model: model, thoughts: d.includeThoughts}
	s.answer(w, r, in, ev, ev.response)
}

// Gemini's response shapes (wire.md §1.3).
type (
	gmResponse struct {
		Candidates    []gmCandidate `json:"candidates,omitempty"`
		UsageMetadata *gmUsage      `json:"usageMetadata,omitempty"`
		ModelVersion  string        `json:"modelVersion,omitempty"`
		ResponseID    string        `json:"responseId,omitempty"`
	}
	gmCandidate struct {
		Content      *gmOutContent `json:"content,omitempty"`
		FinishReason string        `json:"finishReason,omitempty"`
		Index        int           `json:"index"`
	}
	gmOutContent struct {
		Role  string      `json:"role"`
		Parts []gmOutPart `json:"parts"`
	}
	gmOutPart struct {
		Text         string          `json:"text,omitempty"`
		Thought      bool            `json:"thought,omitempty"`
		FunctionCall *gmFunctionCall `json:"functionCall,omitempty"`
	}
	gmUsage struct {
		PromptTokenCount        int `json:"promptTokenCount"`
		CandidatesTokenCount    int `json:"candidatesTokenCount"`
		ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
		CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
		ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount,omitempty"`
		TotalTokenCount         int `json:"totalTokenCount"`
	}
)

// gmParts renders answer pieces as parts: thoughts first (only when the
// caller asked for them), then text, then function calls.
func gmParts(thinking, text string, calls []llm.ToolCall, thoughts bool) []gmOutPart {
	var parts []gmOutPart
	if thoughts && thinking != "" {
		parts = append(parts, gmOutPart{Text: thinking, Thought: true})
	}
	if text != "" {
		parts = append(parts, gmOutPart{Text: text})
	}
	for _, c := range calls {
		args := json.RawMessage(c.Arguments)
		if len(args) == 0 || !json.Valid(args) {
			args = json.RawMessage("{}")
		}
		parts = append(parts, gmOutPart{FunctionCall: &gmFunctionCall{ID: c.ID, Name: c.Name, Args: args}})
	}
	return parts
}

// gmFinishReason maps the normalised finish reason back to Gemini's.
func gmFinishReason(fr string) string {
	switch fr {
	case "", llm.FinishStop, llm.FinishToolCalls:
		return "STOP"
	case llm.FinishLength:
		return "MAX_TOKENS"
	case llm.FinishContentFilter:
		return "SAFETY"
	}
	return "OTHER"
}

// gmUsageOf renders usage as Gemini reports it: candidatesTokenCount
// excludes the thoughts, which have their own count.
func gmUsageOf(u llm.Usage) *gmUsage {
	return &gmUsage{
		PromptTokenCount:        u.InputTokens,
		CandidatesTokenCount:    max(u.OutputTokens-u.ThinkingTokens, 0),
		ThoughtsTokenCount:      u.ThinkingTokens,
		CachedContentTokenCount: u.CachedInputTokens,
		ToolUsePromptTokenCount: u.ToolUseInputTokens,
		TotalTokenCount:         u.Total(),
	}
}

// gmEvents writes streamGenerateContent's SSE: one data-only event per
// chunk, each a complete GenerateContentResponse, CRLF-framed as
// Google's servers frame it, no terminator; a failure after the start is
// a data event holding {"error":{...}}, which the genai SDKs raise as an
// APIError. No heartbeat comments: the genai SDK treats any line that is
// not data: as an invalid chunk.
type gmEvents struct {
	id       string
	model    string
	thoughts bool
}

func (e *gmEvents) headers(h http.Header) {}

// ping is the idle heartbeat: none, as Google sends none (a comment
// line would end the genai SDK's iteration with an error).
func (e *gmEvents) ping(*sse.Writer) error { return nil }

func (e *gmEvents) write(sw *sse.Writer, v any) error {
	b, _ := json.Marshal(v)
	return sw.EventCRLF(b)
}

func (e *gmEvents) chunk(sw *sse.Writer, c llm.Chunk) error {
	if c.Model != "" {
		e.model = c.Model
	}
	parts := gmParts(c.Thinking, c.Delta, c.ToolCalls, e.thoughts)
	if len(parts) == 0 {
		return nil // usage-only chunks: the final event carries the usage
	}
	idx := 0
	if c.Candidate > 0 && c.Candidate < llm.MaxCandidates {
		idx = c.Candidate // candidateCount > 1: each delta names its candidate
	}
	resp := gmResponse{Candidates: []gmCandidate{{Content: &gmOutContent{Role: "model", Parts: parts}, Index: idx}},
		ModelVersion: e.model, ResponseID: e.id}
	if c.Usage != nil {
		resp.UsageMetadata = gmUsageOf(*c.Usage)
	}
	return e.write(sw, resp)
}

func (e *gmEvents) done(sw *sse.Writer, res *gateway.Result, _ string) error {
	if res.Response.Model != "" {
		e.model = res.Response.Model
	}
	cands := []gmCandidate{{FinishReason: gmFinishReason(finishReason(res.Response))}}
	for i, o := range res.Response.Others {
		cands = append(cands, gmCandidate{FinishReason: gmOtherFinish(o), Index: i + 1})
	}
	return e.write(sw, gmResponse{
		Candidates:    cands,
		UsageMetadata: gmUsageOf(res.Response.Usage), ModelVersion: e.model, ResponseID: e.id,
	})
}

// gmOtherFinish is the finishReason of candidate 1.. of candidateCount > 1.
func gmOtherFinish(o llm.Choice) string {
	return gmFinishReason(finishReason(llm.Response{FinishReason: o.FinishReason, ToolCalls: o.ToolCalls}))
}

func (e *gmEvents) fail(sw *sse.Writer, err error) error {
	return e.write(sw, map[string]gmStatus{"error": gmStatusOf(statusOf(err), err)})
}

func (e *gmEvents) failBeforeStart(s *Server, w http.ResponseWriter, err error) {
	geminiErrorFor(w, err)
}

// response is the non-stream GenerateContentResponse.
func (e *gmEvents) response(res *gateway.Result) any {
	cand := gmCandidate{FinishReason: gmFinishReason(finishReason(res.Response))}
	if parts := gmParts(res.Response.Thinking, res.Response.Text, res.Response.ToolCalls, e.thoughts); len(parts) > 0 {
		cand.Content = &gmOutContent{Role: "model", Parts: parts}
	}
	cands := []gmCandidate{cand}
	for i, o := range res.Response.Others { // candidates 1.. of candidateCount > 1
		oc := gmCandidate{FinishReason: gmOtherFinish(o), Index: i + 1}
		if parts := gmParts("", o.Text, o.ToolCalls, false); len(parts) > 0 {
			oc.Content = &gmOutContent{Role: "model", Parts: parts}
		}
		cands = append(cands, oc)
	}
	return gmResponse{Candidates: cands, UsageMetadata: gmUsageOf(res.Response.Usage),
		ModelVersion: res.Response.Model, ResponseID: e.id}
}

// gmStatus is google.rpc.Status, Gemini's error body inside "error".
type gmStatus struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details,omitempty"`
}

// rpcStatus names the google.rpc code of an HTTP status.
func rpcStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		return "UNIMPLEMENTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

func gmStatusOf(status int, err error) gmStatus {
	st := gmStatus{Code: status, Message: publicMessage(err), Status: rpcStatus(status)}
	if status == http.StatusTooManyRequests {
		d := max(llm.RetryAfter(err), time.Second)
		st.Details = []map[string]any{{"@type": "type.googleapis.com/google.rpc.RetryInfo",
			"retryDelay": fmt.Sprintf("%ds", int((d+time.Second-1)/time.Second))}}
	}
	if errors.Is(err, gateway.ErrNoRoute) {
		st.Details = []map[string]any{{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "MODEL_NOT_FOUND",
			"domain": "llm-connector"}}
	}
	return st
}

// geminiErrorFor answers a gateway error in Gemini's shape and status.
func geminiErrorFor(w http.ResponseWriter, err error) {
	setRetryAfter(w.Header(), err)
	status := statusOf(err)
	annotate(w, slog.String("error_kind", llm.KindOf(err).String()))
	writeJSON(w, status, map[string]gmStatus{"error": gmStatusOf(status, err)})
}

func writeGeminiFail(w http.ResponseWriter, f *gmFail) {
	writeJSON(w, f.status, map[string]gmStatus{"error": {Code: f.status, Message: f.message, Status: rpcStatus(f.status)}})
}
