package router

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Strategy picks which deployment of a group a request tries next.
type Strategy string

// The strategies. Every one skips deployments that are cooling down, whose
// breaker is open or that are at their MaxInFlight.
const (
	// Weighted picks at random in proportion to Weight (the default).
	Weighted Strategy = "weighted"
	// LeastBusy picks the deployment with the fewest requests in flight.
	LeastBusy Strategy = "least_busy"
	// LowestLatency picks the lowest moving average of time to first
	// token; Explore of the picks (default 10 %) are weighted-random, and
	// a deployment back from a cooldown (no recent sample) is tried first,
	// so a recovered one is measured again.
	LowestLatency Strategy = "lowest_latency"
	// Usage picks the deployment with the largest share of its RPM/TPM
	// budget left this window, as the outbound limiter counts it.
	Usage Strategy = "usage"
)

// ParseStrategy reads a strategy name; "" is Weighted.
func ParseStrategy(s string) (Strategy, error) {
	switch Strategy(s) {
	case "", Weighted:
		return Weighted, nil
	case LeastBusy, LowestLatency, Usage:
		return Strategy(s), nil
	}
	return "", fmt.Errorf("unknown strategy %q (want weighted, least_busy, lowest_latency or usage)", s)
}

// Deployment is one copy of a group's model with its own adapter (key,
// base URL, region), limits, weight, concurrency cap and breaker.
type Deployment struct {
	// Name identifies the deployment in breakers, /health, metrics and
	// shared state, e.g. "google#1". It is derived from the configuration,
	// never from a key.
	Name string
	P    llm.Provider
	// Weight is the deployment's share under Weighted (0 counts as 1).
	Weight int
	// MaxInFlight caps the requests in flight on the deployment, across
	// every instance when the state is shared; 0 means no cap.
	MaxInFlight int
	// RPM and TPM are the deployment's outbound budget, read by Usage.
	RPM, TPM int
	// UsageKey is the outbound limiter's key of the deployment, as the
	// shared state finds it in Redis (prefix included).
	UsageKey string
	// Remaining, when set, reports the fraction in [0, 1] of the budget
	// left now (the in-memory limiter's Peek); nil counts as full.
	Remaining func() float64
}

func (d *Deployment) weight() int { return max(d.Weight, 1) }

// Group is a set of deployments of the same model behind one target.
type Group struct {
	Strategy    Strategy
	Deployments []Deployment
	// State holds in-flight counts, cooldowns and latencies; nil gives
	// the group an in-process MemoryState of its own. RedisState shares
	// it among instances.
	State State
	// AuthCooldown is how long a 401/403 takes a deployment out
	// (default 1h): a refused key does not heal by itself.
	AuthCooldown time.Duration
	// Explore is LowestLatency's share of random picks (default 0.1).
	Explore float64
}

// DefaultAuthCooldown is Group.AuthCooldown's default.
const DefaultAuthCooldown = time.Hour

func (g *Group) explore() float64 {
	if g.Explore <= 0 {
		return 0.1
	}
	return min(g.Explore, 1)
}

// Pick is a State's choice among candidate deployments.
type Pick struct {
	// Index is the chosen candidate, or -1 when none may be tried now.
	Index int
	// Lease holds the in-flight slot taken on the chosen deployment;
	// hand it back to Done.
	Lease string
	// Capped: some candidate was left out for its MaxInFlight.
	Capped bool
	// CoolFor: with Index -1 and not Capped, the shortest remaining
	// cooldown among the candidates.
	CoolFor time.Duration
}

// State is the shared knowledge about deployments: cooldowns, requests in
// flight and time to first token. Implementations are safe for concurrent
// use and never fail: a shared state that cannot reach its store decides
// from its local copy.
type State interface {
	// Pick chooses one of cands by strategy, skipping those cooling down
	// or at their cap, and takes an in-flight slot on it. r is uniform in
	// [0, 1); now is the router's clock (a shared state may use its own).
	Pick(ctx context.Context, now time.Time, s Strategy, explore float64, cands []*Deployment, r float64) Pick
	// Done frees the slot of lease and records a time to first token
	// (0: none, the attempt failed).
	Done(ctx context.Context, d *Deployment, lease string, ttft time.Duration)
	// Cool takes d out of every pick until now+dur.
	Cool(ctx context.Context, now time.Time, d *Deployment, dur time.Duration, reason string)
}

// tryGroup runs a request on a deployment group. The strategy picks a
// deployment; a failure before content moves to another deployment at
// once (the others are its retry) and cools the failed one when the
// provider said for how long (a 429's hint, a daily quota's reset) or
// refused its key. When every deployment was tried, a retryable failure
// starts another round after the backoff, as a single target retries.
// done is as tryTarget's; tried reports that some attempt was made.
func (s *run) tryGroup(t *Target, brs []*breaker, hasNext bool) (done, tried bool) {
	g := t.Group
	st := g.State
	retries := t.Retries
	if retries < 0 {
		retries = s.r.policy.Retries
	}
	used := make([]bool, len(g.Deployments))
	cands := make([]*Deployment, 0, len(g.Deployments))
	idx := make([]int, 0, len(g.Deployments))
	for round := 0; ; round++ {
		var last error
		for {
			if s.ctx.Err() != nil {
				s.send(llm.Chunk{}, s.ctxErr())
				return true, tried
			}
			cands, idx = cands[:0], idx[:0]
			for i := range g.Deployments {
				if !used[i] && brs[i].mayTry() {
					cands, idx = append(cands, &g.Deployments[i]), append(idx, i)
				}
			}
			if len(cands) == 0 {
				if round == 0 && last == nil && !tried {
					// Every deployment is cooling down or its breaker is
					// open: say so rather than force a try on one.
					last, tried = allOut(t, brs, s.r.clock.Now()), true
					s.fail(t.Name, last, false)
				}
				break
			}
			p := st.Pick(s.ctx, s.r.clock.Now(), g.Strategy, g.explore(), cands, s.r.rand01())
			if p.Index < 0 {
				tried = true // cooling or capped: decided, not skipped by breakers
				if last == nil {
					last = noDeployment(t, p)
					s.fail(t.Name, last, false)
				}
				break
			}
			i := idx[p.Index]
			used[i] = true
			err, over, ok := s.tryDeployment(t, &g.Deployments[i], brs[i], st, p.Lease)
			if !ok {
				continue // its breaker closed the door meanwhile
			}
			tried = true
			if over {
				return true, true
			}
			if s.ctx.Err() != nil {
				s.send(llm.Chunk{}, s.ctxErr())
				return true, true
			}
			if s.r.decide(err) == giveUp && !refusedKey(err) {
				if s.divertFor(err) {
					return false, true
				}
				s.send(llm.Chunk{}, err)
				return true, true
			}
			last = err
		}
		if last == nil || round >= retries || s.r.decide(last) != retrySame || (hasNext && llm.RetryAfter(last) > s.r.policy.MaxDelay) {
			return false, tried
		}
		wait := s.r.backoff(round, last)
		if s.r.clock.Now().Add(wait).After(s.deadline) {
			return false, tried
		}
		if s.r.clock.Sleep(s.ctx, wait) != nil {
			s.send(llm.Chunk{}, s.ctxErr())
			return true, tried
		}
		clear(used)
	}
}

// tryDeployment makes one attempt on deployment d of group target t and
// hands its in-flight slot back. ok is false when d's breaker refused
// (nothing was tried); over is attempt's done.
func (s *run) tryDeployment(t *Target, d *Deployment, br *breaker, st State, lease string) (err error, over, ok bool) {
	defer func() {
		ttft := s.ttft
		if !over || err != nil {
			ttft = 0
		}
		st.Done(context.WithoutCancel(s.ctx), d, lease, ttft)
	}()
	if ok, _ := br.allow(); !ok {
		return nil, false, false
	}
	dt := Target{Name: br.name, Provider: t.Provider, Model: t.Model, P: d.P}
	s.ttft = 0
	err, over = s.attempt(&dt, br)
	if over {
		return nil, true, true
	}
	s.fail(dt.Name, err, false)
	s.cool(t.Group, d, br, st, err)
	return err, false, true
}

// cool takes a deployment out for as long as its provider said: a 429's
// hint (a daily quota's hint reaches its reset), or AuthCooldown for a
// refused key. The breaker shows it in /health.
func (s *run) cool(g *Group, d *Deployment, br *breaker, st State, err error) {
	var dur time.Duration
	reason := "rate limited"
	switch llm.KindOf(err) {
	case llm.KindRateLimited:
		dur = llm.RetryAfter(err)
		if llm.DetailOf(err) == llm.DetailDailyQuota {
			reason = "daily quota spent"
		}
	case llm.KindUnauthorized, llm.KindForbidden:
		dur, reason = cmp.Or(g.AuthCooldown, DefaultAuthCooldown), "credentials refused"
	}
	if dur <= 0 {
		return
	}
	now := s.r.clock.Now()
	st.Cool(context.WithoutCancel(s.ctx), now, d, dur, reason)
	br.cool(now.Add(dur), reason+": "+publicText(err))
}

// noDeployment is the failure of a group none of whose deployments may be
// tried now: every one at its cap (retry in a second) or cooling down.
func noDeployment(t *Target, p Pick) error {
	if p.Capped {
		return &llm.Error{Kind: llm.KindRateLimited, Provider: t.Provider, RetryAfter: time.Second,
			Message: "max_in_flight per deployment reached on every deployment of " + t.Name}
	}
	return &llm.Error{Kind: llm.KindRateLimited, Provider: t.Provider, RetryAfter: p.CoolFor,
		Message: fmt.Sprintf("every deployment of %s is cooling down; retry in %s", t.Name, p.CoolFor.Round(time.Millisecond))}
}

// rand01 is uniform in [0, 1) from the router's random source.
func (r *Router) rand01() float64 {
	const n = 1 << 53
	return float64(r.randN(n)) / n
}

// allOut is the failure of a group whose every deployment is out: a 429
// until the first cooldown ends when all are cooling down (the provider
// said how long), else unavailable (circuits open after failures).
func allOut(t *Target, brs []*breaker, now time.Time) error {
	cooling := true
	var first time.Time
	for _, br := range brs {
		until, ok := br.cooling(now)
		if !ok {
			until = br.health().OpenUntil
		}
		cooling = cooling && ok
		if first.IsZero() || until.Before(first) {
			first = until
		}
	}
	wait := max(first.Sub(now), 0)
	if cooling {
		return &llm.Error{Kind: llm.KindRateLimited, Provider: t.Provider, RetryAfter: wait,
			Message: fmt.Sprintf("every deployment of %s is cooling down; retry in %s", t.Name, wait.Round(time.Millisecond))}
	}
	return &llm.Error{Kind: llm.KindUnavailable, Provider: t.Provider, RetryAfter: wait,
		Message: "circuit open on every deployment of " + t.Name}
}

// refusedKey reports a 401/403: one deployment's key, not the request, so
// the next deployment is tried even when FallbackOnAuth is off (that
// setting is about providers, not about the keys of one group).
func refusedKey(err error) bool {
	k := llm.KindOf(err)
	return k == llm.KindUnauthorized || k == llm.KindForbidden
}
