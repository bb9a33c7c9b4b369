// Package cost prices interactions and keeps account of them: an embedded,
// versioned price table (Table), the usage ledger (Ledger, a track.Sink
// over SQLite or PostgreSQL) and per-user and per-key budgets (Budgets).
package cost

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/llm-connector/llm-connector/internal/llm"
)

//go:embed prices.yaml
var embeddedPrices []byte

// Price is what one model costs, in USD per million tokens.
type Price struct {
	Input       float64 // uncached prompt tokens
	CachedInput float64 // prompt tokens read from a cache
	// CacheWrite and CacheWrite1h are prompt tokens written to the
	// provider's cache (Anthropic: 5-minute and 1-hour entries).
	CacheWrite, CacheWrite1h float64
	Output                   float64 // completion tokens, thinking included
	// Tiers replace the base prices for the whole request when the prompt
	// is longer than their threshold (Gemini 2.5 Pro above 200k tokens).
	// Sorted by threshold, ascending.
	Tiers []Tier
}

// Tier is a price level that applies above a prompt size.
type Tier struct {
	AboveInputTokens int
	Input            float64
	CachedInput      float64
	Output           float64
	CacheWrite       float64
	CacheWrite1h     float64
}

// PriceEntry is one row of a price table, as written in prices.yaml and in
// the configuration file's price overrides. Provider "" matches any
// provider; Model may contain "*" wildcards. CachedInput nil means cached
// tokens cost the input price; CacheWrite nil means cache writes do too,
// and CacheWrite1h nil means the CacheWrite price. Source names the
// table's entry in sources: where and when the price was checked.
type PriceEntry struct {
	Provider     string      `yaml:"provider,omitempty" json:"provider,omitempty"`
	Model        string      `yaml:"model" json:"model"`
	Input        float64     `yaml:"input" json:"input"`
	Output       float64     `yaml:"output" json:"output"`
	CachedInput  *float64    `yaml:"cached_input,omitempty" json:"cached_input,omitempty"`
	CacheWrite   *float64    `yaml:"cache_write,omitempty" json:"cache_write,omitempty"`
	CacheWrite1h *float64    `yaml:"cache_write_1h,omitempty" json:"cache_write_1h,omitempty"`
	Tiers        []TierEntry `yaml:"tiers,omitempty" json:"tiers,omitempty"`
	Source       string      `yaml:"source,omitempty" json:"source,omitempty"`
}

// Source is where a group of prices comes from and the day it was last
// checked (YYYY-MM-DD).
type Source struct {
	URL     string `yaml:"url" json:"url"`
	Checked string `yaml:"checked" json:"checked"`
	Note    string `yaml:"note,omitempty" json:"note,omitempty"`
}

// TierEntry is the file form of Tier.
type TierEntry struct {
	AboveInputTokens int      `yaml:"above_input_tokens" json:"above_input_tokens"`
	Input            float64  `yaml:"input" json:"input"`
	Output           float64  `yaml:"output" json:"output"`
	CachedInput      *float64 `yaml:"cached_input,omitempty" json:"cached_input,omitempty"`
	CacheWrite       *float64 `yaml:"cache_write,omitempty" json:"cache_write,omitempty"`
	CacheWrite1h     *float64 `yaml:"cache_write_1h,omitempty" json:"cache_write_1h,omitempty"`
}

type tableFile struct {
	Version string            `yaml:"version"`
	Date    string            `yaml:"date"`
	Sources map[string]Source `yaml:"sources"`
	Models  []PriceEntry      `yaml:"models"`
}

type exactKey struct{ provider, model string }

type pattern struct {
	provider string
	glob     string
	literal  int // characters that are not "*": the specificity
	order    int // later entries win ties
	price    Price
}

// Table is an immutable price table; it is safe for concurrent use.
type Table struct {
	version, date string
	exact         map[exactKey]Price
	patterns      []pattern // most specific first
	entries       []PriceEntry
	sources       map[string]Source
}

// ParseTable reads a table in the prices.yaml format.
func ParseTable(data []byte) (*Table, error) {
	var f tableFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cost: parse price table: %w", err)
	}
	if f.Version == "" || f.Date == "" {
		return nil, fmt.Errorf("cost: parse price table: version and date are required")
	}
	for name, src := range f.Sources {
		if _, err := time.Parse(time.DateOnly, src.Checked); err != nil || src.URL == "" {
			return nil, fmt.Errorf("cost: parse price table: source %q needs a url and a checked date (YYYY-MM-DD)", name)
		}
	}
	for _, e := range f.Models {
		if _, ok := f.Sources[e.Source]; e.Source != "" && !ok {
			return nil, fmt.Errorf("cost: parse price table: %q names unknown source %q", e.Model, e.Source)
		}
	}
	t, err := build(f.Version, f.Date, f.Models)
	if err != nil {
		return nil, err
	}
	t.sources = f.Sources
	return t, nil
}

var (
	defaultOnce  sync.Once
	defaultTable *Table
	defaultErr   error
)

// Default returns the embedded price table.
func Default() *Table {
	defaultOnce.Do(func() { defaultTable, defaultErr = ParseTable(embeddedPrices) })
	if defaultErr != nil {
		panic(defaultErr) // the embedded file is tested; this is a build bug
	}
	return defaultTable
}

// With returns a table with extra entries from the configuration on top
// of t: an entry with the same provider and model replaces t's, others are
// added. The version gets a suffix naming the overrides, so a ledger row
// always says which prices made its cost.
func (t *Table) With(overrides []PriceEntry) (*Table, error) {
	if len(overrides) == 0 {
		return t, nil
	}
	h := sha256.New()
	for _, e := range overrides {
		fmt.Fprintf(h, "%+v;", e)
		for _, p := range []*float64{e.CachedInput, e.CacheWrite, e.CacheWrite1h} {
			if p != nil {
				fmt.Fprintf(h, "p=%v;", *p)
			}
		}
	}
	version := t.version + "+cfg." + hex.EncodeToString(h.Sum(nil))[:8]
	all := append(append([]PriceEntry(nil), t.entries...), overrides...)
	nt, err := build(version, t.date, all)
	if err != nil {
		return nil, err
	}
	nt.sources = t.sources
	return nt, nil
}

func build(version, date string, entries []PriceEntry) (*Table, error) {
	t := &Table{version: version, date: date, exact: map[exactKey]Price{}, entries: entries}
	for i, e := range entries {
		p, err := e.price()
		if err != nil {
			return nil, err
		}
		prov, model := strings.ToLower(e.Provider), strings.ToLower(e.Model)
		if !strings.Contains(model, "*") {
			t.exact[exactKey{prov, model}] = p
			continue
		}
		lit := len(strings.ReplaceAll(model, "*", ""))
		t.patterns = append(t.patterns, pattern{provider: prov, glob: model, literal: lit, order: i, price: p})
	}
	sort.SliceStable(t.patterns, func(i, j int) bool {
		a, b := t.patterns[i], t.patterns[j]
		if a.literal != b.literal {
			return a.literal > b.literal
		}
		return a.order > b.order
	})
	return t, nil
}

func (e PriceEntry) price() (Price, error) {
	if e.Model == "" {
		return Price{}, fmt.Errorf("cost: price entry without model")
	}
	if e.Input < 0 || e.Output < 0 || negative(e.CachedInput, e.CacheWrite, e.CacheWrite1h) {
		return Price{}, fmt.Errorf("cost: price of %q is negative", e.Model)
	}
	p := Price{Input: e.Input, Output: e.Output, CachedInput: orInput(e.CachedInput, e.Input)}
	p.CacheWrite = orInput(e.CacheWrite, e.Input)
	p.CacheWrite1h = orInput(e.CacheWrite1h, p.CacheWrite)
	for _, te := range e.Tiers {
		if te.AboveInputTokens <= 0 {
			return Price{}, fmt.Errorf("cost: tier of %q needs above_input_tokens > 0", e.Model)
		}
		if te.Input < 0 || te.Output < 0 || negative(te.CachedInput, te.CacheWrite, te.CacheWrite1h) {
			return Price{}, fmt.Errorf("cost: tier price of %q is negative", e.Model)
		}
		tier := Tier{AboveInputTokens: te.AboveInputTokens, Input: te.Input,
			Output: te.Output, CachedInput: orInput(te.CachedInput, te.Input)}
		tier.CacheWrite = orInput(te.CacheWrite, te.Input)
		tier.CacheWrite1h = orInput(te.CacheWrite1h, tier.CacheWrite)
		p.Tiers = append(p.Tiers, tier)
	}
	sort.Slice(p.Tiers, func(i, j int) bool { return p.Tiers[i].AboveInputTokens < p.Tiers[j].AboveInputTokens })
	return p, nil
}

func negative(ps ...*float64) bool {
	for _, p := range ps {
		if p != nil && *p < 0 {
			return true
		}
	}
	return false
}

func orInput(cached *float64, input float64) float64 {
	if cached == nil {
		return input
	}
	return *cached
}

// Version identifies the table; it is stored beside every cost.
func (t *Table) Version() string { return t.version }

// Date is when the embedded prices were last checked (YYYY-MM-DD).
func (t *Table) Date() string { return t.date }

// Lookup finds the price of model served by provider. The order is:
// provider-specific exact, provider-specific pattern, any-provider exact,
// any-provider pattern (longest pattern first); each step tries the name as
// given, then without a "models/" prefix and a date or "-latest" suffix.
// An empty provider with a "provider/model" name is split.
func (t *Table) Lookup(provider, model string) (Price, bool) {
	provider, model = strings.ToLower(provider), strings.ToLower(model)
	if provider == "" {
		if i := strings.IndexByte(model, '/'); i > 0 {
			if p, ok := t.Lookup(model[:i], model[i+1:]); ok {
				return p, true
			}
		}
	}
	base := baseName(model)
	for i, prov := range [2]string{provider, ""} {
		if i == 1 && provider == "" {
			break
		}
		if p, ok := t.exact[exactKey{prov, model}]; ok {
			return p, true
		}
		if p, ok := t.exact[exactKey{prov, base}]; ok && base != model {
			return p, true
		}
		if p, ok := t.matchPattern(prov, model); ok {
			return p, true
		}
		if p, ok := t.matchPattern(prov, base); ok && base != model {
			return p, true
		}
	}
	return Price{}, false
}

func (t *Table) matchPattern(provider, model string) (Price, bool) {
	for _, p := range t.patterns {
		if p.provider == provider && globMatch(p.glob, model) {
			return p.price, true
		}
	}
	return Price{}, false
}

// Cost prices one interaction's normalised usage: uncached input at the
// input price, cached input at the cached price, cache writes at their
// own prices (5-minute and 1-hour), tool-use prompt tokens at
// the input price, output (thinking included) at the output price, all at
// the tier the prompt size selects. known=false means the model is not in
// the table: record it as cost unknown, never as free.
func (t *Table) Cost(provider, model string, u llm.Usage) (usd float64, known bool) {
	p, ok := t.Lookup(provider, model)
	if !ok {
		return 0, false
	}
	return p.Cost(u), true
}

// Estimate is the worst case of a call before it is made: every prompt
// token uncached and maxOutputTokens of output. Budgets reserve it.
func (t *Table) Estimate(provider, model string, inputTokens, maxOutputTokens int) (usd float64, known bool) {
	return t.Cost(provider, model, llm.Usage{InputTokens: inputTokens, OutputTokens: maxOutputTokens})
}

// Cost prices u with p.
// The parts of InputTokens (reads, then 5-minute and 1-hour writes) are
// each capped by what is left, so a bad report never prices more tokens
// than InputTokens.
func (p Price) Cost(u llm.Usage) float64 {
	in, cachedIn, out, w5, w1 := p.Input, p.CachedInput, p.Output, p.CacheWrite, p.CacheWrite1h
	for _, tier := range p.Tiers {
		if u.InputTokens > tier.AboveInputTokens {
			in, cachedIn, out, w5, w1 = tier.Input, tier.CachedInput, tier.Output, tier.CacheWrite, tier.CacheWrite1h
		}
	}
	left := max(u.InputTokens, 0)
	take := func(n int) int {
		n = min(max(n, 0), left)
		left -= n
		return n
	}
	cached, write5, write1 := take(u.CachedInputTokens), take(u.CacheWriteTokens), take(u.CacheWrite1hTokens)
	tool := max(u.ToolUseInputTokens, 0)
	output := max(u.OutputTokens, 0)
	return (float64(left+tool)*in + float64(cached)*cachedIn + float64(write5)*w5 + float64(write1)*w1 +
		float64(output)*out) / 1e6
}

// Entries returns the table's rows (the embedded ones, then overrides).
func (t *Table) Entries() []PriceEntry { return append([]PriceEntry(nil), t.entries...) }

// Source returns the named source of the table's prices.
func (t *Table) Source(name string) (Source, bool) {
	s, ok := t.sources[name]
	return s, ok
}

// baseName strips what providers add to a base model name: a "models/"
// prefix and a version suffix (-2024-07-18, -20250929, -latest, -001).
func baseName(model string) string {
	model = strings.TrimPrefix(model, "models/")
	if m, ok := strings.CutSuffix(model, "-latest"); ok {
		return m
	}
	if n := len(model); n > 11 && model[n-11] == '-' && model[n-6] == '-' && model[n-3] == '-' &&
		allDigits(model[n-10:n-6]) && allDigits(model[n-5:n-3]) && allDigits(model[n-2:]) {
		return model[:n-11]
	}
	i := strings.LastIndexByte(model, '-')
	if i > 0 && (len(model)-i-1 == 8 || len(model)-i-1 == 3) && allDigits(model[i+1:]) {
		return model[:i]
	}
	return model
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// globMatch reports whether s matches pattern, where "*" matches any run
// of characters (slashes and colons included).
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return strings.HasSuffix(s, last)
}
