package router

import (
	"cmp"
	"errors"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// unfit reports (and notes as the target's failure) that t's adapter
// cannot take the request at all (llm.Capable: images for a model that
// cannot see, several candidates from an API that answers one). The
// target is skipped before anything is sent and the next one is tried;
// its refusal decides the final error only when no target could take
// the request (allFailed).
func (s *run) unfit(t *Target) bool {
	req := s.req
	if m := cmp.Or(t.Model, req.Model); m != req.Model {
		rq := *req
		rq.Model = m
		req = &rq
	}
	err := llm.Accepts(s.ctx, t.P, req)
	if err == nil {
		return false
	}
	s.note(failure{name: t.Name, err: err, unfit: true})
	return true
}

// isUnfit reports whether the target called name was skipped as unfit.
func (s *run) isUnfit(name string) bool {
	for _, f := range s.fails {
		if f.name == name {
			return f.unfit
		}
	}
	return false
}

// noneFit is the error when every target was skipped as unfit: a 400
// naming each backend and why it cannot take the request.
func (s *run) noneFit() error {
	errs := make([]error, 0, len(s.fails))
	for _, f := range s.fails {
		errs = append(errs, f.err)
	}
	return &llm.Error{Kind: llm.KindInvalid, Detail: llm.DetailUnsupported,
		Message: "no backend of this route can take the request: " + s.summary(), Err: errors.Join(errs...)}
}
