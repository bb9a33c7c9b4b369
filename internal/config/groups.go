package config

import (
	"fmt"
	"strings"
	"time"
)

// Group is a set of deployments of the same model behind one name: a
// target "group/model" spreads its requests over them (groups: in the
// file).
type Group struct {
	// Strategy is weighted (default), least_busy, lowest_latency or usage.
	Strategy string `yaml:"strategy"`
	// Model is the group's default model; Models are also advertised.
	Model  string   `yaml:"model"`
	Models []string `yaml:"models"`
	// AuthCooldown is how long a refused key (401/403) takes its
	// deployment out; default 1h.
	AuthCooldown time.Duration    `yaml:"auth_cooldown"`
	Deployments  []DeploymentSpec `yaml:"deployments"`
}

// DeploymentSpec is one deployment of a group: a provider with its own
// key, base URL, limits, weight and concurrency cap.
type DeploymentSpec struct {
	// Provider is google, openai, anthropic or ollama, or a name under
	// providers: (its type, base URL and headers are inherited).
	Provider    string `yaml:"provider"`
	APIKeyEnv   string `yaml:"api_key_env"` // environment variable holding its key (never the key itself)
	APIKey      string `yaml:"-"`           // read from APIKeyEnv by Load
	BaseURL     string `yaml:"base_url"`    // default: the provider's
	RPM         int    `yaml:"rpm"`         // outbound budget of this deployment
	TPM         int    `yaml:"tpm"`
	Weight      int    `yaml:"weight"`        // share under weighted; default 1
	MaxInFlight int    `yaml:"max_in_flight"` // requests in flight on it at most; 0: no cap
}

// InFlightCaps caps the requests in flight per API key and per user
// (max_in_flight: in the file). 0 means no cap.
type InFlightCaps struct {
	Key  int `yaml:"key"`
	User int `yaml:"user"`
}

// MaxDeployments bounds a group's deployments.
const MaxDeployments = 64

// fallbackCauses are the error classes a fallbacks: rule may name.
var fallbackCauses = map[string]bool{"context_window": true, "content_filter": true, "rate_limited": true, "unavailable": true}

var strategies = map[string]bool{"": true, "weighted": true, "least_busy": true, "lowest_latency": true, "usage": true}

func (v *fileValidator) checkGroups(f *File) {
	for _, name := range sortedKeys(f.Groups) {
		g := f.Groups[name]
		path := "$.groups." + name
		if _, clash := f.Providers[name]; clash || builtinProviders[name] || strings.ContainsAny(name, "/#") {
			v.bad(path, "a group needs its own name (not a provider's, no / or #)")
		}
		if !strategies[g.Strategy] {
			v.bad(path+".strategy", "want weighted, least_busy, lowest_latency or usage, got %q", g.Strategy)
		}
		if g.Model == "" {
			v.bad(path+".model", "a group needs a model")
		}
		if len(g.Deployments) == 0 || len(g.Deployments) > MaxDeployments {
			v.bad(path+".deployments", "want 1..%d deployments, got %d", MaxDeployments, len(g.Deployments))
		}
		for i, d := range g.Deployments {
			p := fmt.Sprintf("%s.deployments[%d]", path, i)
			if _, extra := f.Providers[d.Provider]; !builtinProviders[d.Provider] && !extra {
				v.bad(p+".provider", "unknown provider %q", d.Provider)
			}
			if d.BaseURL != "" && !strings.HasPrefix(d.BaseURL, "http://") && !strings.HasPrefix(d.BaseURL, "https://") {
				v.bad(p+".base_url", "want an http(s) URL, got %q", d.BaseURL)
			}
			if d.RPM < 0 || d.TPM < 0 || d.Weight < 0 || d.MaxInFlight < 0 {
				v.bad(p, "rpm, tpm, weight and max_in_flight must not be negative")
			}
		}
	}
	for _, name := range sortedKeys(f.Aliases) {
		for cause, targets := range f.Aliases[name].Fallbacks {
			p := "$.aliases." + name + ".fallbacks." + cause
			if !fallbackCauses[cause] {
				v.bad(p, "want context_window, content_filter, rate_limited or unavailable")
			}
			for i, t := range targets {
				if prov, model, ok := strings.Cut(t, "/"); !ok || model == "" || !v.knownProvider(f, prov) {
					v.bad(fmt.Sprintf("%s[%d]", p, i), "want a configured provider/model, got %q", t)
				}
			}
		}
	}
	if f.MaxInFlight.Key < 0 || f.MaxInFlight.User < 0 {
		v.bad("$.max_in_flight", "caps must not be negative")
	}
}

func (v *fileValidator) knownProvider(f *File, name string) bool {
	_, extra := f.Providers[name]
	_, group := f.Groups[name]
	return builtinProviders[name] || extra || group
}

// readGroupKeys reads each deployment's key from its APIKeyEnv.
func (l *loader) readGroupKeys(f *File) {
	for name, g := range f.Groups {
		for i, d := range g.Deployments {
			if d.APIKeyEnv != "" {
				g.Deployments[i].APIKey = l.secret(d.APIKeyEnv, "")
			}
		}
		f.Groups[name] = g
	}
}

// GoogleKeys returns the Gemini keys of GOOGLE_API_KEY: several keys
// separated by commas (or, in GOOGLE_API_KEY_FILE, one per line) are
// each their own deployment.
func (g Google) GoogleKeys() []string {
	var out []string
	for _, k := range strings.FieldsFunc(g.APIKey, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}
