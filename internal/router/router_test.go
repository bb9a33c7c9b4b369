package router

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	fp "github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

// testPolicy is DefaultPolicy: tests change what they exercise.
func testPolicy() Policy { return DefaultPolicy() }

// newTestRouter builds a router over targets with a fake clock. Its random
// source returns the top of the range, so a jittered wait equals its
// ceiling and waits are exact.
func newTestRouter(t *testing.T, p Policy, b *Breakers, targets ...Target) (*Router, *fakeClock) {
	t.Helper()
	c := newFakeClock()
	if b == nil {
		b = NewBreakers(BreakerConfig{})
	}
	b.now = c.Now
	r := New(targets, p, b)
	r.clock = c
	r.randN = func(n int64) int64 { return n - 1 }
	return r, c
}

func gemini(p llm.Provider) Target {
	return Target{Name: "google/gemini", Provider: "google", Model: "gemini", P: p, Retries: -1}
}

func ollama(p llm.Provider) Target {
	return Target{Name: "ollama/llama", Provider: "ollama", Model: "llama", P: p, Retries: -1}
}

func testRequest() *llm.Request {
	return &llm.Request{Model: "alias", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
}

type result struct {
	chunks []llm.Chunk
	text   string
	err    error
}

// drain runs one request to its end. A real-time guard cancels it if a
// bug makes it hang, so a broken router fails the test instead of
// blocking the run.
func drain(ctx context.Context, r *Router) result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	guard := time.AfterFunc(30*time.Second, cancel)
	defer guard.Stop()
	var res result
	for c, err := range r.Stream(ctx, testRequest()) {
		if err != nil {
			res.err = err
			break
		}
		res.chunks = append(res.chunks, c)
		res.text += c.Delta
	}
	return res
}

func rateLimited(hint time.Duration) error {
	return &llm.Error{Kind: llm.KindRateLimited, Provider: "google", StatusCode: 429, RetryAfter: hint, Message: "rate limited (429)"}
}

func unavailable(provider string) error {
	return &llm.Error{Kind: llm.KindUnavailable, Provider: provider, Message: "connection refused"}
}

func kindErr(k llm.Kind) error {
	return &llm.Error{Kind: k, Provider: "google", Message: k.String()}
}

// advance is a script step that moves the fake clock forward.
func advance(c **fakeClock, d time.Duration) fp.Step {
	return fp.Do(func(context.Context) { (*c).Advance(d) })
}

func TestRouterStream(t *testing.T) {
	var clk *fakeClock // set per case, before the steps run
	ok := []fp.Step{fp.Text("Hel"), fp.Text("lo"), fp.Chunk(llm.Chunk{FinishReason: llm.FinishStop, Usage: &llm.Usage{InputTokens: 1, OutputTokens: 2}})}
	fallbackOK := []fp.Step{fp.Text("from ollama")}
	tests := []struct {
		name       string
		policy     func(*Policy)
		primary    [][]fp.Step
		primaryDef []fp.Step // played once primary's scripts are used up
		secondary  [][]fp.Step
		secDef     []fp.Step
		wantText   string
		wantKind   llm.Kind // checked when wantErr
		wantErr    bool
		wantMsg    []string // substrings of the error
		wantCalls  [2]int
		wantSleeps []time.Duration
	}{
		{
			name:      "success first try",
			primary:   [][]fp.Step{ok},
			wantText:  "Hello",
			wantCalls: [2]int{1, 0},
		},
		{
			name:       "retry after rate limit waits the server hint",
			primary:    [][]fp.Step{{fp.Err(rateLimited(2 * time.Second))}, ok},
			wantText:   "Hello",
			wantCalls:  [2]int{2, 0},
			wantSleeps: []time.Duration{2 * time.Second},
		},
		{
			name:       "hint shorter than backoff waits the backoff",
			primary:    [][]fp.Step{{fp.Err(rateLimited(100 * time.Millisecond))}, ok},
			wantText:   "Hello",
			wantCalls:  [2]int{2, 0},
			wantSleeps: []time.Duration{500 * time.Millisecond},
		},
		{
			name:       "retries back off exponentially without a hint",
			primary:    [][]fp.Step{{fp.Err(unavailable("google"))}, {fp.Err(kindErr(llm.KindUpstream))}, {fp.Err(kindErr(llm.KindTimeout))}, ok},
			wantText:   "Hello",
			wantCalls:  [2]int{4, 0},
			wantSleeps: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second},
		},
		{
			name:       "retry budget exhausted falls back",
			policy:     func(p *Policy) { p.Retries = 2 },
			primaryDef: []fp.Step{fp.Err(unavailable("google"))},
			secondary:  [][]fp.Step{fallbackOK},
			wantText:   "from ollama",
			wantCalls:  [2]int{3, 1},
			wantSleeps: []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:      "hint past the deadline falls back at once without sleeping",
			primary:   [][]fp.Step{{fp.Err(rateLimited(90 * time.Second))}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "from ollama",
			wantCalls: [2]int{1, 1},
		},
		{
			name:      "hint longer than MaxDelay falls back at once when a fallback exists",
			primary:   [][]fp.Step{{fp.Err(rateLimited(40 * time.Second))}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "from ollama",
			wantCalls: [2]int{1, 1},
		},
		{
			name:       "backoff past the remaining deadline falls back",
			policy:     func(p *Policy) { p.TTFT = 0 },
			primary:    [][]fp.Step{{fp.Err(unavailable("google"))}, {advance(&clk, 59*time.Second), fp.Err(unavailable("google"))}},
			secondary:  [][]fp.Step{fallbackOK},
			wantText:   "from ollama",
			wantCalls:  [2]int{2, 1},
			wantSleeps: []time.Duration{500 * time.Millisecond},
		},
		{
			name:      "invalid request returned at once",
			primary:   [][]fp.Step{{fp.Err(kindErr(llm.KindInvalid))}},
			secondary: [][]fp.Step{fallbackOK},
			wantErr:   true,
			wantKind:  llm.KindInvalid,
			wantCalls: [2]int{1, 0},
		},
		{
			name:      "blocked returned at once",
			primary:   [][]fp.Step{{fp.Err(kindErr(llm.KindBlocked))}},
			secondary: [][]fp.Step{fallbackOK},
			wantErr:   true,
			wantKind:  llm.KindBlocked,
			wantCalls: [2]int{1, 0},
		},
		{
			name:      "model not found falls back without retry",
			primary:   [][]fp.Step{{fp.Err(kindErr(llm.KindNotFound))}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "from ollama",
			wantCalls: [2]int{1, 1},
		},
		{
			name:      "401 of the primary falls back",
			primary:   [][]fp.Step{{fp.Err(kindErr(llm.KindUnauthorized))}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "from ollama",
			wantCalls: [2]int{1, 1},
		},
		{
			name:      "403 of the primary falls back",
			primary:   [][]fp.Step{{fp.Err(kindErr(llm.KindForbidden))}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "from ollama",
			wantCalls: [2]int{1, 1},
		},
		{
			name:      "401 returned when auth fallback is off",
			policy:    func(p *Policy) { p.FallbackOnAuth = false },
			primary:   [][]fp.Step{{fp.Err(kindErr(llm.KindUnauthorized))}},
			secondary: [][]fp.Step{fallbackOK},
			wantErr:   true,
			wantKind:  llm.KindUnauthorized,
			wantCalls: [2]int{1, 0},
		},
		{
			name:      "stream without content falls back without retry",
			primary:   [][]fp.Step{{fp.Chunk(llm.Chunk{FinishReason: llm.FinishLength, Usage: &llm.Usage{ThinkingTokens: 64}})}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "from ollama",
			wantCalls: [2]int{1, 1},
		},
		{
			name:      "adapter's empty answer falls back without retry",
			primary:   [][]fp.Step{{fp.Err(kindErr(llm.KindEmpty))}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "from ollama",
			wantCalls: [2]int{1, 1},
		},
		{
			name:       "both down is unavailable naming both",
			policy:     func(p *Policy) { p.Retries = 1 },
			primaryDef: []fp.Step{fp.Err(&llm.Error{Kind: llm.KindUnavailable, Provider: "google", StatusCode: 503, Message: "model overloaded"})},
			secDef:     []fp.Step{fp.Err(unavailable("ollama"))},
			wantErr:    true,
			wantKind:   llm.KindUnavailable,
			wantMsg:    []string{"all providers failed: google/gemini: model overloaded (503); ollama/llama: connection refused"},
			wantCalls:  [2]int{2, 2},
			wantSleeps: []time.Duration{500 * time.Millisecond, 500 * time.Millisecond},
		},
		{
			name:      "everything rate limited is rate limited",
			primary:   [][]fp.Step{{fp.Err(rateLimited(90 * time.Second))}},
			secondary: [][]fp.Step{{fp.Err(rateLimited(70 * time.Second))}},
			wantErr:   true,
			wantKind:  llm.KindRateLimited,
			wantMsg:   []string{"google/gemini: rate limited (429)", "ollama/llama: rate limited (429)"},
			wantCalls: [2]int{1, 1},
		},
		{
			name:      "everything empty is empty",
			primary:   [][]fp.Step{{fp.Chunk(llm.Chunk{FinishReason: llm.FinishLength})}},
			secondary: [][]fp.Step{{fp.Err(kindErr(llm.KindEmpty))}},
			wantErr:   true,
			wantKind:  llm.KindEmpty,
			wantMsg:   []string{`google/gemini: answer has no content (finish reason "length")`},
			wantCalls: [2]int{1, 1},
		},
		{
			name:       "stall before the first token is retried invisibly",
			primary:    [][]fp.Step{{fp.Chunk(llm.Chunk{Model: "gemini-001"}), advance(&clk, 31*time.Second), fp.Hang()}, ok},
			wantText:   "Hello",
			wantCalls:  [2]int{2, 0},
			wantSleeps: []time.Duration{500 * time.Millisecond},
		},
		{
			name:   "non-content chunks do not satisfy the first-token timeout",
			policy: func(p *Policy) { p.Retries = 0 },
			primary: [][]fp.Step{{
				fp.Chunk(llm.Chunk{Model: "gemini-001"}), advance(&clk, 20*time.Second),
				fp.Chunk(llm.Chunk{Model: "gemini-001"}), advance(&clk, 11*time.Second),
				fp.Hang(),
			}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "from ollama",
			wantCalls: [2]int{1, 1},
		},
		{
			name:      "stall mid-stream ends with a timeout after the partial answer",
			primary:   [][]fp.Step{{fp.Text("a"), fp.Text("b"), advance(&clk, 31*time.Second), fp.Hang()}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "ab",
			wantErr:   true,
			wantKind:  llm.KindTimeout,
			wantMsg:   []string{"google: stream stalled for 30s"},
			wantCalls: [2]int{1, 0},
		},
		{
			name:      "chunks within the idle limit do not stall",
			primary:   [][]fp.Step{{fp.Text("a"), advance(&clk, 25*time.Second), fp.Text("b"), advance(&clk, 25*time.Second), fp.Text("c")}},
			wantText:  "abc",
			wantCalls: [2]int{1, 0},
		},
		{
			name:      "error after content is passed through without fallback",
			primary:   [][]fp.Step{{fp.Text("a"), fp.Err(unavailable("google"))}},
			secondary: [][]fp.Step{fallbackOK},
			wantText:  "a",
			wantErr:   true,
			wantKind:  llm.KindUnavailable,
			wantMsg:   []string{"google: connection refused"},
			wantCalls: [2]int{1, 0},
		},
		{
			name:       "deadline passing mid-attempt is a timeout naming what was tried",
			policy:     func(p *Policy) { p.TTFT = 0 },
			primary:    [][]fp.Step{{fp.Err(unavailable("google"))}, {advance(&clk, 61*time.Second), fp.Hang()}},
			secondary:  [][]fp.Step{fallbackOK},
			wantErr:    true,
			wantKind:   llm.KindTimeout,
			wantMsg:    []string{"request deadline passed after 1m1.5s; tried google/gemini: interrupted by the request deadline"},
			wantCalls:  [2]int{2, 0},
			wantSleeps: []time.Duration{500 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy()
			if tt.policy != nil {
				tt.policy(&p)
			}
			prim := fp.New("google", tt.primary...)
			if tt.primaryDef != nil {
				prim.SetDefault(tt.primaryDef...)
			}
			sec := fp.New("ollama", tt.secondary...)
			if tt.secDef != nil {
				sec.SetDefault(tt.secDef...)
			}
			r, c := newTestRouter(t, p, nil, gemini(prim), ollama(sec))
			clk = c

			res := drain(context.Background(), r)

			if res.text != tt.wantText {
				t.Errorf("text = %q, want %q", res.text, tt.wantText)
			}
			switch {
			case tt.wantErr && res.err == nil:
				t.Errorf("no error, want kind %v", tt.wantKind)
			case !tt.wantErr && res.err != nil:
				t.Errorf("unexpected error: %v", res.err)
			case tt.wantErr && llm.KindOf(res.err) != tt.wantKind:
				t.Errorf("error %q has kind %v, want %v", res.err, llm.KindOf(res.err), tt.wantKind)
			}
			for _, m := range tt.wantMsg {
				if res.err == nil || !strings.Contains(res.err.Error(), m) {
					t.Errorf("error %v does not contain %q", res.err, m)
				}
			}
			if got := [2]int{prim.NumCalls(), sec.NumCalls()}; got != tt.wantCalls {
				t.Errorf("calls (primary, secondary) = %v, want %v", got, tt.wantCalls)
			}
			if got := c.Sleeps(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", got, tt.wantSleeps)
			}
			for _, ch := range res.chunks {
				if ch.Provider == "" || ch.Model == "" {
					t.Errorf("chunk %+v lacks provider or model", ch)
				}
			}
		})
	}
}

func TestRouterAllRateLimitedKeepsSmallestHint(t *testing.T) {
	prim := fp.New("google", []fp.Step{fp.Err(rateLimited(90 * time.Second))})
	sec := fp.New("ollama", []fp.Step{fp.Err(rateLimited(70 * time.Second))})
	p := testPolicy()
	p.Deadline = 5 * time.Minute // hints are clamped to the deadline
	p.Retries = 0
	r, _ := newTestRouter(t, p, nil, gemini(prim), ollama(sec))
	res := drain(context.Background(), r)
	if got := llm.RetryAfter(res.err); got != 70*time.Second {
		t.Errorf("retry after = %v, want 70s (err %v)", got, res.err)
	}
}

// The error the client sees carries adapters' public messages only,
// never the causes, which may hold raw upstream bodies or keys.
func TestRouterFinalErrorHidesCauses(t *testing.T) {
	secret := errors.New(`POST https://x/v1?key=AIzaSECRET: {"error": "quota"}`)
	prim := fp.New("google")
	prim.SetDefault(fp.Err(&llm.Error{Kind: llm.KindUnavailable, Provider: "google", StatusCode: 500, Message: "internal error", Err: secret}))
	sec := fp.New("ollama")
	sec.SetDefault(fp.Err(&llm.Error{Kind: llm.KindUnauthorized, Provider: "ollama", Err: secret}))
	r, _ := newTestRouter(t, testPolicy(), nil, gemini(prim), ollama(sec))
	res := drain(context.Background(), r)
	if res.err == nil || strings.Contains(res.err.Error(), "SECRET") || strings.Contains(llm.PublicMessage(res.err), "SECRET") {
		t.Fatalf("final error %q leaks the cause", res.err)
	}
	if !strings.Contains(res.err.Error(), "ollama/llama: unauthorized") {
		t.Errorf("final error %q does not name ollama's failure", res.err)
	}
	for _, h := range r.Breakers().Health() {
		if strings.Contains(h.LastError, "SECRET") {
			t.Errorf("health %+v leaks the cause", h)
		}
	}
}

// Waits without a server hint are drawn in [0, min(MaxDelay, Base·2^n)].
func TestRouterJitterWithinBounds(t *testing.T) {
	p := testPolicy()
	p.Retries = 6
	p.MaxDelay = 2 * time.Second
	prim := fp.New("google")
	prim.SetDefault(fp.Err(unavailable("google")))
	r, c := newTestRouter(t, p, NewBreakers(BreakerConfig{Failures: 100}), gemini(prim))
	rng := rand.New(rand.NewPCG(1, 2))
	r.randN = rng.Int64N
	drain(context.Background(), r)
	sleeps := c.Sleeps()
	if len(sleeps) != 6 {
		t.Fatalf("sleeps = %v, want 6", sleeps)
	}
	distinct := map[time.Duration]bool{}
	for n, d := range sleeps {
		if ceil := backoffCeiling(p.BaseDelay, p.MaxDelay, n); d < 0 || d > ceil {
			t.Errorf("sleep %d = %v, want within [0, %v]", n, d, ceil)
		}
		distinct[d] = true
	}
	if len(distinct) < 2 {
		t.Errorf("sleeps %v are not jittered", sleeps)
	}
}

// Non-content chunks before the first content are held, then sent right
// before it; those of a failed attempt are dropped.
func TestRouterHoldsChunksUntilContent(t *testing.T) {
	var received []llm.Chunk
	heldBack := func(context.Context) {
		if len(received) != 0 {
			t.Errorf("caller got %+v before any content", received)
		}
	}
	prim := fp.New("google",
		[]fp.Step{fp.Chunk(llm.Chunk{Model: "dropped"}), fp.Err(unavailable("google"))},
		[]fp.Step{fp.Chunk(llm.Chunk{Model: "gemini-001"}), fp.Do(heldBack), fp.Text("hi"), fp.Chunk(llm.Chunk{FinishReason: "stop"})},
	)
	r, _ := newTestRouter(t, testPolicy(), nil, gemini(prim))
	for c, err := range r.Stream(context.Background(), testRequest()) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		received = append(received, c)
	}
	want := []llm.Chunk{
		{Model: "gemini-001", Provider: "google"},
		{Delta: "hi", Model: "gemini", Provider: "google"},
		{FinishReason: "stop", Model: "gemini", Provider: "google"},
	}
	if !slices.EqualFunc(received, want, func(a, b llm.Chunk) bool {
		return a.Delta == b.Delta && a.Model == b.Model && a.Provider == b.Provider && a.FinishReason == b.FinishReason
	}) {
		t.Errorf("chunks = %+v, want %+v", received, want)
	}
}

func TestRouterSendsTargetModel(t *testing.T) {
	prim := fp.New("google", []fp.Step{fp.Text("x")})
	noModel := Target{Name: "plain", Provider: "plain", P: fp.New("plain", []fp.Step{fp.Text("y")})}
	r, _ := newTestRouter(t, testPolicy(), nil, gemini(prim))
	req := testRequest()
	if _, err := llm.Collect(r.Stream(context.Background(), req)); err != nil {
		t.Fatal(err)
	}
	if got := prim.Calls()[0].Request.Model; got != "gemini" {
		t.Errorf("model sent = %q, want gemini", got)
	}
	if req.Model != "alias" {
		t.Errorf("caller's request changed: model %q", req.Model)
	}
	r2, _ := newTestRouter(t, testPolicy(), nil, noModel)
	resp, err := llm.Collect(r2.Stream(context.Background(), req))
	if err != nil || resp.Model != "alias" || resp.Provider != "plain" {
		t.Errorf("response %+v, %v; want the request's model and the target's provider", resp, err)
	}
}

func TestRouterClientCancelStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prim := fp.New("google", []fp.Step{fp.Do(func(context.Context) { cancel() }), fp.Hang()})
	sec := fp.New("ollama", []fp.Step{fp.Text("never")})
	r, c := newTestRouter(t, testPolicy(), nil, gemini(prim), ollama(sec))
	res := drain(ctx, r)
	if llm.KindOf(res.err) != llm.KindCanceled {
		t.Errorf("err = %v, want canceled", res.err)
	}
	if calls := prim.Calls(); len(calls) != 1 || !errors.Is(calls[0].CtxErr, context.Canceled) {
		t.Errorf("primary calls = %+v, want one that saw its context canceled", calls)
	}
	if sec.NumCalls() != 0 || len(c.Sleeps()) != 0 {
		t.Errorf("after cancel: %d fallback calls, sleeps %v; want none", sec.NumCalls(), c.Sleeps())
	}
	if h := r.Breakers().Health(); h[0].ConsecutiveFailures != 0 {
		t.Errorf("cancel counted against the target: %+v", h[0])
	}
}

func TestRouterBreakOutCancelsAttempt(t *testing.T) {
	prim := fp.New("google", []fp.Step{fp.Text("a"), fp.Text("b"), fp.Text("c")})
	r, _ := newTestRouter(t, testPolicy(), nil, gemini(prim))
	tr := &llm.Trace{}
	n := 0
	for range r.Stream(llm.WithTrace(context.Background(), tr), testRequest()) {
		n++
		break
	}
	calls := prim.Calls()
	if n != 1 || len(calls) != 1 || !calls[0].Stopped || !errors.Is(calls[0].CtxErr, context.Canceled) {
		t.Fatalf("got %d chunks, calls %+v; want 1 chunk and a stopped, canceled call", n, calls)
	}
	if a := tr.Attempts(); len(a) != 1 || llm.KindOf(a[0].Err) != llm.KindCanceled {
		t.Errorf("attempts = %+v, want one canceled", a)
	}
}

func TestRouterTrace(t *testing.T) {
	var clk *fakeClock
	prim := fp.New("google",
		[]fp.Step{advance(&clk, time.Second), fp.Err(rateLimited(2 * time.Second))},
		[]fp.Step{fp.Err(kindErr(llm.KindUnauthorized))},
	)
	sec := fp.New("ollama", []fp.Step{advance(&clk, 3*time.Second), fp.Text("ok"), advance(&clk, time.Second)})
	r, c := newTestRouter(t, testPolicy(), nil, gemini(prim), ollama(sec))
	clk = c
	t0 := c.Now()
	tr := &llm.Trace{}
	if res := drain(llm.WithTrace(context.Background(), tr), r); res.err != nil || res.text != "ok" {
		t.Fatalf("result %+v", res)
	}
	type row struct {
		provider, model string
		start           time.Duration
		dur             time.Duration
		kind            string
	}
	var got []row
	for _, a := range tr.Attempts() {
		k := "ok"
		if a.Err != nil {
			k = llm.KindOf(a.Err).String()
		}
		got = append(got, row{a.Provider, a.Model, a.Start.Sub(t0), a.Duration, k})
	}
	want := []row{
		{"google", "gemini", 0, time.Second, "rate_limited"},
		{"google", "gemini", 3 * time.Second, 0, "unauthorized"},
		{"ollama", "llama", 3 * time.Second, 4 * time.Second, "ok"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("attempts:\n got %+v\nwant %+v", got, want)
	}
	if ft := tr.FirstToken().Sub(t0); ft != 6*time.Second {
		t.Errorf("first token at %v, want 6s", ft)
	}
}

func TestRouterNoTargets(t *testing.T) {
	r, _ := newTestRouter(t, testPolicy(), nil)
	if res := drain(context.Background(), r); llm.KindOf(res.err) != llm.KindInternal {
		t.Errorf("err = %v, want internal", res.err)
	}
}

func TestPolicyDefaults(t *testing.T) {
	got := Policy{Retries: -3, TTFT: -1}.withDefaults()
	want := Policy{BaseDelay: 500 * time.Millisecond, MaxDelay: 10 * time.Second, Deadline: time.Minute}
	if got != want {
		t.Errorf("withDefaults = %+v, want %+v", got, want)
	}
	if d := DefaultPolicy(); d.Retries != 3 || !d.FallbackOnAuth || d.TTFT != 30*time.Second || d.Idle != 30*time.Second {
		t.Errorf("DefaultPolicy = %+v", d)
	}
}

// The real clock end to end, with tiny durations: a stalled first attempt
// is abandoned by the watchdog and retried after a real sleep, and the
// adapter sees the request deadline on its context. Only outcomes are
// checked, never durations.
func TestRouterRealClock(t *testing.T) {
	p := DefaultPolicy()
	p.BaseDelay, p.MaxDelay = time.Millisecond, 2*time.Millisecond
	p.TTFT = 20 * time.Millisecond
	var sawDeadline bool
	prim := fp.New("google",
		[]fp.Step{fp.Hang()},
		[]fp.Step{fp.Do(func(ctx context.Context) { _, sawDeadline = ctx.Deadline() }), fp.Text("ok")},
	)
	r := New([]Target{gemini(prim)}, p, nil)
	tr := &llm.Trace{}
	res := drain(llm.WithTrace(context.Background(), tr), r)
	if res.err != nil || res.text != "ok" {
		t.Fatalf("result %+v", res)
	}
	a := tr.Attempts()
	if len(a) != 2 || !strings.Contains(a[0].Err.Error(), "no first token within 20ms") {
		t.Errorf("attempts = %+v, want a first-token timeout then success", a)
	}
	if !sawDeadline {
		t.Error("adapter's context carries no deadline")
	}
}

// A deadline on the caller's context that comes before the policy's wins.
func TestRouterCallerDeadline(t *testing.T) {
	p := DefaultPolicy()
	p.TTFT = 0
	prim := fp.New("google", []fp.Step{fp.Hang()})
	sec := fp.New("ollama", []fp.Step{fp.Text("never")})
	r := New([]Target{gemini(prim), ollama(sec)}, p, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	res := drain(ctx, r)
	if llm.KindOf(res.err) != llm.KindTimeout || !strings.Contains(res.err.Error(), "request deadline passed") {
		t.Errorf("err = %v, want the request deadline", res.err)
	}
	if sec.NumCalls() != 0 {
		t.Errorf("fallback called %d times after the deadline", sec.NumCalls())
	}
}

// A caller who stops on a held chunk (flushed with the first content)
// cancels the attempt there.
func TestRouterBreakOnHeldChunk(t *testing.T) {
	prim := fp.New("google", []fp.Step{fp.Chunk(llm.Chunk{Model: "gemini-001"}), fp.Text("a"), fp.Text("b")})
	r, _ := newTestRouter(t, testPolicy(), nil, gemini(prim))
	var got []llm.Chunk
	for c := range r.Stream(context.Background(), testRequest()) {
		got = append(got, c)
		break
	}
	calls := prim.Calls()
	if len(got) != 1 || got[0].Model != "gemini-001" || !calls[0].Stopped || calls[0].CtxErr == nil {
		t.Errorf("got %+v, calls %+v; want the held chunk only and a canceled call", got, calls)
	}
}

// An adapter that ends quietly when its context is canceled mid-answer
// must not turn a stall into a clean end.
func TestRouterQuietEndAfterStallIsAnError(t *testing.T) {
	var clk *fakeClock
	quiet := fp.Do(func(ctx context.Context) { <-ctx.Done() }) // then the script just ends
	prim := fp.New("google", []fp.Step{fp.Text("a"), advance(&clk, 31*time.Second), quiet})
	r, c := newTestRouter(t, testPolicy(), nil, gemini(prim))
	clk = c
	res := drain(context.Background(), r)
	if res.text != "a" || llm.KindOf(res.err) != llm.KindTimeout {
		t.Errorf("result %+v, want the partial answer and a timeout", res)
	}
}

// With no target left, a long server hint is honoured (within the
// deadline) instead of failing at once.
func TestRouterLastTargetHonoursLongHint(t *testing.T) {
	p := fp.New("google", []fp.Step{fp.Err(rateLimited(40 * time.Second))},
		[]fp.Step{fp.Text("late"), fp.Chunk(llm.Chunk{FinishReason: llm.FinishStop})})
	r, clk := newTestRouter(t, DefaultPolicy(), nil, gemini(p))
	res := drain(context.Background(), r)
	if res.err != nil || res.text != "late" {
		t.Fatalf("result = %+v", res)
	}
	if got := clk.Sleeps(); len(got) != 1 || got[0] != 40*time.Second {
		t.Errorf("sleeps = %v, want [40s]", got)
	}
}

// The final error of a failed route takes its kind from the most
// meaningful failure: the primary's non-retryable one, else the last
// tried. Issue 18 item 11: every failed route used to be Unavailable.
func TestRouterAllFailedKind(t *testing.T) {
	garbage := &llm.Error{Kind: llm.KindUpstream, Provider: "google", Message: "malformed stream chunk"}
	notFound := &llm.Error{Kind: llm.KindNotFound, Provider: "google", StatusCode: 404, Message: "model not found"}
	refused := &llm.Error{Kind: llm.KindUnauthorized, Provider: "google", StatusCode: 401, Message: "key refused"}
	tests := []struct {
		name      string
		prim, sec error
		wantKind  llm.Kind
	}{
		{"primary unknown model", notFound, unavailable("ollama"), llm.KindNotFound},
		{"primary credentials refused", refused, unavailable("ollama"), llm.KindUnauthorized},
		{"last is garbage", unavailable("google"), &llm.Error{Kind: llm.KindUpstream, Provider: "ollama", Message: "bad json"}, llm.KindUpstream},
		{"both garbage", garbage, &llm.Error{Kind: llm.KindUpstream, Provider: "ollama", Message: "bad json"}, llm.KindUpstream},
		{"both down", unavailable("google"), unavailable("ollama"), llm.KindUnavailable},
		{"all rate limited", rateLimited(time.Second), rateLimited(2 * time.Second), llm.KindRateLimited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prim, sec := fp.New("google"), fp.New("ollama")
			prim.SetDefault(fp.Err(tc.prim))
			sec.SetDefault(fp.Err(tc.sec))
			r, _ := newTestRouter(t, testPolicy(), nil, gemini(prim), ollama(sec))
			res := drain(context.Background(), r)
			if got := llm.KindOf(res.err); got != tc.wantKind {
				t.Fatalf("kind = %v, want %v (err %v)", got, tc.wantKind, res.err)
			}
			if !strings.HasPrefix(res.err.Error(), "all providers failed: ") {
				t.Errorf("err %q does not list the failures", res.err)
			}
		})
	}
}

// A server hint beyond the request deadline is clamped to it in the
// final error, and a negative one to 0 (issue 18 item 12).
func TestRouterFinalHintClampedToDeadline(t *testing.T) {
	for _, hint := range []time.Duration{-5 * time.Second, 24 * time.Hour} {
		prim := fp.New("google")
		prim.SetDefault(fp.Err(rateLimited(hint)))
		p := testPolicy()
		p.Deadline = 20 * time.Second
		r, _ := newTestRouter(t, p, nil, gemini(prim))
		res := drain(context.Background(), r)
		if llm.KindOf(res.err) != llm.KindRateLimited {
			t.Fatalf("hint %v: err %v", hint, res.err)
		}
		if got := llm.RetryAfter(res.err); got < 0 || got > p.Deadline {
			t.Errorf("hint %v: final retry after %v, want within [0, %v]", hint, got, p.Deadline)
		}
	}
}
