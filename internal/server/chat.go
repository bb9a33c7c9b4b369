package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// ChatResponse is the seed's /chat answer, plus fields the seed's users
// can ignore.
type ChatResponse struct {
	Response         string   `json:"response"`
	Model            string   `json:"model"`
	TokensUsed       int      `json:"tokens_used"`
	ProcessingTimeMS int64    `json:"processing_time_ms"`
	Provider         string   `json:"provider"`
	Cached           bool     `json:"cached"`
	CostUSD          *float64 `json:"cost_usd,omitempty"`
	FinishReason     string   `json:"finish_reason,omitempty"`
	RequestID        string   `json:"request_id,omitempty"`
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	body, rerr := readBody(w, r, s.bodyLimit(), `{"prompt": "..."}`)
	if rerr == nil {
		var req *ChatRequest
		if req, rerr = DecodeChat(body); rerr == nil {
			s.serveChat(w, r, req)
			return
		}
	}
	writeDetail(w, rerr.status, rerr.detail)
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request, cr *ChatRequest) {
	temp := cr.temperature()
	req := &llm.Request{
		System:      str(cr.Context),
		Messages:    []llm.Message{{Role: llm.RoleUser, Content: *cr.Prompt}},
		MaxTokens:   cr.maxTokens(),
		Temperature: &temp,
		// The seed's default; providers that refuse sampling parameters
		// (Anthropic's newest API version) may leave it out.
		TemperatureIsDefault: cr.Temperature == nil,
	}
	stream := (cr.Stream != nil && *cr.Stream) ||
		(cr.Stream == nil && strings.Contains(r.Header.Get("Accept"), "text/event-stream"))
	in := s.input(r, "/chat", req, stream)
	in.Model, in.Provider = str(cr.Model), str(cr.Provider)
	req.User = in.Who.User
	id := RequestID(r.Context())
	s.answer(w, r, in, &chatEvents{}, func(res *gateway.Result) any {
		p := bodyBuf(bodyCap(res, chatFixed))
		if b, ok := appendChatResponse(p.b, res, id); ok {
			p.b = b
			return p
		}
		p.release()
		return chatResponse(res, id) // a cost json.Marshal refuses: its 500
	})
}

// answer runs one model request through the gateway and answers it as an
// event stream in format f, or as the single JSON body made by body. The
// two paths share everything up to the last step.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, in *gateway.Input, f eventFormat, body func(*gateway.Result) any) {
	// Shutdown ends the request: its upstream call is canceled and the
	// answer says why (s.endErr). A stream also ends its upstream call
	// itself when the client is gone (streamOut.lost).
	ctx, cancel := s.requestContext(r, in.Stream)
	defer cancel()
	var out *streamOut
	if in.Stream {
		out = newStreamOut()
		ctx = llm.WithBeforeRead(ctx, out.beforeRead)
	}
	res, seq, err := s.GW.Chat(ctx, in)
	setAdmissionHeaders(w.Header(), res)
	if err != nil {
		f.failBeforeStart(s, w, err)
		return
	}
	if in.Stream {
		s.pump(ctx, cancel, w, res, seq, f, out)
		return
	}
	for _, err := range seq {
		if err != nil {
			break
		}
	}
	s.finishHeaders(w, res)
	if res.Err != nil {
		f.failBeforeStart(s, w, s.endErr(res.Err))
		return
	}
	writeJSON(w, http.StatusOK, body(res))
}

// errShuttingDown ends the requests still running when the drain time
// of a shutdown has passed.
var errShuttingDown = &llm.Error{Kind: llm.KindUnavailable, RetryAfter: time.Second,
	Message: "service shutting down: the answer was cut; retry the request"}

// endErr is the error a request ends with: err, unless the service is
// shutting down (which is why err happened).
func (s *Server) endErr(err error) error {
	if s.Stopping != nil && s.Stopping.Err() != nil {
		return errShuttingDown
	}
	return err
}

func chatResponse(res *gateway.Result, id string) ChatResponse {
	var cost *float64
	if res.CostKnown {
		cost = &res.CostUSD
	}
	return ChatResponse{
		CostUSD:          cost,
		Response:         res.Response.Text,
		Model:            res.Response.Model,
		TokensUsed:       res.Response.Usage.Total(),
		ProcessingTimeMS: res.Duration.Milliseconds(),
		Provider:         res.Response.Provider,
		Cached:           res.Cached,
		FinishReason:     res.Response.FinishReason,
		RequestID:        id,
	}
}

func (s *Server) chatError(w http.ResponseWriter, err error) {
	setRetryAfter(w.Header(), err)
	status := statusOf(err)
	annotate(w, slog.String("error_kind", llm.KindOf(err).String()))
	writeDetail(w, status, publicMessage(err))
}

// input builds the gateway input shared by /chat and /v1.
func (s *Server) input(r *http.Request, endpoint string, req *llm.Request, stream bool) *gateway.Input {
	who := s.identity(r)
	cc := strings.ToLower(r.Header.Get("Cache-Control"))
	return &gateway.Input{
		RequestID: RequestID(r.Context()),
		Endpoint:  endpoint,
		Who:       who,
		LimitKey:  s.limitKey(r, who),
		Req:       req,
		Stream:    stream,
		NoCache:   strings.Contains(cc, "no-cache"),
		NoStore:   strings.Contains(cc, "no-store"),
		// X-LLM-Cache: on caches a sampling request too (see Gateway.Cacheable).
		CacheSampled: strings.EqualFold(strings.TrimSpace(r.Header.Get("X-LLM-Cache")), "on"),
	}
}

func setAdmissionHeaders(h http.Header, res *gateway.Result) {
	if res == nil {
		return
	}
	for k, v := range res.Admission.Headers {
		h.Set(k, v)
	}
}

// finishHeaders sets what is known once the answer is complete.
func (s *Server) finishHeaders(w http.ResponseWriter, res *gateway.Result) {
	// Canonical keys set directly: Header.Set would canonicalize (and
	// allocate) each of them on every answer.
	h := w.Header()
	if res.CostKnown {
		h[hdrCost] = []string{strconv.FormatFloat(res.CostUSD, 'f', -1, 64)}
	}
	if res.Cached {
		h[hdrCache] = cacheHit
	} else {
		h[hdrCache] = cacheMiss
	}
	h[hdrOverhead] = []string{overheadMs(res)}
	if res.Response.Provider != "" {
		h[hdrProvider] = []string{res.Response.Provider}
	}
	s.annotateResult(w, res)
}

// The answer headers' canonical keys, and the X-Cache values (shared:
// header values are replaced, never written in place).
var (
	hdrCost     = http.CanonicalHeaderKey("X-Cost-USD")
	hdrCache    = http.CanonicalHeaderKey("X-Cache")
	hdrOverhead = http.CanonicalHeaderKey("X-Overhead-Ms")
	hdrProvider = http.CanonicalHeaderKey("X-LLM-Provider")
	hdrID       = http.CanonicalHeaderKey("X-Request-ID")
	// hdrInteraction names the interaction's ID when it is not the
	// X-Request-ID answered (the caller sent one: requestIDs).
	hdrInteraction = http.CanonicalHeaderKey("X-Interaction-ID")
	cacheHit       = []string{"HIT"}
	cacheMiss      = []string{"MISS"}
)

func overheadMs(res *gateway.Result) string {
	return strconv.FormatFloat(float64(res.Overhead().Microseconds())/1000, 'f', 3, 64)
}

// annotateResult adds who answered and the tokens to the request's log line.
func (s *Server) annotateResult(w http.ResponseWriter, res *gateway.Result) {
	if !s.logger().Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	annotate(w,
		slog.String("provider", res.Response.Provider),
		slog.String("model", res.Response.Model),
		slog.Int("tokens", res.Response.Usage.Total()),
		slog.Int("attempts", res.Attempts),
		slog.Bool("cached", res.Cached),
	)
}

// chatEvents writes /chat's event stream: "delta" events with the text,
// a final "done" event with the seed's response fields, or an "error"
// event with a detail when the stream fails after it started.
type chatEvents struct{}

func (*chatEvents) headers(h http.Header) {}

func (e *chatEvents) chunk(sw *sse.Writer, c llm.Chunk) error {
	if c.Delta == "" {
		return nil
	}
	b, err := sw.BeginJSON("delta")
	if err != nil {
		return err
	}
	return sw.EndJSON(appendChatDelta(b, c.Delta))
}

// done ends the stream with the non-stream body, appended as the body
// is (TestFastBodiesMatchJSON: what json.Marshal writes); a cost JSON
// cannot hold leaves its data empty, as json.Marshal's refusal did.
func (*chatEvents) done(sw *sse.Writer, res *gateway.Result, id string) error {
	b, err := sw.BeginJSON("done")
	if err != nil {
		return err
	}
	if out, ok := appendChatResponse(b, res, id); ok {
		return sw.EndJSON(out)
	}
	return sw.EndJSON(b)
}

func (*chatEvents) fail(sw *sse.Writer, err error) error {
	b, _ := json.Marshal(map[string]string{"detail": publicMessage(err), "kind": llm.KindOf(err).String()})
	return sw.Event("error", b)
}

func (*chatEvents) failBeforeStart(s *Server, w http.ResponseWriter, err error) { s.chatError(w, err) }
