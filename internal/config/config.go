// Package config holds the service's configuration: one struct, defaults
// in one place, loaded from environment variables (and an optional YAML
// file), validated with every problem reported at once.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultGoogleKeyFile is where Docker secrets put the Gemini key.
const DefaultGoogleKeyFile = "/run/secrets/google_api_key"

// Config is the whole configuration. Each field documents its variable
// and default; Load fills it, Validate checks it.
type Config struct {
	Addr              string        // LISTEN_ADDR; default ":" + PORT (PORT default 8000)
	LogLevel          string        // LOG_LEVEL: debug|info|warn|error; default info
	DataDir           string        // DATA_DIR: spool, SQLite ledger; default "./data"
	BodyLimit         int64         // MAX_BODY_BYTES; default 1 MiB
	RequestTimeout    time.Duration // REQUEST_TIMEOUT: one deadline per request, all attempts; default 60s
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT: bound on draining in-flight requests; default 30s
	ReadHeaderTimeout time.Duration // READ_HEADER_TIMEOUT; default 10s
	ReadTimeout       time.Duration // READ_TIMEOUT: whole request (headers and body); default 30s
	IdleTimeout       time.Duration // IDLE_TIMEOUT (keep-alive); default 120s
	MaxHeaderBytes    int           // MAX_HEADER_BYTES; default 64 KiB
	Heartbeat         time.Duration // SSE_HEARTBEAT: comment lines while a stream is idle; default 15s, 0 disables
	ConfigFile        string        // LLM_CONFIG: optional YAML file (providers, aliases, prices, limits)

	Provider string // LLM_PROVIDER: primary provider; default google
	Fallback string // LLM_FALLBACK: fallback provider, "none" for none; default ollama

	Google    Google
	Ollama    Ollama
	OpenAI    OpenAI
	Anthropic Anthropic
	Retry     Retry
	MLflow    MLflow

	RedisURL    string // REDIS_URL: shared limits and cache when set
	RedisPrefix string // REDIS_KEY_PREFIX: namespace of every Redis key; default "llmc:"
	DatabaseURL string // DATABASE_URL: PostgreSQL ledger, keys and budgets when set (else SQLite in DATA_DIR)
	// DatabaseWait bounds the retries of an unreachable DATABASE_URL at
	// start (DATABASE_CONNECT_TIMEOUT; default 60s, 0 = one try).
	DatabaseWait time.Duration

	Cache     Cache
	Images    Images
	RateLimit RateLimit
	Auth      Auth
	Budget    Budget

	// EmbeddingModel is the default embeddings route (EMBEDDING_MODEL):
	// "provider/model" targets, comma-separated, in fallback order (all
	// of one vector dimension); empty: a request names its model.
	EmbeddingModel []string

	// File holds what the optional YAML file adds (aliases, extra providers, prices).
	File *File
}

// Google configures the Gemini adapter.
type Google struct {
	APIKey         string // GOOGLE_API_KEY, or the file GOOGLE_API_KEY_FILE, or /run/secrets/google_api_key
	KeySource      string // where the key came from ("env", "file:<path>", ""), for logs
	Model          string // GOOGLE_MODEL; default gemini-2.5-flash
	BaseURL        string // GOOGLE_GEMINI_BASE_URL; default https://generativelanguage.googleapis.com
	ThinkingBudget int    // GOOGLE_THINKING_BUDGET: 0 off (default), -1 dynamic, N tokens on top of max_tokens
	ThinkingLevel  string // GOOGLE_THINKING_LEVEL: Gemini 3's minimal|low|medium|high; "" derives it from the budget
}

// Ollama configures the Ollama adapter.
type Ollama struct {
	Host  string // OLLAMA_HOST; default http://host.docker.internal:11434 (host:port without scheme accepted)
	Model string // OLLAMA_MODEL; default llama2
}

// OpenAI configures the OpenAI adapter.
type OpenAI struct {
	APIKey  string // OPENAI_API_KEY (or OPENAI_API_KEY_FILE)
	BaseURL string // OPENAI_BASE_URL; default https://api.openai.com/v1
	Model   string // OPENAI_MODEL; default gpt-4o-mini
}

// Anthropic configures the Anthropic adapter.
type Anthropic struct {
	APIKey  string // ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE)
	BaseURL string // ANTHROPIC_BASE_URL; default https://api.anthropic.com
	Model   string // ANTHROPIC_MODEL; default claude-sonnet-4-5
	Version string // ANTHROPIC_VERSION; default 2023-06-01
}

// Retry is the router's attempt policy.
type Retry struct {
	Retries         int           // LLM_RETRIES: retries per target after the first try; default 3
	BaseDelay       time.Duration // LLM_RETRY_BASE_DELAY; default 500ms
	MaxDelay        time.Duration // LLM_RETRY_MAX_DELAY; default 10s
	FirstToken      time.Duration // LLM_FIRST_TOKEN_TIMEOUT: per attempt; default 30s
	StreamIdle      time.Duration // LLM_STREAM_IDLE_TIMEOUT: silence mid-stream; default 30s
	CollectRate     int           // LLM_COLLECT_TOKENS_PER_SEC: a non-stream answer also gets max_tokens at this pace; 0: the first-token timeout alone; default 20
	BreakerFailures int           // LLM_BREAKER_FAILURES: consecutive failures that open it; default 5
	BreakerCooldown time.Duration // LLM_BREAKER_COOLDOWN; default 30s
	FallbackOnAuth  bool          // LLM_FALLBACK_ON_AUTH: a 401/403 of a target goes to the next; default true
	ConnectTimeout  time.Duration // LLM_CONNECT_TIMEOUT: TCP connect to a provider; default 5s
}

// MLflow configures tracking. An empty TrackingURI disables it.
type MLflow struct {
	TrackingURI    string        // MLFLOW_TRACKING_URI; empty disables tracking
	ExperimentName string        // MLFLOW_EXPERIMENT_NAME; default llm-connector
	Token          string        // MLFLOW_TRACKING_TOKEN (bearer)
	Username       string        // MLFLOW_TRACKING_USERNAME
	Password       string        // MLFLOW_TRACKING_PASSWORD
	S3EndpointURL  string        // MLFLOW_S3_ENDPOINT_URL (for s3:// artifact roots)
	AWSAccessKey   string        // AWS_ACCESS_KEY_ID
	AWSSecretKey   string        // AWS_SECRET_ACCESS_KEY
	AWSRegion      string        // AWS_DEFAULT_REGION; default us-east-1
	Mode           string        // MLFLOW_MODE: auto (default) | runs | windows | traces | both
	Queue          string        // MLFLOW_QUEUE: file (default; the spool) | postgres (shared by every instance; needs DATABASE_URL)
	WindowSize     int           // MLFLOW_WINDOW_SIZE: interactions per window run; default 1000
	WindowInterval time.Duration // MLFLOW_WINDOW_INTERVAL: a window run closes at this age; default 60s
	SpoolDir       string        // MLFLOW_SPOOL_DIR; default DATA_DIR/spool
	SpoolMaxBytes  int64         // MLFLOW_SPOOL_MAX_BYTES; default 256 MiB
	SpoolFull      string        // MLFLOW_SPOOL_FULL: drop_oldest (default) | reject
	SpoolSync      time.Duration // MLFLOW_SPOOL_SYNC_INTERVAL: group fsync delay, the machine-crash loss window; default 100ms
	Workers        int           // MLFLOW_WORKERS; default 4
	LogContent     string        // MLFLOW_LOG_CONTENT: full (default) | redacted | none; per caller: the file's log_content
}

// Cache configures the response cache.
type Cache struct {
	Enabled bool          // CACHE_ENABLED; default true
	TTL     time.Duration // CACHE_TTL; default 1h
	Size    int           // CACHE_SIZE: entries in memory; default 10000
	// Sampled also caches requests that sample (temperature above 0, or
	// unset where the API's default samples): CACHE_SAMPLED; default
	// false, so only deterministic requests (temperature 0) are served
	// from cache unless a request opts in (header X-LLM-Cache: on).
	Sampled bool
}

// Images configures the image policy (internal/images).
type Images struct {
	Fetch        bool          // IMAGE_FETCH: the gateway fetches http(s) image URLs; default false
	FetchHosts   string        // IMAGE_FETCH_HOSTS: comma-separated hosts fetched from; empty = any public host
	MaxBytes     int           // IMAGE_MAX_BYTES: one image; default 5 MiB
	MaxTotal     int           // IMAGE_MAX_TOTAL_BYTES: all images of a request; default 20 MiB
	MaxCount     int           // IMAGE_MAX_COUNT: images a request; default 8
	FetchTimeout time.Duration // IMAGE_FETCH_TIMEOUT: one fetch; default 10s
}

// RateLimit configures inbound and outbound limits. 0 means unlimited.
type RateLimit struct {
	RPM      int    // RATE_LIMIT_RPM: requests per minute per caller; default 0
	TPM      int    // RATE_LIMIT_TPM: tokens per minute per caller; default 0
	Key      string // RATE_LIMIT_KEY: user (default; API key's user, else X-User-ID, else IP) | ip
	FailOpen bool   // RATE_LIMIT_FAIL_OPEN: Redis down → serve and count locally; default true
}

// Auth configures caller authentication.
type Auth struct {
	Required   bool   // AUTH_REQUIRED: every request needs an API key; default false (the seed is open)
	UserHeader string // USER_HEADER: caller identity in open mode; default X-User-ID
	AdminKey   string // LLM_ADMIN_KEY (or LLM_ADMIN_KEY_FILE): enables /admin
}

// Budget configures spend limits and the usage ledger.
type Budget struct {
	UserDailyUSD   float64 // USER_BUDGET_DAILY_USD: per user per UTC day; 0 = none (default)
	UserMonthlyUSD float64 // USER_BUDGET_MONTHLY_USD: per user per month; 0 = none (default)
	RetentionDays  int     // LEDGER_RETENTION_DAYS: delete ledger rows older than this; 0 keeps all (default)
	// LEDGER_FLUSH_INTERVAL: how often queued ledger rows are written,
	// how far the usage listings lag (the journal in DATA_DIR holds the
	// rows meanwhile); default 1s.
	FlushInterval time.Duration
	// Budget alerts (see internal/cost/alerts.go); the file's
	// budget_alerts section replaces them.
	AlertWebhookURL string // BUDGET_ALERT_WEBHOOK_URL: POST target of threshold alerts; "" = none
	AlertSecret     string // BUDGET_ALERT_SECRET (or _FILE): HMAC-SHA256 signing key; never logged
	AlertThresholds string // BUDGET_ALERT_THRESHOLDS: percentages of each budget; default 50,80,100
}

// Getenv is how configuration reads the environment (os.Getenv in main,
// a map in tests).
type Getenv func(string) string

// Load reads the configuration from getenv and, when LLM_CONFIG names
// one, the YAML file. It returns every problem at once.
func Load(getenv Getenv) (*Config, error) {
	l := loader{getenv: getenv}
	c := l.config()
	if c.ConfigFile != "" {
		f, err := LoadFile(c.ConfigFile)
		if err != nil {
			l.errs = append(l.errs, err)
		}
		c.File = f
		if f != nil {
			for name, spec := range f.Providers {
				if spec.APIKeyEnv != "" {
					spec.APIKey = l.secret(spec.APIKeyEnv, "")
					f.Providers[name] = spec
				}
			}
			l.readGroupKeys(f)
		}
		l.applyBudgetAlerts(c, f)
	}
	if err := errors.Join(append(l.errs, c.Validate())...); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// Var is one environment variable the configuration reads, with its
// default as text ("" when it has none).
type Var struct{ Name, Default string }

// Variables lists every environment variable Load reads, in the order it
// reads them, with its default: the one definition (Load's) is walked
// with an empty environment, so the list cannot drift from it.
func Variables() []Var {
	l := loader{getenv: func(string) string { return "" }, dry: true, vars: &[]Var{}}
	l.config()
	return *l.vars
}

// config reads every variable into a Config (without the YAML file).
func (l *loader) config() *Config {
	c := &Config{
		LogLevel:          l.str("LOG_LEVEL", "info"),
		DataDir:           l.str("DATA_DIR", "./data"),
		BodyLimit:         int64(l.int("MAX_BODY_BYTES", 1<<20)),
		RequestTimeout:    l.dur("REQUEST_TIMEOUT", 60*time.Second),
		ShutdownTimeout:   l.dur("SHUTDOWN_TIMEOUT", 30*time.Second),
		ReadHeaderTimeout: l.dur("READ_HEADER_TIMEOUT", 10*time.Second),
		ReadTimeout:       l.dur("READ_TIMEOUT", 30*time.Second),
		IdleTimeout:       l.dur("IDLE_TIMEOUT", 120*time.Second),
		MaxHeaderBytes:    l.int("MAX_HEADER_BYTES", 64<<10),
		Heartbeat:         l.dur("SSE_HEARTBEAT", 15*time.Second),
		ConfigFile:        l.str("LLM_CONFIG", ""),
		Provider:          strings.ToLower(l.str("LLM_PROVIDER", "google")),
		Fallback:          strings.ToLower(l.str("LLM_FALLBACK", "ollama")),
		Google: Google{
			Model:          l.str("GOOGLE_MODEL", "gemini-2.5-flash"),
			BaseURL:        l.str("GOOGLE_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
			ThinkingBudget: l.int("GOOGLE_THINKING_BUDGET", 0),
			ThinkingLevel:  strings.ToLower(l.str("GOOGLE_THINKING_LEVEL", "")),
		},
		Ollama: Ollama{
			Host:  l.str("OLLAMA_HOST", "http://host.docker.internal:11434"),
			Model: l.str("OLLAMA_MODEL", "llama2"),
		},
		OpenAI: OpenAI{
			APIKey:  l.secret("OPENAI_API_KEY", ""),
			BaseURL: l.str("OPENAI_BASE_URL", "https://api.openai.com/v1"),
			Model:   l.str("OPENAI_MODEL", "gpt-4o-mini"),
		},
		Anthropic: Anthropic{
			APIKey:  l.secret("ANTHROPIC_API_KEY", ""),
			BaseURL: l.str("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
			Model:   l.str("ANTHROPIC_MODEL", "claude-sonnet-4-5"),
			Version: l.str("ANTHROPIC_VERSION", "2023-06-01"),
		},
		Retry:        l.retry(),
		MLflow:       l.mlflow(),
		RedisURL:     l.secret("REDIS_URL", ""),
		RedisPrefix:  l.str("REDIS_KEY_PREFIX", "llmc:"),
		DatabaseURL:  l.secret("DATABASE_URL", ""),
		DatabaseWait: l.dur("DATABASE_CONNECT_TIMEOUT", 60*time.Second),
		Cache: Cache{
			Enabled: l.bool("CACHE_ENABLED", true),
			TTL:     l.dur("CACHE_TTL", time.Hour),
			Size:    l.int("CACHE_SIZE", 10000),
			Sampled: l.bool("CACHE_SAMPLED", false),
		},
		Images: l.images(),
		RateLimit: RateLimit{
			RPM:      l.int("RATE_LIMIT_RPM", 0),
			TPM:      l.int("RATE_LIMIT_TPM", 0),
			Key:      strings.ToLower(l.str("RATE_LIMIT_KEY", "user")),
			FailOpen: l.bool("RATE_LIMIT_FAIL_OPEN", true),
		},
		Budget: Budget{
			UserDailyUSD:    l.float("USER_BUDGET_DAILY_USD", 0),
			UserMonthlyUSD:  l.float("USER_BUDGET_MONTHLY_USD", 0),
			RetentionDays:   l.int("LEDGER_RETENTION_DAYS", 0),
			FlushInterval:   l.dur("LEDGER_FLUSH_INTERVAL", time.Second),
			AlertWebhookURL: l.str("BUDGET_ALERT_WEBHOOK_URL", ""),
			AlertSecret:     l.secret("BUDGET_ALERT_SECRET", ""),
			AlertThresholds: l.str("BUDGET_ALERT_THRESHOLDS", "50,80,100"),
		},
		Auth: Auth{
			Required:   l.bool("AUTH_REQUIRED", false),
			UserHeader: l.str("USER_HEADER", "X-User-ID"),
			AdminKey:   l.secret("LLM_ADMIN_KEY", ""),
		},
	}
	for _, t := range strings.Split(l.str("EMBEDDING_MODEL", ""), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.EmbeddingModel = append(c.EmbeddingModel, t)
		}
	}
	c.Addr = l.str("LISTEN_ADDR", ":"+l.str("PORT", "8000"))
	l.checkAddr(c.Addr)
	c.Google.APIKey, c.Google.KeySource = l.googleKey()
	if c.MLflow.SpoolDir == "" {
		c.MLflow.SpoolDir = c.DataDir + "/spool"
	}
	return c
}

// Validate reports every problem in c, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	known := map[string]bool{"google": true, "ollama": true, "openai": true, "anthropic": true}
	if c.File != nil {
		for name := range c.File.Providers {
			known[name] = true
		}
	}
	if !known[c.Provider] {
		bad("LLM_PROVIDER=%q: want one of google, ollama, openai, anthropic or a provider from LLM_CONFIG", c.Provider)
	}
	if c.Fallback != "none" && c.Fallback != "" && !known[c.Fallback] {
		bad("LLM_FALLBACK=%q: want a provider name or none", c.Fallback)
	}
	if c.BodyLimit < 1024 {
		bad("MAX_BODY_BYTES=%d: want at least 1024", c.BodyLimit)
	}
	if c.RequestTimeout <= 0 {
		bad("REQUEST_TIMEOUT must be positive")
	}
	if c.Retry.Retries < 0 || c.Retry.Retries > 10 {
		bad("LLM_RETRIES=%d: want 0..10", c.Retry.Retries)
	}
	if c.Retry.BaseDelay <= 0 || c.Retry.MaxDelay < c.Retry.BaseDelay {
		bad("LLM_RETRY_BASE_DELAY and LLM_RETRY_MAX_DELAY: want 0 < base <= max")
	}
	if c.Google.ThinkingBudget < -1 {
		bad("GOOGLE_THINKING_BUDGET=%d: want -1 (dynamic), 0 (off) or a positive budget", c.Google.ThinkingBudget)
	}
	c.validateBudgetAlerts(bad)
	if !ValidThinkingLevel(c.Google.ThinkingLevel) {
		bad("GOOGLE_THINKING_LEVEL=%q: want minimal, low, medium or high", c.Google.ThinkingLevel)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.MLflow.Mode {
	case "auto", "runs", "windows", "traces", "both":
	default:
		bad("MLFLOW_MODE=%q: want auto, runs, windows, traces or both", c.MLflow.Mode)
	}
	if c.Retry.CollectRate < 0 {
		bad("LLM_COLLECT_TOKENS_PER_SEC=%d: want 0 or more", c.Retry.CollectRate)
	}
	switch c.MLflow.Queue {
	case "file":
	case "postgres":
		if c.DatabaseURL == "" {
			bad("MLFLOW_QUEUE=postgres needs DATABASE_URL")
		}
	default:
		bad("MLFLOW_QUEUE=%q: want file or postgres", c.MLflow.Queue)
	}
	if n := c.MLflow.WindowSize; n < 1 || n > 1000 {
		bad("MLFLOW_WINDOW_SIZE=%d: want 1 … 1000 (one log-batch holds 1000 metric values)", n)
	}
	if d := c.MLflow.WindowInterval; d < time.Second || d > time.Hour {
		bad("MLFLOW_WINDOW_INTERVAL=%s: want 1s … 1h", d)
	}
	if !ValidLogContent(c.MLflow.LogContent) {
		bad("MLFLOW_LOG_CONTENT=%q: want %s", c.MLflow.LogContent, LogContentValues)
	}
	switch c.MLflow.SpoolFull {
	case "drop_oldest", "reject":
	default:
		bad("MLFLOW_SPOOL_FULL=%q: want drop_oldest or reject", c.MLflow.SpoolFull)
	}
	if d := c.Budget.FlushInterval; d < 10*time.Millisecond || d > 10*time.Second {
		bad("LEDGER_FLUSH_INTERVAL=%s: want from 10ms to 10s", d)
	}
	if d := c.MLflow.SpoolSync; d <= 0 || d > time.Second {
		bad("MLFLOW_SPOOL_SYNC_INTERVAL=%s: want more than 0 and at most 1s", d)
	}
	if u := c.MLflow.TrackingURI; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		bad("MLFLOW_TRACKING_URI=%q: want an http(s) URL (or empty to disable tracking)", u)
	}
	switch c.RateLimit.Key {
	case "user", "ip":
	default:
		bad("RATE_LIMIT_KEY=%q: want user or ip", c.RateLimit.Key)
	}
	if c.RateLimit.RPM < 0 || c.RateLimit.TPM < 0 {
		bad("RATE_LIMIT_RPM and RATE_LIMIT_TPM must not be negative")
	}
	if c.Cache.Size < 1 {
		bad("CACHE_SIZE=%d: want at least 1", c.Cache.Size)
	}
	return errors.Join(errs...)
}

type loader struct {
	getenv Getenv
	errs   []error
	dry    bool   // Variables: read no files
	vars   *[]Var // Variables: every name read, with its default
}

// note records a variable for Variables.
func (l *loader) note(name string, def any) {
	if l.vars == nil {
		return
	}
	d := fmt.Sprint(def)
	if dd, ok := def.(time.Duration); ok && dd >= time.Second { // 1h0m0s → 1h
		if strings.HasSuffix(d, "m0s") {
			d = strings.TrimSuffix(d, "0s")
		}
		if strings.HasSuffix(d, "h0m") {
			d = strings.TrimSuffix(d, "0m")
		}
	}
	*l.vars = append(*l.vars, Var{Name: name, Default: d})
}

func (l *loader) str(name, def string) string {
	l.note(name, def)
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	return def
}

func (l *loader) int(name string, def int) int {
	l.note(name, def)
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want an integer", name, v))
		return def
	}
	return n
}

func (l *loader) float(name string, def float64) float64 {
	l.note(name, def)
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want a non-negative number", name, v))
		return def
	}
	return f
}

func (l *loader) bool(name string, def bool) bool {
	l.note(name, def)
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
	return b
}

func (l *loader) dur(name string, def time.Duration) time.Duration {
	l.note(name, def)
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if n, err2 := strconv.Atoi(v); err2 == nil && n >= 0 { // bare seconds
			return time.Duration(n) * time.Second
		} else if err2 == nil {
			l.errs = append(l.errs, fmt.Errorf("%s=%q: must not be negative", name, v))
			return def
		}
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want a duration such as 500ms or 30s", name, v))
		return def
	}
	if d < 0 {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: must not be negative", name, v))
		return def
	}
	return d
}

// checkAddr refuses a listen address that would fail only at listen: it
// must be host:port with a numeric port 0..65535 (PORT alone is the
// port).
func (l *loader) checkAddr(addr string) {
	name := "LISTEN_ADDR"
	if strings.TrimSpace(l.getenv(name)) == "" {
		name = "PORT"
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		if n, err = strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
			err = errors.New("out of range")
		}
	}
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want a port number 0..65535 (LISTEN_ADDR: host:port)", name, l.getenv(name)))
	}
}

// secret reads NAME, or the file named by NAME_FILE. The value is never
// part of an error message.
func (l *loader) secret(name, def string) string {
	l.note(name, def)
	l.note(name+"_FILE", "")
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	if path := strings.TrimSpace(l.getenv(name + "_FILE")); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s_FILE: %w", name, err))
			return def
		}
		return strings.TrimSpace(string(b))
	}
	return def
}

func (l *loader) googleKey() (key, source string) {
	l.note("GOOGLE_API_KEY", "")
	l.note("GOOGLE_API_KEY_FILE", DefaultGoogleKeyFile)
	if l.dry {
		return "", ""
	}
	if v := strings.TrimSpace(l.getenv("GOOGLE_API_KEY")); v != "" {
		return v, "env"
	}
	path := strings.TrimSpace(l.getenv("GOOGLE_API_KEY_FILE"))
	explicit := path != ""
	if !explicit {
		path = DefaultGoogleKeyFile
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if explicit {
			l.errs = append(l.errs, fmt.Errorf("GOOGLE_API_KEY_FILE: %w", err))
		}
		return "", ""
	}
	return strings.TrimSpace(string(b)), "file:" + path
}

// retry reads the retry, stall-detection and breaker settings.
func (l *loader) retry() Retry {
	return Retry{
		Retries:         l.int("LLM_RETRIES", 3),
		BaseDelay:       l.dur("LLM_RETRY_BASE_DELAY", 500*time.Millisecond),
		MaxDelay:        l.dur("LLM_RETRY_MAX_DELAY", 10*time.Second),
		FirstToken:      l.dur("LLM_FIRST_TOKEN_TIMEOUT", 30*time.Second),
		CollectRate:     l.int("LLM_COLLECT_TOKENS_PER_SEC", 20),
		StreamIdle:      l.dur("LLM_STREAM_IDLE_TIMEOUT", 30*time.Second),
		BreakerFailures: l.int("LLM_BREAKER_FAILURES", 5),
		BreakerCooldown: l.dur("LLM_BREAKER_COOLDOWN", 30*time.Second),
		FallbackOnAuth:  l.bool("LLM_FALLBACK_ON_AUTH", true),
		ConnectTimeout:  l.dur("LLM_CONNECT_TIMEOUT", 5*time.Second),
	}
}

// mlflow reads the tracking settings.
func (l *loader) mlflow() MLflow {
	return MLflow{
		TrackingURI:    strings.TrimRight(l.str("MLFLOW_TRACKING_URI", ""), "/"),
		ExperimentName: l.str("MLFLOW_EXPERIMENT_NAME", "llm-connector"),
		Token:          l.secret("MLFLOW_TRACKING_TOKEN", ""),
		Username:       l.str("MLFLOW_TRACKING_USERNAME", ""),
		Password:       l.secret("MLFLOW_TRACKING_PASSWORD", ""),
		S3EndpointURL:  l.str("MLFLOW_S3_ENDPOINT_URL", ""),
		AWSAccessKey:   l.str("AWS_ACCESS_KEY_ID", ""),
		AWSSecretKey:   l.secret("AWS_SECRET_ACCESS_KEY", ""),
		AWSRegion:      l.str("AWS_DEFAULT_REGION", "us-east-1"),
		Mode:           strings.ToLower(l.str("MLFLOW_MODE", "auto")),
		Queue:          strings.ToLower(l.str("MLFLOW_QUEUE", "file")),
		WindowSize:     l.int("MLFLOW_WINDOW_SIZE", 1000),
		WindowInterval: l.dur("MLFLOW_WINDOW_INTERVAL", 60*time.Second),
		SpoolDir:       l.str("MLFLOW_SPOOL_DIR", ""),
		SpoolMaxBytes:  int64(l.int("MLFLOW_SPOOL_MAX_BYTES", 256<<20)),
		SpoolFull:      strings.ToLower(l.str("MLFLOW_SPOOL_FULL", "drop_oldest")),
		SpoolSync:      l.dur("MLFLOW_SPOOL_SYNC_INTERVAL", 100*time.Millisecond),
		Workers:        l.int("MLFLOW_WORKERS", 4),
		LogContent:     strings.ToLower(strings.TrimSpace(l.str("MLFLOW_LOG_CONTENT", "full"))),
	}
}

// images reads the image input bounds.
func (l *loader) images() Images {
	return Images{
		Fetch:        l.bool("IMAGE_FETCH", false),
		FetchHosts:   l.str("IMAGE_FETCH_HOSTS", ""),
		MaxBytes:     l.int("IMAGE_MAX_BYTES", 5<<20),
		MaxTotal:     l.int("IMAGE_MAX_TOTAL_BYTES", 20<<20),
		MaxCount:     l.int("IMAGE_MAX_COUNT", 8),
		FetchTimeout: l.dur("IMAGE_FETCH_TIMEOUT", 10*time.Second),
	}
}
