// Package route turns configuration into the gateway's routes: the seed's
// default chain (primary then fallback), explicit "provider/model" names,
// and aliases with their own ordered fallback chains. All chains share
// one set of circuit breakers, keyed by "provider/model".
package route

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/router"
)

// Backend is one configured provider: an adapter and its default model.
type Backend struct {
	P            llm.Provider
	DefaultModel string
	Models       []string // advertised by /v1/models besides the default
	// Group, when set, makes the backend a group of deployments: its
	// targets spread over them (router.Group); P is the first one's.
	Group *router.Group
	// Provider names the adapter type of a group's deployments, e.g.
	// "google", for records and prices; empty: the backend's own name.
	Provider string
}

// Alias is an ordered chain of "provider/model" targets.
type Alias struct {
	Targets []string
	Retries *int
	Timeout time.Duration
	// Fallbacks are rules by error class (llm.Cause) to other chains;
	// an empty chain sends the error as it is.
	Fallbacks map[string][]string
}

// Table resolves requested models to routers.
type Table struct {
	backends map[string]Backend
	aliases  map[string]Alias
	policy   router.Policy
	breakers *router.Breakers
	def      gateway.Route
	window   func(provider, model string) int
	cache    map[string]gateway.Route // aliases, built by New and read-only after
	explicit explicitCache            // "provider/model" → gateway.Route, built on first use
}

// maxExplicit bounds the cached single-target routes: model names come
// from callers. It is the breakers' own bound, and a route forgotten
// forgets its breaker, so that the two stay in step.
const maxExplicit = router.MaxBreakers

// Config builds a Table.
type Config struct {
	Backends map[string]Backend // by provider name
	Primary  string             // default route's primary provider
	Fallback string             // default route's fallback provider ("" or "none": none)
	Aliases  map[string]Alias
	Policy   router.Policy
	Breakers *router.Breakers
	// ContextWindow, when set, gives a model's context window in tokens
	// (0: unknown); targets get it for the router's pre-check.
	ContextWindow func(provider, model string) int
}

// New builds the table and checks that every name it refers to exists.
func New(cfg Config) (*Table, error) {
	t := &Table{backends: cfg.Backends, aliases: cfg.Aliases, policy: cfg.Policy, breakers: cfg.Breakers,
		cache: map[string]gateway.Route{}, window: cfg.ContextWindow}
	if t.breakers == nil {
		t.breakers = router.NewBreakers(router.BreakerConfig{})
	}
	t.explicit.init(maxExplicit, t.breakers.Forget)
	// Configured targets keep their breakers; caller-chosen ones share a
	// bounded set.
	for name, b := range cfg.Backends {
		t.breakers.Pin(name + "/" + b.DefaultModel)
		if b.Group != nil {
			if b.Group.State == nil { // set once here: routes are also built lazily, concurrently
				b.Group.State = router.NewMemoryState()
			}
			for _, d := range b.Group.Deployments {
				t.breakers.Pin(router.DeploymentTarget(d.Name, b.DefaultModel))
			}
		}
	}
	for _, a := range cfg.Aliases {
		t.breakers.Pin(a.Targets...)
	}
	primary, ok := cfg.Backends[cfg.Primary]
	if !ok {
		return nil, fmt.Errorf("route: primary provider %q is not configured", cfg.Primary)
	}
	chain := []string{cfg.Primary + "/" + primary.DefaultModel}
	if fb := cfg.Fallback; fb != "" && fb != "none" && fb != cfg.Primary {
		b, ok := cfg.Backends[fb]
		if !ok {
			return nil, fmt.Errorf("route: fallback provider %q is not configured", fb)
		}
		chain = append(chain, fb+"/"+b.DefaultModel)
	}
	def, err := t.build("default", chain, nil, 0)
	if err != nil {
		return nil, err
	}
	t.def = def
	for name, a := range cfg.Aliases {
		r, err := t.build(name, a.Targets, a.Retries, a.Timeout)
		if err != nil {
			return nil, fmt.Errorf("route: alias %q: %w", name, err)
		}
		if err := t.fallbacks(name, r, a); err != nil {
			return nil, fmt.Errorf("route: alias %q: %w", name, err)
		}
		t.cache[name] = r
	}
	return t, nil
}

func (t *Table) build(name string, chain []string, retries *int, timeout time.Duration) (gateway.Route, error) {
	targets := make([]router.Target, 0, len(chain))
	for _, spec := range chain {
		prov, model, ok := strings.Cut(spec, "/")
		b, known := t.backends[prov]
		if !ok || !known {
			return gateway.Route{}, fmt.Errorf("%w: provider %q is not configured", gateway.ErrNoRoute, prov)
		}
		tg := router.Target{Name: spec, Provider: cmp.Or(b.Provider, prov), Model: model, P: b.P, Retries: -1, Group: b.Group}
		if t.window != nil {
			tg.ContextWindow = t.window(tg.Provider, model)
		}
		if retries != nil {
			tg.Retries = *retries
		}
		targets = append(targets, tg)
	}
	p := t.policy
	if timeout > 0 {
		p.Deadline = timeout
	}
	return gateway.Route{
		Name:     name,
		P:        router.New(targets, p, t.breakers).Named(name),
		Provider: targets[0].Provider,
		Model:    targets[0].Model,
		Targets:  chain,
	}, nil
}

// Resolve implements gateway.Resolver. model may be empty (default
// route), an alias, "provider/model", or a bare model of the provider
// pinned by provider (or of the primary when provider is empty).
func (t *Table) Resolve(model, provider string) (gateway.Route, error) {
	provider = strings.ToLower(strings.TrimSpace(provider))
	model = strings.TrimSpace(model)
	switch {
	case model == "" && provider == "":
		return t.def, nil
	case model == "" || model == "default":
		if provider == "" {
			return t.def, nil
		}
		b, ok := t.backends[provider]
		if !ok {
			return gateway.Route{}, t.notConfigured(provider)
		}
		return t.explicitRoute(provider + "/" + b.DefaultModel)
	}
	if r, ok := t.cache[model]; ok && provider == "" {
		return r, nil
	}
	if prov, _, ok := strings.Cut(model, "/"); ok && provider == "" {
		if _, known := t.backends[prov]; !known {
			return gateway.Route{}, fmt.Errorf("%w: unknown provider %q in model %q (configured: %s)",
				gateway.ErrNoRoute, prov, model, strings.Join(t.providerNames(), ", "))
		}
		return t.explicitRoute(model)
	}
	if provider == "" {
		p, err := t.bareModel(model)
		if err != nil {
			return gateway.Route{}, err
		}
		provider = p
	}
	if _, ok := t.backends[provider]; !ok {
		return gateway.Route{}, t.notConfigured(provider)
	}
	return t.explicitRoute(provider + "/" + model)
}

func (t *Table) notConfigured(provider string) error {
	return fmt.Errorf("%w: provider %q is not configured (configured: %s)",
		gateway.ErrNoRoute, provider, strings.Join(t.providerNames(), ", "))
}

// families maps the name prefixes of the hosted providers' own models to
// their provider.
var families = []struct{ prefix, provider string }{
	{"gpt-", "openai"}, {"chatgpt-", "openai"}, {"o1", "openai"}, {"o3", "openai"}, {"o4", "openai"},
	{"claude-", "anthropic"}, {"gemini-", "google"}, {"text-embedding-3", "openai"},
}

// bareModel picks the provider of a model named without "provider/":
// the configured provider that advertises it (default model or models
// list; the primary first), else the primary, except that a name of a
// hosted provider's family (gpt-*, claude-*, gemini-*) is never sent to
// another provider: with its own provider not configured it is a 404
// naming the configured ones, instead of a silent ollama/gpt-4o-mini.
func (t *Table) bareModel(model string) (string, error) {
	if t.advertises(t.def.Provider, model) {
		return t.def.Provider, nil
	}
	for _, name := range t.providerNames() {
		if t.advertises(name, model) {
			return name, nil
		}
	}
	lower := strings.ToLower(model)
	for _, f := range families {
		if strings.HasPrefix(lower, f.prefix) && f.provider != t.def.Provider {
			if _, ok := t.backends[f.provider]; ok {
				return f.provider, nil
			}
			return "", fmt.Errorf("%w: model %q belongs to provider %q, which is not configured (configured: %s); name it provider/model",
				gateway.ErrNoRoute, model, f.provider, strings.Join(t.providerNames(), ", "))
		}
	}
	return t.def.Provider, nil
}

func (t *Table) advertises(provider, model string) bool {
	b, ok := t.backends[provider]
	if !ok {
		return false
	}
	return b.DefaultModel == model || slices.Contains(b.Models, model)
}

// explicitRoute builds (once, while it stays among the maxExplicit most
// recently used) a single-target route for "provider/model".
func (t *Table) explicitRoute(spec string) (gateway.Route, error) {
	if r, ok := t.explicit.get(spec); ok {
		return r, nil
	}
	r, err := t.build(spec, []string{spec}, nil, 0)
	if err != nil {
		return gateway.Route{}, err
	}
	return t.explicit.add(spec, r), nil
}

// Breakers returns the shared breaker state (for /health).
func (t *Table) Breakers() *router.Breakers { return t.breakers }

// Models lists the routable names: aliases, then every provider's models.
func (t *Table) Models() []Model {
	var out []Model
	for name := range t.aliases {
		out = append(out, Model{ID: name, OwnedBy: "alias"})
	}
	for prov, b := range t.backends {
		seen := map[string]bool{}
		for _, m := range append([]string{b.DefaultModel}, b.Models...) {
			if m != "" && !seen[m] {
				seen[m] = true
				out = append(out, Model{ID: prov + "/" + m, OwnedBy: prov})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Model is one routable model.
type Model struct{ ID, OwnedBy string }

func (t *Table) providerNames() []string {
	names := make([]string, 0, len(t.backends))
	for n := range t.backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
