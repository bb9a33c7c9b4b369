package llm

import "context"

// TargetFilter says whether a request may use target ("provider/model")
// of the route it asked for (an alias, "default" or "provider/model"):
// an API key's model allow-list.
type TargetFilter func(route, target string) bool

type filterKey struct{}

// WithTargetFilter returns ctx carrying f. A router skips every target f
// refuses and fails with KindForbidden when it refuses them all.
func WithTargetFilter(ctx context.Context, f TargetFilter) context.Context {
	return context.WithValue(ctx, filterKey{}, f)
}

// TargetAllowed reports whether ctx's filter (if any) allows target of
// route.
func TargetAllowed(ctx context.Context, route, target string) bool {
	f, _ := ctx.Value(filterKey{}).(TargetFilter)
	return f == nil || f(route, target)
}
