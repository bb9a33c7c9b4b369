package router

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	fp "github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	geminiapi "github.com/llm-connector/llm-connector/internal/provider/gemini"
	"github.com/llm-connector/llm-connector/internal/ratelimit"
)

// groupTarget is a target over deployments g#1..g#n of model "gemini".
func groupTarget(s Strategy, ps ...llm.Provider) Target {
	g := &Group{Strategy: s}
	for i, p := range ps {
		g.Deployments = append(g.Deployments, Deployment{Name: fmt.Sprintf("g#%d", i+1), P: p, Weight: 1})
	}
	return Target{Name: "pool/gemini", Provider: "google", Model: "gemini", P: ps[0], Retries: -1, Group: g}
}

// okFakes returns n fakes that always answer.
func okFakes(n int) []*fp.Provider {
	out := make([]*fp.Provider, n)
	for i := range out {
		out[i] = fp.New("google")
		out[i].SetDefault(fp.Text(fmt.Sprintf("from %d", i+1)))
	}
	return out
}

func providers(fs []*fp.Provider) []llm.Provider {
	out := make([]llm.Provider, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

// TestGroupWeightedDistribution: over N requests each deployment's share
// is its weight's share within 3 percentage points (binomial σ ≈ 0.9 pp
// at N = 3000: the bound is over 3σ).
func TestGroupWeightedDistribution(t *testing.T) {
	fs := okFakes(3)
	tg := groupTarget(Weighted, providers(fs)...)
	for i, w := range []int{1, 2, 3} {
		tg.Group.Deployments[i].Weight = w
	}
	r, _ := newTestRouter(t, testPolicy(), nil, tg)
	r.randN = rand.New(rand.NewPCG(1, 2)).Int64N
	const n = 3000
	for range n {
		if res := drain(context.Background(), r); res.err != nil {
			t.Fatal(res.err)
		}
	}
	for i, w := range []float64{1, 2, 3} {
		got, want := float64(fs[i].NumCalls())/n, w/6
		if math.Abs(got-want) > 0.03 {
			t.Errorf("deployment %d: share %.3f, want %.3f ± 0.03", i+1, got, want)
		}
	}
}

// TestGroupLeastBusy: picks without releases spread the in-flight load
// exactly: after every pick no deployment holds more than one request
// above another.
func TestGroupLeastBusy(t *testing.T) {
	st := NewMemoryState()
	deps := []*Deployment{{Name: "a", Weight: 5}, {Name: "b", Weight: 1}, {Name: "c", Weight: 1}}
	rng := rand.New(rand.NewPCG(3, 4))
	leases := map[*Deployment][]string{}
	for n := range 300 {
		p := st.Pick(context.Background(), time.Time{}, LeastBusy, 0, deps, rng.Float64())
		leases[deps[p.Index]] = append(leases[deps[p.Index]], p.Lease)
		lo, hi := math.MaxInt, 0
		for _, d := range deps {
			lo, hi = min(lo, st.InFlight(d.Name)), max(hi, st.InFlight(d.Name))
		}
		if hi-lo > 1 {
			t.Fatalf("after %d picks in flight spread %d..%d", n+1, lo, hi)
		}
	}
	// Releasing b's requests makes b the only least busy one.
	for _, l := range leases[deps[1]] {
		st.Done(context.Background(), deps[1], l, 0)
	}
	for range 10 {
		p := st.Pick(context.Background(), time.Time{}, LeastBusy, 0, deps, rng.Float64())
		if deps[p.Index].Name != "b" {
			t.Fatalf("picked %s, want the idle b", deps[p.Index].Name)
		}
		st.Done(context.Background(), deps[p.Index], p.Lease, 0)
	}
}

// TestGroupLowestLatency: with measured times to first token of 100, 200
// and 300 ms the fastest gets 1-ε+ε/3 of the picks (ε = 0.1: 93.3 %)
// within 2 pp over N = 3000 and the others ε/3 each; a deployment back
// from a cooldown has no sample and is tried at once.
func TestGroupLowestLatency(t *testing.T) {
	st := NewMemoryState()
	deps := []*Deployment{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	ctx := context.Background()
	for i, d := range deps {
		p := st.Pick(ctx, time.Time{}, Weighted, 0, deps[i:i+1], 0)
		st.Done(ctx, d, p.Lease, time.Duration(100*(i+1))*time.Millisecond)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	count := map[string]int{}
	const n = 3000
	for range n {
		p := st.Pick(ctx, time.Time{}, LowestLatency, 0.1, deps, rng.Float64())
		count[deps[p.Index].Name]++
		st.Done(ctx, deps[p.Index], p.Lease, 0)
	}
	want := map[string]float64{"a": 0.9 + 0.1/3, "b": 0.1 / 3, "c": 0.1 / 3}
	for name, w := range want {
		if got := float64(count[name]) / n; math.Abs(got-w) > 0.02 {
			t.Errorf("%s: share %.3f, want %.3f ± 0.02", name, got, w)
		}
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st.Cool(ctx, now, deps[2], time.Minute, "rate limited")
	if p := st.Pick(ctx, now, LowestLatency, 0.1, deps, 0.5); deps[p.Index].Name != "a" {
		t.Fatalf("while c cools: picked %s, want a", deps[p.Index].Name)
	}
	if p := st.Pick(ctx, now.Add(time.Minute), LowestLatency, 0.1, deps, 0.5); deps[p.Index].Name != "c" {
		t.Fatalf("c back from its cooldown: picked %s, want c (unmeasured, explored first)", deps[p.Index].Name)
	}
}

// TestGroupUsage: through a real outbound limiter, three deployments of 10
// RPM get exactly 10 of 30 requests each, in balance all the way (the
// share left never differs by more than one request), and the 31st
// request finds every budget spent.
func TestGroupUsage(t *testing.T) {
	fs := okFakes(3)
	lim := ratelimit.NewMemory()
	tg := groupTarget(Usage, providers(fs)...)
	for i := range tg.Group.Deployments {
		d := &tg.Group.Deployments[i]
		l := ratelimit.Limits{RPM: 10}
		d.RPM = 10
		d.P = ratelimit.Outbound(fs[i], lim, ratelimit.OutboundConfig{Name: d.Name, Limits: l, Mode: ratelimit.FailFast})
		key := ratelimit.OutboundKey(d.Name, "", false)
		d.Remaining = func() float64 { q, _ := lim.Peek(key, l); return float64(q.Remaining) / float64(q.Limit) }
	}
	r, _ := newTestRouter(t, testPolicy(), nil, tg)
	r.randN = rand.New(rand.NewPCG(7, 8)).Int64N
	for n := range 30 {
		if res := drain(context.Background(), r); res.err != nil {
			t.Fatalf("request %d: %v", n+1, res.err)
		}
		lo, hi := math.MaxInt, 0
		for _, f := range fs {
			lo, hi = min(lo, f.NumCalls()), max(hi, f.NumCalls())
		}
		if hi-lo > 1 {
			t.Fatalf("after %d requests calls spread %d..%d", n+1, lo, hi)
		}
	}
	for i, f := range fs {
		if f.NumCalls() != 10 {
			t.Errorf("deployment %d: %d calls, want 10", i+1, f.NumCalls())
		}
	}
	res := drain(context.Background(), r)
	if llm.KindOf(res.err) != llm.KindRateLimited {
		t.Fatalf("31st request: %v, want rate limited", res.err)
	}
}

// TestGroupCooldownByHint: a 429 with a 30 s hint cools that deployment
// (not the model) for 30 s: the request is served by the other one
// invisibly, the cooled one is skipped until the hint has passed, then
// tried again.
func TestGroupCooldownByHint(t *testing.T) {
	fs := okFakes(2)
	fs[0].Push([]fp.Step{fp.Err(rateLimited(30 * time.Second))})
	r, clk := newTestRouter(t, testPolicy(), nil, groupTarget(Weighted, providers(fs)...))
	r.randN = func(int64) int64 { return 0 } // weighted: the first eligible
	if res := drain(context.Background(), r); res.err != nil || res.text != "from 2" {
		t.Fatalf("first request: %q %v, want from 2", res.text, res.err)
	}
	clk.Advance(29 * time.Second)
	if res := drain(context.Background(), r); res.text != "from 2" {
		t.Fatalf("during the cooldown: %q %v, want from 2", res.text, res.err)
	}
	if n := fs[0].NumCalls(); n != 1 {
		t.Fatalf("cooled deployment called %d times, want 1", n)
	}
	h := depHealth(r, "g#1/gemini")
	if h.State != StateOpen || !strings.Contains(h.LastError, "cooling down: rate limited") {
		t.Fatalf("health of g#1: %+v", h)
	}
	clk.Advance(time.Second)
	if res := drain(context.Background(), r); res.text != "from 1" {
		t.Fatalf("after the hint: %q %v, want from 1", res.text, res.err)
	}
}

func depHealth(r *Router, name string) TargetHealth {
	for _, h := range r.Breakers().Health() {
		if h.Name == name {
			return h
		}
	}
	return TargetHealth{}
}

// TestGroupCooldownDailyQuota: a real Gemini adapter reads a 429 whose
// quotaId is …PerDay; the deployment cools until midnight Pacific time
// (the quota's reset), the other keeps serving.
func TestGroupCooldownDailyQuota(t *testing.T) {
	srv := fakegemini.New(t)
	daily := fakegemini.RateLimitReply("")
	daily.Error.Details[0]["violations"] = []any{map[string]any{
		"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
		"quotaId":     "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "250"}}
	srv.Enqueue(daily)
	gc := geminiapi.New(geminiapi.Config{BaseURL: srv.URL, APIKey: srv.Key, HTTPClient: srv.Client()})
	other := okFakes(1)[0]
	tg := groupTarget(Weighted, gc, other)
	tg.Model = "gemini-2.5-flash"
	r, clk := newTestRouter(t, testPolicy(), nil, tg)
	r.randN = func(int64) int64 { return 0 }
	before := untilMidnightPacific(time.Now())
	res := drain(context.Background(), r)
	after := untilMidnightPacific(time.Now())
	if res.err != nil || res.text != "from 1" {
		t.Fatalf("first request: %q %v", res.text, res.err)
	}
	h := depHealth(r, "g#1/gemini-2.5-flash")
	cool := h.OpenUntil.Sub(clk.Now())
	if h.State != StateOpen || !strings.Contains(h.LastError, "daily quota") || cool > before || cool < after {
		t.Fatalf("health %+v: cooling %s, want until midnight Pacific (%s..%s)", h, cool, after, before)
	}
	clk.Advance(cool - time.Second)
	if res := drain(context.Background(), r); res.text != "from 1" || len(srv.Requests()) != 1 {
		t.Fatalf("a second before the reset: %q %v, %d upstream calls", res.text, res.err, len(srv.Requests()))
	}
	clk.Advance(time.Second)
	if res := drain(context.Background(), r); res.err != nil || len(srv.Requests()) != 2 {
		t.Fatalf("at the reset: %v, %d upstream calls, want the quota's deployment again", res.err, len(srv.Requests()))
	}
}

func untilMidnightPacific(now time.Time) time.Duration {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		loc = time.FixedZone("PST", -8*3600)
	}
	t := now.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc).Sub(now)
}

// TestGroupCooldownAuth: a 401 takes the deployment out for AuthCooldown
// and /health says why; the other deployment serves every request.
func TestGroupCooldownAuth(t *testing.T) {
	fs := okFakes(2)
	fs[0].Push([]fp.Step{fp.Err(&llm.Error{Kind: llm.KindUnauthorized, Provider: "google", StatusCode: http.StatusUnauthorized, Message: "API key not valid"})})
	tg := groupTarget(Weighted, providers(fs)...)
	p := testPolicy()
	p.FallbackOnAuth = false // about providers: a group's next key is still tried
	r, clk := newTestRouter(t, p, nil, tg)
	r.randN = func(int64) int64 { return 0 }
	for range 5 {
		if res := drain(context.Background(), r); res.text != "from 2" {
			t.Fatalf("%q %v, want from 2", res.text, res.err)
		}
	}
	h := depHealth(r, "g#1/gemini")
	if h.State != StateOpen || !strings.Contains(h.LastError, "credentials refused") || h.OpenUntil.Sub(clk.Now()) != DefaultAuthCooldown {
		t.Fatalf("health of g#1: %+v", h)
	}
	if fs[0].NumCalls() != 1 {
		t.Fatalf("refused deployment called %d times", fs[0].NumCalls())
	}
}

// TestGroupMaxInFlight: with max_in_flight 1 on both deployments, two
// requests in flight fill the group; a third is a 429 with a 1 s hint
// naming the cap, and a slot freed serves again.
func TestGroupMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	hold := []fp.Step{fp.Do(func(ctx context.Context) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}), fp.Text("held")}
	fs := []*fp.Provider{fp.New("google", hold), fp.New("google", hold)}
	for _, f := range fs {
		f.SetDefault(fp.Text("free"))
	}
	tg := groupTarget(LeastBusy, providers(fs)...)
	for i := range tg.Group.Deployments {
		tg.Group.Deployments[i].MaxInFlight = 1
	}
	r, _ := newTestRouter(t, testPolicy(), nil, tg)
	done := make(chan result, 2)
	for range 2 {
		go func() { done <- drain(context.Background(), r) }()
	}
	<-started
	<-started
	res := drain(context.Background(), r)
	var e *llm.Error
	if !asErr(res.err, &e) || e.Kind != llm.KindRateLimited || e.RetryAfter != time.Second || !strings.Contains(e.Message, "max_in_flight per deployment") {
		t.Fatalf("third request: %v, want 429 naming the deployment cap with a 1s hint", res.err)
	}
	close(release)
	for range 2 {
		if r := <-done; r.text != "held" {
			t.Fatalf("held request: %q %v", r.text, r.err)
		}
	}
	if res := drain(context.Background(), r); res.text != "free" {
		t.Fatalf("after the release: %q %v", res.text, res.err)
	}
}

func asErr(err error, e **llm.Error) bool {
	for err != nil {
		if x, ok := err.(*llm.Error); ok {
			*e = x
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// TestGroupAllCooling: when every deployment cools down the request is a
// 429 with the shortest remaining cooldown as its hint, and no deployment
// is tried until it ends.
func TestGroupAllCooling(t *testing.T) {
	fs := okFakes(2)
	fs[0].Push([]fp.Step{fp.Err(rateLimited(30 * time.Second))})
	fs[1].Push([]fp.Step{fp.Err(rateLimited(60 * time.Second))})
	p := testPolicy()
	p.Retries = 0
	r, clk := newTestRouter(t, p, nil, groupTarget(Weighted, providers(fs)...))
	r.randN = func(int64) int64 { return 0 }
	if res := drain(context.Background(), r); llm.RetryAfter(res.err) != 30*time.Second {
		t.Fatalf("first request: %v, want 429 with a 30s hint", res.err)
	}
	clk.Advance(10 * time.Second)
	res := drain(context.Background(), r)
	if llm.KindOf(res.err) != llm.KindRateLimited || llm.RetryAfter(res.err) != 20*time.Second {
		t.Fatalf("while both cool: %v (hint %s), want 429 with 20s", res.err, llm.RetryAfter(res.err))
	}
	if fs[0].NumCalls()+fs[1].NumCalls() != 2 {
		t.Fatalf("cooled deployments called: %d, %d", fs[0].NumCalls(), fs[1].NumCalls())
	}
	clk.Advance(20 * time.Second)
	if res := drain(context.Background(), r); res.text != "from 1" {
		t.Fatalf("after the first cooldown: %q %v", res.text, res.err)
	}
}
