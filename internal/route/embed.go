package route

import (
	"fmt"
	"strings"

	"github.com/llm-connector/llm-connector/internal/gateway"
)

// embedResolver resolves the model of an embeddings request: "" or
// "default" is the configured embeddings chain (EMBEDDING_MODEL); a bare
// model that one of the chain's targets names goes to that target;
// anything else (an alias, "provider/model", a bare model) resolves as
// for chat.
type embedResolver struct {
	t   *Table
	def gateway.Route
	ok  bool
}

// EmbedResolver returns the resolver of embeddings models whose default
// route is chain ("provider/model" targets, in fallback order; empty:
// no default, a request must name its model).
func (t *Table) EmbedResolver(chain []string) (gateway.Resolver, error) {
	r := &embedResolver{t: t}
	if len(chain) == 0 {
		return r, nil
	}
	for _, spec := range chain {
		if _, _, ok := strings.Cut(spec, "/"); !ok {
			return nil, fmt.Errorf("route: embeddings target %q must be provider/model", spec)
		}
	}
	t.breakers.Pin(chain...)
	def, err := t.build("default", chain, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("route: EMBEDDING_MODEL: %w", err)
	}
	r.def, r.ok = def, true
	return r, nil
}

// Resolve implements gateway.Resolver.
func (r *embedResolver) Resolve(model, provider string) (gateway.Route, error) {
	model, provider = strings.TrimSpace(model), strings.TrimSpace(provider)
	if provider == "" && (model == "" || model == "default") {
		if !r.ok {
			return gateway.Route{}, fmt.Errorf("%w: no default embeddings model is configured (EMBEDDING_MODEL); name the model as provider/model",
				gateway.ErrNoRoute)
		}
		return r.def, nil
	}
	if provider == "" && !strings.Contains(model, "/") {
		for _, spec := range r.def.Targets {
			if _, m, _ := strings.Cut(spec, "/"); m == model {
				return r.t.explicitRoute(spec)
			}
		}
	}
	return r.t.Resolve(model, provider)
}
