package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// EmbedInput is one embeddings request as the HTTP layer decoded it.
type EmbedInput struct {
	RequestID string
	Endpoint  string
	Who       Identity
	LimitKey  string
	Model     string // requested model or alias; "" = the default embedding route
	Provider  string
	Req       *llm.EmbedRequest
	NoCache   bool
	NoStore   bool
}

// EmbedResult describes an embeddings call after it ended.
type EmbedResult struct {
	Route     Route
	Admission Admission
	Cached    bool
	Response  *llm.EmbedResponse
	CostUSD   float64
	CostKnown bool
	Fallback  bool
	Err       error
	Start     time.Time
	Duration  time.Duration
}

// Embed admits, routes, prices and records an embeddings request with
// the steps and helpers of Chat: resolve (EmbedRoutes, else Routes),
// authorize, rate limit and budget (admission), cache, call the route's
// llm.Embedder, then finish (price, limits, budget, metrics, tracing and
// the record). The record carries the input text as the prompt (Clean
// masks or withholds it) and never a vector.
func (g *Gateway) Embed(ctx context.Context, in *EmbedInput) (*EmbedResult, error) {
	trace := &llm.Trace{}
	ctx = llm.WithTrace(ctx, trace)
	cin := in.chatInput()
	res := &Result{Start: time.Now()}
	var resp *llm.EmbedResponse
	done := func(err error) (*EmbedResult, error) {
		return &EmbedResult{Route: res.Route, Admission: res.Admission, Cached: res.Cached, Response: resp,
			CostUSD: res.CostUSD, CostKnown: res.CostKnown, Fallback: res.Fallback, Err: err,
			Start: res.Start, Duration: res.Duration}, err
	}
	refuse := func(err error) (*EmbedResult, error) {
		res.Err = err
		res.Duration = time.Since(res.Start)
		g.record(ctx, cin, res)
		return done(err)
	}
	resolver := g.EmbedRoutes
	if resolver == nil {
		resolver = g.Routes
	}
	route, err := g.route(ctx, resolver, in.Model, in.Provider)
	res.Route = route
	if err != nil {
		return refuse(err)
	}
	emb, ok := route.P.(llm.Embedder)
	if !ok {
		return refuse(llm.Errorf(llm.KindInvalid, "", "model %q does not serve embeddings", route.Name))
	}
	adm := admission{g: g, in: cin, res: res, reserved: llm.EstimateEmbedTokens(in.Req.Inputs)}
	if err := adm.admit(ctx); err != nil {
		return refuse(err)
	}
	key := ""
	if g.Cache != nil && g.CacheTTL > 0 {
		key = embedKey(route.Name, in.Req)
	}
	resp, res.Cached = g.embedCached(ctx, key, in, route.Name)
	if !res.Cached {
		resp, res.Err = emb.Embed(ctx, in.Req)
	}
	if resp != nil {
		res.Response = llm.Response{Provider: resp.Provider, Model: resp.Model, Usage: resp.Usage}
	}
	g.finish(ctx, cin, res, &adm, trace)
	if res.Err != nil {
		resp = nil
		return done(res.Err)
	}
	if key != "" && !in.NoStore && !res.Cached {
		g.embedStore(ctx, key, resp)
	}
	return done(nil)
}

// chatInput is the embeddings request in the shape the shared admission
// and record code reads: the inputs, one a line, as the one user turn.
func (in *EmbedInput) chatInput() *Input {
	req := &llm.Request{}
	if in.Req != nil {
		req.Model, req.User = in.Req.Model, in.Req.User
		req.Messages = []llm.Message{{Role: llm.RoleUser, Content: strings.Join(in.Req.Inputs, "\n")}}
	}
	return &Input{RequestID: in.RequestID, Endpoint: in.Endpoint, Who: in.Who, LimitKey: in.LimitKey,
		Model: in.Model, Provider: in.Provider, Req: req, NoCache: in.NoCache, NoStore: in.NoStore}
}

// embedKey is the cache key of an embeddings request: the route, model,
// dimensions, task type and every input (each length-prefixed, so that
// no two requests share one). Its "embed:" prefix keeps it apart from
// every chat key.
func embedKey(route string, req *llm.EmbedRequest) string {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(route)
	put(req.Model)
	put(fmt.Sprint(req.Dimensions))
	put(req.TaskType)
	for _, s := range req.Inputs {
		put(s)
	}
	return "embed:" + hex.EncodeToString(h.Sum(nil))
}

// maxCachedEmbed bounds one cached embeddings answer (packed vectors):
// a bigger one is served but not stored.
const maxCachedEmbed = 1 << 20

// embedCached looks key up. A hit answered by a target the caller may
// not use (another caller's fallback) is not served: the allow-list holds.
func (g *Gateway) embedCached(ctx context.Context, key string, in *EmbedInput, route string) (*llm.EmbedResponse, bool) {
	if key == "" || in.NoCache {
		return nil, false
	}
	hit, ok, err := g.Cache.Get(ctx, key)
	if err != nil {
		g.logger().Warn("cache lookup failed; serving without cache", "err", err)
	}
	if !ok || hit == nil || !llm.TargetAllowed(ctx, route, hit.Provider+"/"+hit.Model) {
		return nil, false
	}
	vecs, err := unpackVectors(hit.Text)
	if err != nil || len(vecs) != len(in.Req.Inputs) {
		return nil, false
	}
	return &llm.EmbedResponse{Vectors: vecs, Model: hit.Model, Provider: hit.Provider}, true
}

func (g *Gateway) embedStore(ctx context.Context, key string, r *llm.EmbedResponse) {
	text, ok := packVectors(r.Vectors)
	if !ok {
		return
	}
	g.store(ctx, key, &llm.Response{Text: text, Model: r.Model, Provider: r.Provider, Usage: r.Usage})
}

// packVectors stores the vectors in a cache entry's text: "v1:" then
// hex of count, dimension and the little-endian float32 values. ok is
// false when they are ragged or over maxCachedEmbed.
func packVectors(vecs [][]float32) (string, bool) {
	if len(vecs) == 0 {
		return "", false
	}
	dim := len(vecs[0])
	size := 8 + 4*dim*len(vecs)
	if dim == 0 || size > maxCachedEmbed {
		return "", false
	}
	b := make([]byte, 8, size)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(vecs)))
	binary.LittleEndian.PutUint32(b[4:], uint32(dim))
	for _, v := range vecs {
		if len(v) != dim {
			return "", false
		}
		b = appendFloats(b, v)
	}
	return "v1:" + hex.EncodeToString(b), true
}

// appendFloats appends v as little-endian float32 values.
func appendFloats(b []byte, v []float32) []byte {
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

func unpackVectors(text string) ([][]float32, error) {
	raw, err := hex.DecodeString(strings.TrimPrefix(text, "v1:"))
	if err != nil || !strings.HasPrefix(text, "v1:") || len(raw) < 8 {
		return nil, fmt.Errorf("gateway: not a packed embeddings entry")
	}
	n, dim := int(binary.LittleEndian.Uint32(raw)), int(binary.LittleEndian.Uint32(raw[4:]))
	if n <= 0 || dim <= 0 || len(raw) != 8+4*n*dim {
		return nil, fmt.Errorf("gateway: packed embeddings entry of the wrong size")
	}
	out := make([][]float32, n)
	p := raw[8:]
	for i := range out {
		out[i] = make([]float32, dim)
		for j := range out[i] {
			out[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(p))
			p = p[4:]
		}
	}
	return out, nil
}
