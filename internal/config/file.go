package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// File is the optional YAML configuration (LLM_CONFIG). Environment
// variables keep working alone; the file adds providers, aliases with
// fallback chains, prices and per-caller limits.
type File struct {
	// Providers declares extra named providers, e.g. any OpenAI-compatible
	// server (vLLM, llama.cpp, LM Studio, Groq, Ollama's /v1).
	Providers map[string]ProviderSpec `yaml:"providers"`
	// Aliases maps a model name clients may send to an ordered chain of
	// "provider/model" targets.
	Aliases map[string]Alias `yaml:"aliases"`
	// Prices adds or overrides per-million-token prices, keyed "provider/model".
	Prices map[string]Price `yaml:"prices"`
	// RateLimits overrides the per-caller limits, keyed by user or API key ID.
	RateLimits map[string]Limit `yaml:"rate_limits"`
	// Budgets sets per-user spend limits in USD, overriding the defaults.
	Budgets map[string]UserBudget `yaml:"budgets"`
	// ProviderLimits is an outbound budget per provider name.
	ProviderLimits map[string]ProviderLimit `yaml:"provider_limits"`
	// LogContent overrides MLFLOW_LOG_CONTENT (full, redacted or none) per
	// caller, keyed by API key ID or user like rate_limits; a key ID's
	// entry wins over its user's, and either wins over the global mode.
	LogContent map[string]string `yaml:"log_content"`
	// Groups are sets of deployments of one model (groups.go).
	Groups map[string]Group `yaml:"groups"`
	// MaxInFlight caps the requests in flight per API key and per user.
	MaxInFlight InFlightCaps `yaml:"max_in_flight"`
	// BudgetAlerts configures the budget threshold webhook (replacing
	// BUDGET_ALERT_*).
	BudgetAlerts *BudgetAlerts `yaml:"budget_alerts"`
}

// LogContentValues lists the content modes, for messages.
const LogContentValues = "full, redacted or none"

// ValidLogContent reports whether m is a content mode.
func ValidLogContent(m string) bool { return m == "full" || m == "redacted" || m == "none" }

// ProviderSpec declares one extra provider.
type ProviderSpec struct {
	Type      string            `yaml:"type"`        // openai | anthropic | google | ollama
	BaseURL   string            `yaml:"base_url"`    // the server's base URL
	APIKeyEnv string            `yaml:"api_key_env"` // environment variable holding its key (never the key itself)
	APIKey    string            `yaml:"-"`           // read from APIKeyEnv by Load, through its getenv
	Model     string            `yaml:"model"`       // default model
	Models    []string          `yaml:"models"`      // models listed by /v1/models
	Headers   map[string]string `yaml:"headers"`     // extra request headers
	// ThinkingBudget and ThinkingLevel set a google provider's thinking
	// (GOOGLE_THINKING_BUDGET / GOOGLE_THINKING_LEVEL for this target).
	ThinkingBudget int    `yaml:"thinking_budget"`
	ThinkingLevel  string `yaml:"thinking_level"`
}

// ValidThinkingLevel reports whether s is a Gemini 3 thinking level or
// "" (none).
func ValidThinkingLevel(s string) bool {
	switch s {
	case "", "minimal", "low", "medium", "high":
		return true
	}
	return false
}

// Alias is an ordered fallback chain.
type Alias struct {
	Targets []string      `yaml:"targets"` // "provider/model", first is primary
	Retries *int          `yaml:"retries"` // per-target retries; default LLM_RETRIES
	Timeout time.Duration `yaml:"timeout"` // request deadline for this alias; default REQUEST_TIMEOUT
	// Fallbacks routes by error class (context_window, content_filter,
	// rate_limited, unavailable) to other targets; an empty list sends
	// the error as it is.
	Fallbacks map[string][]string `yaml:"fallbacks"`
}

// UserBudget is a user's spend limit in USD; 0 means none.
type UserBudget struct {
	Daily   float64 `yaml:"daily"`
	Monthly float64 `yaml:"monthly"`
}

// Price is USD per million tokens.
type Price struct {
	Input       float64 `yaml:"input"`
	Output      float64 `yaml:"output"`
	CachedInput float64 `yaml:"cached_input"`
	// CacheWrite and CacheWrite1h price prompt-cache writes (Anthropic's
	// 5-minute and 1-hour entries); 0 keeps the input price.
	CacheWrite   float64 `yaml:"cache_write"`
	CacheWrite1h float64 `yaml:"cache_write_1h"`
}

// Limit is a per-caller override.
type Limit struct {
	RPM int `yaml:"rpm"`
	TPM int `yaml:"tpm"`
}

// ProviderLimit is an outbound budget; Queue waits for room instead of
// going to the fallback at once.
type ProviderLimit struct {
	RPM      int  `yaml:"rpm"`
	TPM      int  `yaml:"tpm"`
	Queue    bool `yaml:"queue"`     // wait for room (up to the deadline) instead of failing over at once
	PerModel bool `yaml:"per_model"` // one budget per model of the provider instead of one in all
}

// LoadFile reads and validates the YAML file at path. Every problem is
// reported with its line.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("LLM_CONFIG: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile parses and validates YAML configuration data; name is used
// in messages.
func ParseFile(name string, data []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%s: %s", name, yaml.FormatError(err, false, false))
	}
	tree, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	v := fileValidator{name: name, tree: tree}
	v.check(&f)
	if err := errors.Join(v.errs...); err != nil {
		return nil, err
	}
	return &f, nil
}

type fileValidator struct {
	name string
	tree *ast.File
	errs []error
}

func (v *fileValidator) line(path string) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(v.tree)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

func (v *fileValidator) bad(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l := v.line(path); l > 0 {
		v.errs = append(v.errs, fmt.Errorf("%s:%d: %s: %s", v.name, l, path, msg))
		return
	}
	v.errs = append(v.errs, fmt.Errorf("%s: %s: %s", v.name, path, msg))
}

var builtinProviders = map[string]bool{"google": true, "ollama": true, "openai": true, "anthropic": true}

func (v *fileValidator) check(f *File) {
	for _, name := range sortedKeys(f.Providers) {
		p := f.Providers[name]
		path := "$.providers." + name
		if builtinProviders[name] {
			v.bad(path, "%q is a built-in provider name; pick another", name)
		}
		switch p.Type {
		case "openai", "anthropic", "google", "ollama":
		default:
			v.bad(path+".type", "want openai, anthropic, google or ollama, got %q", p.Type)
		}
		if !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
			v.bad(path+".base_url", "want an http(s) URL, got %q", p.BaseURL)
		}
		if p.ThinkingBudget < -1 || !ValidThinkingLevel(p.ThinkingLevel) {
			v.bad(path, "thinking_budget wants -1, 0 or a positive budget and thinking_level minimal, low, medium or high")
		}
	}
	for _, name := range sortedKeys(f.Aliases) {
		a := f.Aliases[name]
		path := "$.aliases." + name
		if len(a.Targets) == 0 {
			v.bad(path+".targets", "an alias needs at least one target")
		}
		for i, t := range a.Targets {
			prov, model, ok := strings.Cut(t, "/")
			if !ok || model == "" {
				v.bad(fmt.Sprintf("%s.targets[%d]", path, i), "want provider/model, got %q", t)
				continue
			}
			if !v.knownProvider(f, prov) {
				v.bad(fmt.Sprintf("%s.targets[%d]", path, i), "unknown provider %q", prov)
			}
		}
		if a.Retries != nil && (*a.Retries < 0 || *a.Retries > 10) {
			v.bad(path+".retries", "want 0..10, got %d", *a.Retries)
		}
	}
	for _, name := range sortedKeys(f.Prices) {
		p := f.Prices[name]
		if !strings.Contains(name, "/") {
			v.bad("$.prices."+name, "key must be provider/model")
		}
		if p.Input < 0 || p.Output < 0 || p.CachedInput < 0 || p.CacheWrite < 0 || p.CacheWrite1h < 0 {
			v.bad("$.prices."+name, "prices must not be negative")
		}
	}
	for _, name := range sortedKeys(f.RateLimits) {
		if l := f.RateLimits[name]; l.RPM < 0 || l.TPM < 0 {
			v.bad("$.rate_limits."+name, "limits must not be negative")
		}
	}
	for _, name := range sortedKeys(f.LogContent) {
		if m := f.LogContent[name]; !ValidLogContent(m) {
			v.bad("$.log_content."+name, "want %s, got %q", LogContentValues, m)
		}
	}
	v.checkGroups(f)
	for _, name := range sortedKeys(f.ProviderLimits) {
		if l := f.ProviderLimits[name]; l.RPM < 0 || l.TPM < 0 {
			v.bad("$.provider_limits."+name, "limits must not be negative")
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
