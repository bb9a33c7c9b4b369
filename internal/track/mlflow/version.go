package mlflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// traceAPI is how a tracking server takes traces.
type traceAPI int

const (
	// traceUnknown: the version is not known yet.
	traceUnknown traceAPI = iota
	// traceNone: MLflow 2.x has no MLflow 3 traces.
	traceNone
	// traceArtifact: 3.0–3.5 (or a server that hides its version):
	// StartTraceV3 plus a traces.json artifact.
	traceArtifact
	// traceOTLP: 3.6 and later read spans only from OTLP /v1/traces.
	traceOTLP
)

func (a traceAPI) String() string {
	switch a {
	case traceNone:
		return "none"
	case traceArtifact:
		return "start_trace_v3+traces.json"
	case traceOTLP:
		return "otlp"
	}
	return "unknown"
}

// serverVersion is what GET /version answers, e.g. "3.11.1" or
// "3.6.1.dev0".
type serverVersion struct {
	raw          string
	major, minor int
}

func parseVersion(s string) (serverVersion, error) {
	s = strings.TrimSpace(s)
	v := serverVersion{raw: s}
	parts := strings.SplitN(strings.TrimPrefix(s, "v"), ".", 3)
	if len(parts) < 2 {
		return v, fmt.Errorf("mlflow: unrecognised server version %q", shorten(s, 40))
	}
	var err1, err2 error
	v.major, err1 = strconv.Atoi(parts[0])
	v.minor, err2 = strconv.Atoi(leadingDigits(parts[1]))
	if err := errors.Join(err1, err2); err != nil {
		return v, fmt.Errorf("mlflow: unrecognised server version %q", shorten(s, 40))
	}
	return v, nil
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

func (v serverVersion) api() traceAPI {
	switch {
	case v.major < 3:
		return traceNone
	case v.major == 3 && v.minor < 6:
		return traceArtifact
	}
	return traceOTLP
}

// versionCache detects the server's version once and keeps it until a
// connection error says the server may have been replaced.
type versionCache struct {
	cl  *client
	log *slog.Logger

	fetch   sync.Mutex // one GET /version at a time; mu is never held across it
	mu      sync.Mutex
	known   bool
	v       serverVersion
	api     traceAPI
	warned  map[traceAPI]bool
	lastRaw string
}

func newVersionCache(cl *client, log *slog.Logger) *versionCache {
	return &versionCache{cl: cl, log: log, warned: map[traceAPI]bool{}}
}

// get returns the cached trace API, asking GET /version when unknown. A
// server without a usable /version answer (404, HTML, garbage) is taken
// as 3.0–3.5: StartTraceV3 works on every 3.x.
func (vc *versionCache) get(ctx context.Context) (traceAPI, string, error) {
	if api, raw, ok := vc.cached(); ok {
		return api, raw, nil
	}
	vc.fetch.Lock()
	defer vc.fetch.Unlock()
	if api, raw, ok := vc.cached(); ok {
		return api, raw, nil
	}
	raw, err := vc.cl.version(ctx)
	var ae *APIError
	switch {
	case err == nil:
	case errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusTooManyRequests:
		raw = ""
	default:
		return traceUnknown, "", err
	}
	v, perr := parseVersion(raw)
	api := v.api()
	if perr != nil {
		api = traceArtifact
	}
	vc.mu.Lock()
	vc.known, vc.v, vc.api = true, v, api
	vc.tell(api, raw)
	vc.mu.Unlock()
	return api, raw, nil
}

// cached returns the known trace API and version text, if any.
func (vc *versionCache) cached() (traceAPI, string, bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.api, vc.v.raw, vc.known
}

// tell logs the decision once per kind of server (and again when the
// server changes version); vc.mu is held.
func (vc *versionCache) tell(api traceAPI, raw string) {
	if vc.warned[api] && vc.lastRaw == raw {
		return
	}
	vc.warned[api], vc.lastRaw = true, raw
	switch api {
	case traceNone:
		vc.log.Warn("mlflow: the tracking server is MLflow 2.x, which has no GenAI traces; traces are not shipped (runs and windows still are)", "version", raw)
	case traceArtifact:
		if raw == "" {
			vc.log.Warn("mlflow: the tracking server did not say its version; traces go as StartTraceV3 + traces.json (spans stay invisible on MLflow 3.6 and later)")
		} else {
			vc.log.Info("mlflow: traces go as StartTraceV3 + traces.json (MLflow 3.0–3.5)", "version", raw)
		}
	case traceOTLP:
		vc.log.Info("mlflow: traces go over OTLP /v1/traces (MLflow 3.6 and later)", "version", raw)
	}
}

// forget drops the cached version: the next get asks again.
func (vc *versionCache) forget() {
	vc.mu.Lock()
	vc.known = false
	vc.mu.Unlock()
}

// version is GET /version: the server's version as plain text.
func (c *client) version(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/version", nil)
	if err != nil {
		return "", fmt.Errorf("mlflow: version: %w", err)
	}
	c.auth(req)
	req.Header.Set("User-Agent", "llm-connector")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("mlflow: version: %w", scrubURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return "", fmt.Errorf("mlflow: version: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return "", apiError("version", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b)), nil
}
