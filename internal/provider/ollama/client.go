package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

const providerName = "ollama"

// DefaultHost is where Ollama listens unless OLLAMA_HOST says otherwise.
const DefaultHost = "http://127.0.0.1:11434"

// Config configures a Client.
type Config struct {
	// Host is the server address with OLLAMA_HOST semantics (see
	// ParseHost): "http://host:port", "https://host", "host:port", "host",
	// ":11434", optionally with a path prefix. Default: 127.0.0.1:11434.
	Host string
	// HTTPClient sends the requests. Default: a client without an overall
	// timeout (answers stream for as long as the model generates); the
	// request context bounds each call.
	HTTPClient *http.Client
	// KeepAlive is sent as keep_alive: how long Ollama keeps the model
	// loaded after the call, a duration ("5m") or seconds ("0" unloads at
	// once, "-1" keeps it forever). Default: empty, the server's setting.
	KeepAlive string
}

// Client is the Ollama adapter. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	chatURL   string
	http      *http.Client
	keepAlive json.RawMessage
	visionMu  sync.Mutex
	vision    map[string]bool // model → /api/show lists "vision"; at most maxVisionModels
}

var (
	_ llm.Provider = (*Client)(nil)
	_ llm.Pinger   = (*Client)(nil)
)

// New returns a client for the server at cfg.Host. It fails only on an
// invalid Host or KeepAlive; it does not contact the server.
func New(cfg Config) (*Client, error) {
	base, err := ParseHost(cfg.Host)
	if err != nil {
		return nil, err
	}
	ka, err := keepAliveJSON(cfg.KeepAlive)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: base, chatURL: base.JoinPath("api", "chat").String(), http: hc, keepAlive: ka}, nil
}

// Host returns the server address with any user information redacted; it
// is safe to log.
func (c *Client) Host() string { return c.base.Redacted() }

// ParseHost parses an address the way Ollama's own CLI reads OLLAMA_HOST
// (envconfig.Host in v0.17.4): without a scheme it is http with default
// port 11434; "http://" defaults to port 80 and "https://" to 443; a bare
// IP or name gets the default port; ":11434" keeps the empty host (Go
// dials the local machine); "0.0.0.0" is kept as given; "ollama.com" means
// https://ollama.com:443. A path after the address is kept as a prefix (an
// Ollama behind a reverse proxy), trailing slashes dropped. Unlike the CLI,
// which logs a warning and falls back to the default port, an invalid port
// or an unknown scheme is an error.
func ParseHost(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = DefaultHost
	}
	defaultPort := "11434"
	scheme, hostport, ok := strings.Cut(s, "://")
	switch {
	case !ok:
		scheme, hostport = "http", s
		if s == "ollama.com" {
			scheme, hostport = "https", "ollama.com:443"
		}
	case scheme == "http":
		defaultPort = "80"
	case scheme == "https":
		defaultPort = "443"
	default:
		return nil, fmt.Errorf("ollama: host %q: scheme must be http or https", redactHost(s))
	}
	hostport, path, _ := strings.Cut(hostport, "/")
	var user *url.Userinfo
	if at := strings.LastIndex(hostport, "@"); at >= 0 {
		user = userinfo(hostport[:at])
		hostport = hostport[at+1:]
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = "127.0.0.1", defaultPort
		if ip := net.ParseIP(strings.Trim(hostport, "[]")); ip != nil {
			host = ip.String()
		} else if hostport != "" {
			host = hostport
		}
	}
	if port == "" {
		port = defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return nil, fmt.Errorf("ollama: host %q: invalid port %q", redactHost(s), port)
	}
	u := &url.URL{Scheme: scheme, User: user, Host: net.JoinHostPort(host, port)}
	if path = strings.Trim(path, "/"); path != "" {
		u.Path = "/" + path
	}
	// Refuse here what would fail in every request later: a host that
	// is neither an IP address nor a name ("::::", "[::1", spaces).
	if _, err := url.Parse(u.String()); err != nil || !validHost(host) {
		return nil, fmt.Errorf("ollama: host %q: not a valid address", redactHost(s))
	}
	return u, nil
}

// validHost accepts an IP address or a DNS-style name (letters, digits,
// '-', '_', '.'); an empty host dials the local machine.
func validHost(h string) bool {
	if h == "" || net.ParseIP(h) != nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func userinfo(s string) *url.Userinfo {
	name, pass, ok := strings.Cut(s, ":")
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	if !ok {
		return url.User(name)
	}
	if p, err := url.PathUnescape(pass); err == nil {
		pass = p
	}
	return url.UserPassword(name, pass)
}

// redactHost hides a password in a raw host string for error messages.
func redactHost(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := strings.Index(s, "://")
	if start < 0 {
		start = 0
	} else {
		start += 3
	}
	if start > at {
		return s
	}
	return s[:start] + "xxxxx" + s[at:]
}

// CheckModel checks that the server has model, with POST /api/show: an
// unknown model is a 404 naming it and saying ollama pull.
func (c *Client) CheckModel(ctx context.Context, model string) error {
	body, _ := json.Marshal(map[string]string{"model": model})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath("api", "show").String(), bytes.NewReader(body))
	if err != nil {
		return &llm.Error{Kind: llm.KindInternal, Provider: providerName, Message: "cannot build the request to Ollama: check OLLAMA_HOST", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp, model, time.Now())
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}

// Ping checks that the server answers GET /api/version.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.JoinPath("api", "version").String(), nil)
	if err != nil {
		return llm.Errorf(llm.KindInternal, providerName, "ping: %v", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp, "", time.Now())
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<16)).Decode(&v); err != nil || v.Version == "" {
		return &llm.Error{Kind: llm.KindUpstream, Provider: providerName, StatusCode: resp.StatusCode,
			Message: "ping: /api/version answered no version (is this an Ollama server?)", Err: err}
	}
	return nil
}
