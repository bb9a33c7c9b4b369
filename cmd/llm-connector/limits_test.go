package main

import (
	"context"
	"testing"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/ratelimit"
)

// TestUserRateLimitAppliesToHerKeys is issue 18 item 8: rate_limits:
// alice: {rpm: N} did not apply to alice's API keys (the limiter keys on
// key:<id> and looked the override up by key ID only; the global limit
// answered). The user's limit applies to every key of hers, shared.
func TestUserRateLimitAppliesToHerKeys(t *testing.T) {
	a := limiterAdapter{l: ratelimit.NewMemory(), policy: ratelimit.Policy{
		Default:   ratelimit.Limits{RPM: 2},
		Overrides: map[string]ratelimit.Limits{"alice": {RPM: 6}, "k-special": {RPM: 1}},
	}}
	admit := func(id auth.Identity) bool {
		t.Helper()
		ctx := auth.NewContext(context.Background(), id)
		d, err := a.Admit(ctx, "key:"+id.KeyID, 1)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	k1 := auth.Identity{User: "alice", KeyID: "k1"}
	k2 := auth.Identity{User: "alice", KeyID: "k2"}
	allowed := 0
	for i := range 10 {
		if admit([]auth.Identity{k1, k2}[i%2]) {
			allowed++
		}
	}
	if allowed != 6 {
		t.Errorf("alice's two keys got %d requests through in a minute, want her rpm 6 (shared)", allowed)
	}
	// A key's own override still wins over its user's.
	special := auth.Identity{User: "alice", KeyID: "k-special"}
	if !admit(special) || admit(special) {
		t.Errorf("k-special: want exactly its own rpm 1")
	}
	// Other users keep the default.
	bob := auth.Identity{User: "bob", KeyID: "kb"}
	if !admit(bob) || !admit(bob) || admit(bob) {
		t.Errorf("bob: want the default rpm 2")
	}
}
