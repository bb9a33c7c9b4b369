package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/llm-connector/llm-connector/internal/llm"
)

var _ llm.Embedder = (*Router)(nil)

// Embed implements llm.Embedder over the targets, with the policy of
// Stream: the same retry classification (decide), backoff, breakers,
// deadline and allow-list, and one trace attempt per try.
//
// Fallback keeps the vector space: a target other than the route's
// primary is used only when its vectors have the route's dimension —
// the request's dimensions when set (every target is asked for it),
// else the length the primary returns by default, learned from its
// answers. Until the primary has answered once, a request without
// dimensions has no known dimension and is never served by a fallback.
// A target whose vectors differ in length is skipped, never served.
func (r *Router) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	s := &run{r: r, parent: ctx, trace: llm.TraceFrom(ctx)}
	defer s.begin()()
	allowed := s.allowed()
	if len(allowed) == 0 {
		return nil, llm.Errorf(llm.KindForbidden, "", "model %q is not allowed for this API key", r.routeName())
	}
	tried := false
	for n, i := range allowed {
		br := r.brs[i]
		ok, probe := br.allow()
		if !ok {
			s.fail(r.targets[i].Name, errCircuitOpen(br), true)
			continue
		}
		tried = true
		if resp, err, done := s.embedTarget(i, req, probe, n < len(allowed)-1); done {
			return resp, err
		}
	}
	if !tried {
		if resp, err, done := s.embedTarget(allowed[0], req, true, false); done {
			return resp, err
		}
	}
	return nil, s.allFailed()
}

// embedWant is the vector length target i must return for req, 0 when
// any length will do (the primary without dimensions), and whether it
// is known at all.
func (r *Router) embedWant(i int, req *llm.EmbedRequest) (want int, known bool) {
	if req.Dimensions > 0 {
		return req.Dimensions, true
	}
	if i == 0 {
		return 0, true
	}
	if v, ok := r.dims.Load(r.targets[0].Name); ok {
		return v.(int), true
	}
	return 0, false
}

// embedTarget runs the attempts on target i, as tryTarget does for a
// stream. done is true when the request is over (answered, or err is
// the caller's).
func (s *run) embedTarget(i int, req *llm.EmbedRequest, once, hasNext bool) (resp *llm.EmbedResponse, err error, done bool) {
	t, br := &s.r.targets[i], s.r.brs[i]
	want, known := s.r.embedWant(i, req)
	if !known {
		br.release()
		s.fail(t.Name, &llm.Error{Kind: llm.KindUnavailable, Message: "not used as a fallback: the route's vector " +
			"dimension is not known yet (its primary has not answered since the start); send dimensions"}, false)
		return nil, nil, false
	}
	retries := s.retries(t, once)
	for n := 0; ; n++ {
		if s.ctx.Err() != nil {
			return nil, s.ctxErr(), true
		}
		resp, err := s.embedAttempt(i, req, want)
		if err == nil {
			return resp, nil, true
		}
		s.fail(t.Name, err, false)
		if s.ctx.Err() != nil {
			return nil, s.ctxErr(), true
		}
		if errors.Is(err, errDimension) {
			return nil, nil, false
		}
		switch s.r.decide(err) {
		case giveUp:
			return nil, err, true
		case nextTarget:
			return nil, nil, false
		}
		switch s.again(n, retries, br, hasNext, err) {
		case stepMoveOn:
			return nil, nil, false
		case stepCut:
			return nil, s.ctxErr(), true
		}
	}
}

// errDimension marks an answer whose vectors have the wrong length.
var errDimension = errors.New("router: vector dimension differs from the route's")

// embedAttempt makes one try of target i under the first-token timeout
// (an embedding answer is all first token), and records it.
func (s *run) embedAttempt(i int, req *llm.EmbedRequest, want int) (*llm.EmbedResponse, error) {
	t, br := &s.r.targets[i], s.r.brs[i]
	emb, ok := t.P.(llm.Embedder)
	start := s.r.clock.Now()
	model := req.Model
	if t.Model != "" {
		model = t.Model
	}
	var resp *llm.EmbedResponse
	var err error
	if !ok {
		err = &llm.Error{Kind: llm.KindNotFound, Provider: t.Provider, Message: "provider " + t.Provider + " does not serve embeddings"}
	} else {
		rq := *req
		rq.Model = model
		if i > 0 && rq.Dimensions == 0 {
			rq.Dimensions = want // ask the fallback for the primary's length
		}
		actx, cancel := s.ctx, context.CancelFunc(func() {})
		if s.r.policy.TTFT > 0 {
			actx, cancel = s.r.clock.WithDeadline(s.ctx, start.Add(s.r.policy.TTFT),
				&stallError{fmt.Sprintf("no answer within %s", s.r.policy.TTFT)})
		}
		resp, err = emb.Embed(actx, &rq)
		if err != nil {
			err = s.attemptErr(actx, t, err)
		}
		cancel()
	}
	if err == nil {
		if resp.Provider == "" {
			resp.Provider = t.Provider
		}
		if resp.Model == "" {
			resp.Model = model
		}
		err = checkDims(t, resp, want)
	}
	s.trace.Add(llm.Attempt{Provider: t.Provider, Model: model, Start: start, Duration: s.r.clock.Now().Sub(start), Err: err})
	switch {
	case err == nil:
		br.success()
		if i == 0 && req.Dimensions == 0 {
			s.r.dims.Store(t.Name, len(resp.Vectors[0]))
		}
		return resp, nil
	case s.ctx.Err() == nil && countsAgainst(err):
		br.failure(publicText(err))
	default:
		br.release()
	}
	return nil, err
}

// checkDims checks that every vector has one length, want when want > 0.
func checkDims(t *Target, resp *llm.EmbedResponse, want int) error {
	if len(resp.Vectors) == 0 {
		return &llm.Error{Kind: llm.KindEmpty, Provider: t.Provider, Message: "embeddings answer has no vectors"}
	}
	if want == 0 {
		want = len(resp.Vectors[0])
	}
	for _, v := range resp.Vectors {
		if len(v) != want {
			return &llm.Error{Kind: llm.KindUnavailable, Provider: t.Provider, Err: errDimension,
				Message: fmt.Sprintf("returned %d-dimension vectors where the route's are %d: not served", len(v), want)}
		}
	}
	return nil
}
