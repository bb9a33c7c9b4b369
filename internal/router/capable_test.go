package router

import (
	"context"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	fp "github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

// picky is a fake adapter that refuses, before sending, images (a
// text-only model) and several candidates (an API with one answer), as
// the Ollama and Anthropic adapters do.
type picky struct {
	*fp.Provider
	sees, candidates bool
	asked            []string // the models Accepts was asked about
}

func (p *picky) Accepts(_ context.Context, req *llm.Request) error {
	p.asked = append(p.asked, req.Model)
	if req.HasImages() && !p.sees {
		return llm.Unsupported("ollama", "model %q does not accept images", req.Model)
	}
	if req.Candidates > 1 && !p.candidates {
		return llm.Unsupported("ollama", "n=%d: one candidate per request", req.Candidates)
	}
	return nil
}

// wrapped hides a provider behind a wrapper with Unwrap, as the
// outbound rate limiter does.
type wrapped struct{ llm.Provider }

func (w wrapped) Unwrap() llm.Provider { return w.Provider }

func imageRequest() *llm.Request {
	return &llm.Request{Model: "alias", Messages: []llm.Message{{Role: llm.RoleUser, Content: "what is this?",
		Images: []llm.Image{{MIMEType: "image/png", Data: []byte("png")}}}}}
}

// TestRouterSkipsUnfitTargets: a target whose adapter cannot take the
// request is skipped before sending; the next capable one serves; a
// capable target's own failure is the answer when it fails (the skip
// is named in the message); only when no target can take the request
// is it a 400 naming every backend.
func TestRouterSkipsUnfitTargets(t *testing.T) {
	textN2 := func() *llm.Request { q := testRequest(); q.Candidates = 2; return q }
	tests := []struct {
		name          string
		req           func() *llm.Request
		first, second func(*fp.Provider) llm.Provider // adapters of the two targets
		firstSteps    [][]fp.Step
		secondSteps   [][]fp.Step
		wantText      string
		wantKind      llm.Kind
		wantDetail    string
		wantMsg       []string
		wantCalls     [2]int
	}{
		{
			name:        "text-only primary skipped, capable fallback serves the image",
			req:         imageRequest,
			first:       func(p *fp.Provider) llm.Provider { return &picky{Provider: p} },
			second:      func(p *fp.Provider) llm.Provider { return p },
			secondSteps: [][]fp.Step{{fp.Text("a cat")}},
			wantText:    "a cat",
			wantCalls:   [2]int{0, 1},
		},
		{
			name:       "capable primary down, text-only fallback skipped: the primary's failure",
			req:        imageRequest,
			first:      func(p *fp.Provider) llm.Provider { return p },
			second:     func(p *fp.Provider) llm.Provider { return &picky{Provider: p} },
			firstSteps: [][]fp.Step{{fp.Err(unavailable("google"))}},
			wantKind:   llm.KindUnavailable,
			wantMsg:    []string{"google/gemini: connection refused", "ollama/llama: model \"llama\" does not accept images"},
			wantCalls:  [2]int{1, 0},
		},
		{
			name:       "no target can see: a 400 naming both",
			req:        imageRequest,
			first:      func(p *fp.Provider) llm.Provider { return &picky{Provider: p} },
			second:     func(p *fp.Provider) llm.Provider { return wrapped{&picky{Provider: p}} },
			wantKind:   llm.KindInvalid,
			wantDetail: llm.DetailUnsupported,
			wantMsg:    []string{"no backend of this route can take the request", "google/gemini: model \"gemini\" does not accept images", "ollama/llama: model \"llama\" does not accept images"},
		},
		{
			name:        "n=2: the target without candidates is skipped",
			req:         textN2,
			first:       func(p *fp.Provider) llm.Provider { return &picky{Provider: p, sees: true} },
			second:      func(p *fp.Provider) llm.Provider { return &picky{Provider: p, candidates: true} },
			secondSteps: [][]fp.Step{{fp.Text("two")}},
			wantText:    "two",
			wantCalls:   [2]int{0, 1},
		},
		{
			name:        "found behind a wrapper's Unwrap",
			req:         textN2,
			first:       func(p *fp.Provider) llm.Provider { return wrapped{&picky{Provider: p}} },
			second:      func(p *fp.Provider) llm.Provider { return p },
			secondSteps: [][]fp.Step{{fp.Text("two")}},
			wantText:    "two",
			wantCalls:   [2]int{0, 1},
		},
		{
			name:       "a request it can take goes to the picky primary",
			req:        testRequest,
			first:      func(p *fp.Provider) llm.Provider { return &picky{Provider: p} },
			second:     func(p *fp.Provider) llm.Provider { return p },
			firstSteps: [][]fp.Step{{fp.Text("hi")}},
			wantText:   "hi",
			wantCalls:  [2]int{1, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p1, p2 := fp.New("google", tc.firstSteps...), fp.New("ollama", tc.secondSteps...)
			pol := testPolicy()
			pol.Retries = 0
			r, _ := newTestRouter(t, pol, nil, gemini(tc.first(p1)), ollama(tc.second(p2)))
			var text string
			var err error
			for c, e := range r.Stream(context.Background(), tc.req()) {
				if e != nil {
					err = e
					break
				}
				text += c.Delta
			}
			if got := [2]int{p1.NumCalls(), p2.NumCalls()}; got != tc.wantCalls {
				t.Errorf("calls %v, want %v", got, tc.wantCalls)
			}
			if tc.wantText != "" {
				if err != nil || text != tc.wantText {
					t.Fatalf("got %q, %v; want %q", text, err, tc.wantText)
				}
				return
			}
			if llm.KindOf(err) != tc.wantKind || llm.DetailOf(err) != tc.wantDetail {
				t.Fatalf("error %v (kind %v, detail %q), want kind %v detail %q", err, llm.KindOf(err), llm.DetailOf(err), tc.wantKind, tc.wantDetail)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
}

// TestRouterUnfitAsksTargetModel: Accepts is asked about the model the
// target would send, not the request's alias.
func TestRouterUnfitAsksTargetModel(t *testing.T) {
	pk := &picky{Provider: fp.New("ollama"), sees: true}
	pk.SetDefault(fp.Text("ok"))
	r, _ := newTestRouter(t, testPolicy(), nil, ollama(pk))
	if res := drain(context.Background(), r); res.err != nil {
		t.Fatal(res.err)
	}
	if len(pk.asked) != 1 || pk.asked[0] != "llama" {
		t.Fatalf("asked about %v, want [llama]", pk.asked)
	}
}

// TestRouterForcedTrySkipsUnfit: with every breaker open, the try forced
// anyway goes to a target that can take the request, not the unfit
// primary.
func TestRouterForcedTrySkipsUnfit(t *testing.T) {
	b := NewBreakers(BreakerConfig{Failures: 1})
	p1, p2 := fp.New("google"), fp.New("ollama")
	p2.SetDefault(fp.Text("seen"))
	r, _ := newTestRouter(t, testPolicy(), b, gemini(&picky{Provider: p1}), ollama(p2))
	for _, name := range []string{"google/gemini", "ollama/llama"} {
		b.get(name).failure("down")
		if !b.get(name).isOpen() {
			t.Fatalf("%s: breaker not open", name)
		}
	}
	var text string
	for c, err := range r.Stream(context.Background(), imageRequest()) {
		if err != nil {
			t.Fatal(err)
		}
		text += c.Delta
	}
	if text != "seen" || p1.NumCalls() != 0 {
		t.Fatalf("got %q with %d calls to the unfit primary, want the fallback's answer", text, p1.NumCalls())
	}
}
