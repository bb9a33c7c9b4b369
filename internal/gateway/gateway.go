// Package gateway is the request pipeline shared by every endpoint:
// resolve the route, admit (rate limit, budget), serve from cache or the
// router, then account (limits, budget, cost) and record the interaction.
// It defines the small interfaces it consumes; main wires the concrete
// Redis, SQLite, PostgreSQL and MLflow implementations into them.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
)

// Route is a resolved destination: a provider chain behind one Provider.
type Route struct {
	Name     string       // what the caller asked for: "default", an alias or "provider/model"
	P        llm.Provider // usually a router over the chain
	Provider string       // the primary target's provider and model, for records
	Model    string
	Targets  []string // every "provider/model" the route may try, in order (for allow-lists)
}

// Resolver maps the model (and optional provider) a caller asked for to
// a Route. Both empty mean the default route.
type Resolver interface {
	Resolve(model, provider string) (Route, error)
}

// Cache stores complete successful answers. Get reports ok=false on a
// miss; err only for backend failures, which the gateway treats as a miss.
type Cache interface {
	Get(ctx context.Context, key string) (resp *llm.Response, ok bool, err error)
	Set(ctx context.Context, key string, resp *llm.Response, ttl time.Duration) error
}

// Limiter admits a request for a caller key, reserving tokens, and
// reconciles the reservation with the real usage afterwards.
type Limiter interface {
	Admit(ctx context.Context, key string, tokens int) (Admission, error)
	Reconcile(ctx context.Context, key string, reserved, actual int)
}

// Admission is a limiter's decision. Headers describes the limit state
// for the response (X-RateLimit-*); it is set whether or not the request
// was allowed.
type Admission struct {
	Allowed    bool
	Which      string // the limit that refused: "requests" or "tokens"
	RetryAfter time.Duration
	Headers    map[string]string
	Message    string // the refusal's public text; empty: one naming Which per minute
}

// Budget reserves a worst-case spend before the call. The returned commit
// is called exactly once with the real cost.
type Budget interface {
	Reserve(ctx context.Context, who Identity, worstUSD float64) (commit func(actualUSD float64), err error)
}

// Pricer prices usage. known=false for a model without a price.
type Pricer interface {
	Cost(provider, model string, u llm.Usage) (usd float64, known bool)
	Version() string
}

// Identity is the caller, as authentication established it.
type Identity struct {
	User  string
	KeyID string
	Team  string
}

// Gateway runs the pipeline. Only Routes is required.
type Gateway struct {
	Routes   Resolver
	Cache    Cache
	CacheKey func(route string, req *llm.Request) string
	CacheTTL time.Duration
	// CacheSampled also caches requests that sample (temperature above 0
	// or unset). Off by default: only deterministic requests are cached,
	// unless the request opts in (Input.CacheSampled).
	CacheSampled bool
	Limiter      Limiter
	Budget       Budget
	Pricer       Pricer
	Sink         track.Sink
	Log          *slog.Logger
	// EstimateTokens is the admission estimate (prompt + max_tokens).
	EstimateTokens func(req *llm.Request) int
	// ThinkingTokens, when set, is the most thinking tokens a provider
	// may spend on top of max_tokens (its configured thinking budget);
	// the budget's worst case includes them. A request's own
	// ThinkingBudget wins.
	ThinkingTokens func(provider string) int
	// Authorize, when set, may refuse a resolved route for the caller in
	// ctx (a key's model allow-list).
	Authorize func(ctx context.Context, r Route) error
	// Observer, when set, receives what only the pipeline sees (metrics).
	Observer Observer
	// Tracer, when set, is told about every finished stream with its
	// context and upstream attempts (OpenTelemetry spans).
	Tracer CallObserver
	// Clean, when set, edits each record before any sink sees it
	// (MLFLOW_LOG_CONTENT: mask or withhold the content).
	Clean func(c *track.Call)
	// EmbedRoutes resolves embeddings models (embed.go); nil uses Routes.
	EmbedRoutes Resolver
	// Images is the image policy every request's images go through
	// after admission (images.go); nil applies the default one (data
	// URLs only, no fetching).
	Images ImagePolicy
}

// CallObserver is told about a finished request: ctx is the request's
// context (it carries the caller's trace span and the llm.Trace), and
// attempts are every upstream try, in order. It must not block.
type CallObserver interface {
	ObserveCall(ctx context.Context, attempts []llm.Attempt, res *Result)
}

// Observer is told about overhead, upstream attempts and refusals.
type Observer interface {
	ObserveOverhead(d time.Duration)
	ObserveAttempts(attempts []llm.Attempt)
	RateLimited(which string)
}

// Input is one request as the HTTP layer decoded it.
type Input struct {
	RequestID string
	Endpoint  string
	Who       Identity
	LimitKey  string // rate-limit key: user, key ID or client IP
	Model     string // requested model or alias; "" = default route
	Provider  string // optional provider pin
	Req       *llm.Request
	Stream    bool
	NoCache   bool // Cache-Control: no-cache — skip the lookup
	NoStore   bool // Cache-Control: no-store — do not store the answer
	// CacheSampled opts this request into the cache even when it samples
	// (X-LLM-Cache: on).
	CacheSampled bool
}

// Cacheable says whether the answer to in may come from, or go to, the
// cache: a sampling request (temperature above 0, or unset so that the
// provider's own default samples) asks for a new answer each time.
func (g *Gateway) Cacheable(in *Input) bool {
	if g.CacheSampled || in.CacheSampled {
		return true
	}
	t := in.Req.Temperature
	return t != nil && *t == 0
}

// Result is filled in while the answer streams; read it after the
// iteration ends.
type Result struct {
	Route     Route
	Admission Admission
	Cached    bool
	Response  llm.Response // accumulated (partial when the stream failed)
	CostUSD   float64
	CostKnown bool
	Attempts  int
	Fallback  bool
	Err       error
	Start     time.Time
	TTFT      time.Duration
	Duration  time.Duration
	// UpstreamTime spans the first attempt's start to the last one's end.
	UpstreamTime time.Duration
}

// Chat admits the request and returns the answer stream. An admission
// failure (unknown route, rate limit, budget) comes back as err, with res
// still describing the limit state. The stream must be iterated (at least
// until it ends or the caller stops): accounting and recording happen at
// its end.
func (g *Gateway) Chat(ctx context.Context, in *Input) (*Result, iter.Seq2[llm.Chunk, error], error) {
	res := &Result{Start: time.Now()}
	route, err := g.route(ctx, g.Routes, in.Model, in.Provider)
	res.Route = route
	if err != nil {
		res.Err = err
		g.record(ctx, in, res)
		return res, nil, err
	}
	adm := admission{g: g, in: in, res: res}
	if err := adm.admit(ctx); err != nil {
		res.Err = err
		g.record(ctx, in, res)
		return res, nil, err
	}
	if err := g.prepareImages(ctx, in); err != nil {
		adm.settle(ctx)
		res.Err = err
		g.record(ctx, in, res)
		return res, nil, err
	}
	return res, g.stream(ctx, in, res, &adm), nil
}

// route resolves the caller's model and provider with r and authorizes
// the route for the caller in ctx (a key's allow-list). A route refused
// by Authorize comes back with the error, for the record.
func (g *Gateway) route(ctx context.Context, r Resolver, model, provider string) (Route, error) {
	route, err := r.Resolve(model, provider)
	if err != nil {
		return Route{}, err
	}
	if g.Authorize != nil {
		if err := g.Authorize(ctx, route); err != nil {
			return route, err
		}
	}
	return route, nil
}

// MaxAnswerText bounds the text of one answer. The longest answer a
// model gives (65,536 tokens) is well under a megabyte; an upstream that
// sends more is broken or hostile, and the answer ends with a
// KindUpstream error instead of growing memory.
const MaxAnswerText = 8 << 20

func (g *Gateway) stream(ctx context.Context, in *Input, res *Result, adm *admission) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		trace := &llm.Trace{}
		ctx := llm.WithTrace(ctx, trace)
		// The text is gathered here, not by Response.Add, which copies the
		// whole text per chunk: quadratic in a long answer.
		var text, thinking strings.Builder
		others := 0 // text bytes of candidates after the first
		defer func() {
			res.Response.Text += text.String()
			res.Response.Thinking += thinking.String()
			g.finish(ctx, in, res, adm, trace)
		}()
		src, key := g.source(ctx, in, res)
		for c, err := range src {
			if err != nil {
				res.Err = err
				yield(c, err)
				return
			}
			if c.HasContent() && res.TTFT == 0 {
				res.TTFT = time.Since(res.Start)
				trace.MarkFirstToken(time.Now())
			}
			if text.Len()+thinking.Len()+len(c.Delta)+len(c.Thinking) > MaxAnswerText {
				res.Err = &llm.Error{Kind: llm.KindUpstream, Provider: cmp.Or(c.Provider, res.Route.Provider),
					Message: fmt.Sprintf("upstream answer too large: the text is over %d bytes", MaxAnswerText)}
				yield(llm.Chunk{}, res.Err)
				return
			}
			if c.Candidate > 0 { // another candidate of an n > 1 request
				others += len(c.Delta)
				if others > MaxAnswerText {
					res.Err = &llm.Error{Kind: llm.KindUpstream, Provider: cmp.Or(c.Provider, res.Route.Provider),
						Message: fmt.Sprintf("upstream answer too large: the candidates' text is over %d bytes", MaxAnswerText)}
					yield(llm.Chunk{}, res.Err)
					return
				}
				res.Response.Add(c)
			} else {
				text.WriteString(c.Delta)
				thinking.WriteString(c.Thinking)
				rest := c
				rest.Delta, rest.Thinking = "", ""
				res.Response.Add(rest)
			}
			if !yield(c, nil) {
				res.Err = context.Canceled
				return
			}
		}
		if key != "" && !in.NoStore && !res.Cached {
			res.Response.Text += text.String()
			res.Response.Thinking += thinking.String()
			text.Reset()
			thinking.Reset()
			g.store(ctx, key, &res.Response)
		}
	}
}

// source returns the cache replay on a hit, else the route's stream, and
// the cache key to store the answer under ("" when not caching).
func (g *Gateway) source(ctx context.Context, in *Input, res *Result) (iter.Seq2[llm.Chunk, error], string) {
	in.Req.Collect = !in.Stream // a non-stream caller lets the adapter make one non-stream upstream call
	if g.Cache == nil || g.CacheKey == nil || !g.Cacheable(in) {
		return res.Route.P.Stream(ctx, in.Req), ""
	}
	key := g.CacheKey(res.Route.Name, in.Req)
	if !in.NoCache {
		hit, ok, err := g.Cache.Get(ctx, key)
		if err != nil {
			g.logger().Warn("cache lookup failed; serving without cache", "err", err)
		}
		// A hit answered by a target the caller may not use (another
		// caller's fallback) is not served: the allow-list holds.
		if ok && hit != nil && llm.TargetAllowed(ctx, res.Route.Name, hit.Provider+"/"+hit.Model) {
			res.Cached = true
			return llm.Replay(hit), key
		}
	}
	return res.Route.P.Stream(ctx, in.Req), key
}

func (g *Gateway) store(ctx context.Context, key string, r *llm.Response) {
	if r.Text == "" && len(r.ToolCalls) == 0 {
		return
	}
	// Detach from the request: a client that leaves right after the last
	// chunk must not cancel the store.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := g.Cache.Set(sctx, key, r, g.CacheTTL); err != nil {
		g.logger().Warn("cache store failed", "err", err)
	}
}

// finish accounts for the finished (or failed) stream and records it.
func (g *Gateway) finish(ctx context.Context, in *Input, res *Result, adm *admission, trace *llm.Trace) {
	res.Duration = time.Since(res.Start)
	attempts := trace.Attempts()
	res.Attempts = len(attempts)
	if n := len(attempts); n > 0 {
		last := attempts[n-1]
		res.UpstreamTime = last.Start.Add(last.Duration).Sub(attempts[0].Start)
	}
	for i, a := range attempts {
		if a.Err == nil && i > 0 && a.Provider != res.Route.Provider {
			res.Fallback = true
		}
	}
	if res.Cached {
		// A hit bills no provider tokens.
		res.Response.Usage = llm.Usage{}
	} else if res.Err != nil {
		billPartial(in.Req, &res.Response)
	}
	if res.Response.Provider == "" && len(attempts) > 0 {
		last := attempts[len(attempts)-1]
		res.Response.Provider, res.Response.Model = last.Provider, last.Model
	}
	if g.Pricer != nil {
		if res.Cached {
			res.CostUSD, res.CostKnown = 0, true
		} else {
			res.CostUSD, res.CostKnown = g.price(res, attempts)
		}
	}
	adm.settle(context.WithoutCancel(ctx))
	if g.Observer != nil {
		g.Observer.ObserveOverhead(res.Overhead())
		g.Observer.ObserveAttempts(attempts)
	}
	if g.Tracer != nil {
		g.Tracer.ObserveCall(ctx, attempts, res)
	}
	g.record(ctx, in, res)
}

// billPartial fills in the usage of an answer that ended early (the
// client left, the stream was cut, the service shut down) where the
// provider reported nothing: the prompt's estimate for the input, the
// streamed text's for the output (about four bytes a token). What the
// provider did report (its cumulative usage so far) is kept, so that
// closing a stream just before its end never dodges a budget.
func billPartial(req *llm.Request, r *llm.Response) {
	out := len(r.Text)
	for _, tc := range r.ToolCalls {
		out += len(tc.Name) + len(tc.Arguments)
	}
	if out == 0 || req == nil {
		return // nothing was produced: nothing to bill beyond what was reported
	}
	u := &r.Usage
	if u.InputTokens == 0 {
		in := len(req.System)
		for _, m := range req.Messages {
			in += len(m.Content) + 16 // role and framing
		}
		u.InputTokens = (in + 3) / 4
	}
	if u.OutputTokens == 0 {
		u.OutputTokens = (out + 3) / 4
	}
	if u.TotalTokens != 0 && u.TotalTokens < u.InputTokens+u.OutputTokens {
		u.TotalTokens = u.InputTokens + u.OutputTokens
	}
}

// price prices the answer by the model version the provider reported;
// when that one has no price (a new or odd modelVersion), by the model
// the target was configured with, so that a call is never billed $0
// just because the upstream named its model differently.
func (g *Gateway) price(res *Result, attempts []llm.Attempt) (float64, bool) {
	u := res.Response.Usage
	if usd, ok := g.Pricer.Cost(res.Response.Provider, res.Response.Model, u); ok {
		return usd, true
	}
	provider, model := res.Route.Provider, res.Route.Model
	if n := len(attempts); n > 0 {
		provider, model = attempts[n-1].Provider, attempts[n-1].Model
	}
	return g.Pricer.Cost(provider, model, u)
}

func (g *Gateway) record(ctx context.Context, in *Input, res *Result) {
	if g.Sink == nil {
		return
	}
	c := callOf(in, res)
	for _, a := range llm.TraceFrom(ctx).Attempts() {
		t := track.Attempt{Provider: a.Provider, Model: a.Model, Start: a.Start, Duration: a.Duration}
		if a.Err != nil {
			t.ErrorKind, t.ErrorMessage = llm.KindOf(a.Err).String(), llm.PublicMessage(a.Err)
		}
		c.Tries = append(c.Tries, t)
	}
	if g.Pricer != nil {
		c.PriceVersion = g.Pricer.Version()
	}
	if g.Clean != nil {
		g.Clean(&c)
	}
	if err := g.Sink.Record(context.WithoutCancel(ctx), c); err != nil {
		g.logger().Error("tracking record failed", "request_id", in.RequestID, "err", err)
	}
}

func callOf(in *Input, res *Result) track.Call {
	req := in.Req
	if req == nil {
		req = &llm.Request{}
	}
	c := track.Call{
		ID: in.RequestID, User: in.Who.User, KeyID: in.Who.KeyID, Team: in.Who.Team,
		Endpoint: in.Endpoint, RequestedModel: in.Model,
		Provider: res.Response.Provider, Model: res.Response.Model,
		Temperature: req.Temperature, MaxTokens: req.MaxTokens,
		System: req.System, Prompt: promptText(req), Response: res.Response.Text,
		Usage: res.Response.Usage, CostUSD: res.CostUSD, CostKnown: res.CostKnown,
		Start: res.Start, Duration: res.Duration, TTFT: res.TTFT,
		Attempts: res.Attempts, Fallback: res.Fallback, Cached: res.Cached, Streamed: in.Stream,
		Success: res.Err == nil,
	}
	if c.Provider == "" {
		c.Provider, c.Model = res.Route.Provider, res.Route.Model
	}
	if res.Err != nil {
		c.ErrorKind = llm.KindOf(res.Err).String()
		c.ErrorMessage = llm.PublicMessage(res.Err)
	}
	return c
}

// promptText renders the conversation for the record: the last user
// message alone for a one-turn chat, else "role: content" lines.
func promptText(req *llm.Request) string {
	if len(req.Messages) == 1 {
		return req.Messages[0].Content
	}
	var b []byte
	for _, m := range req.Messages {
		b = append(b, m.Role...)
		b = append(b, ": "...)
		b = append(b, m.Content...)
		b = append(b, '\n')
	}
	return string(b)
}

func (g *Gateway) logger() *slog.Logger {
	if g.Log != nil {
		return g.Log
	}
	return slog.Default()
}

// ErrNoRoute is returned by resolvers for an unknown model or provider.
var ErrNoRoute = errors.New("gateway: no route")

// Overhead is the time the service itself added: the whole duration
// minus the span from the first upstream attempt's start to the last
// one's end (backoff waits count as upstream time).
func (r *Result) Overhead() time.Duration {
	if r.UpstreamTime <= 0 || r.UpstreamTime > r.Duration {
		return r.Duration
	}
	return r.Duration - r.UpstreamTime
}
