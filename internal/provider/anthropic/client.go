// Package anthropic is the adapter for Anthropic's Messages API
// (POST /v1/messages with "stream": true and its named SSE events).
//
// API versions. The anthropic-version header defaults to "2023-06-01",
// under which temperature and top_p are sent as given. Under
// "2026-10-21" (and any later version) the API refuses sampling
// parameters with a 400 even at their default values; the adapter then
// refuses a request that sets Temperature or TopP itself, with
// llm.KindInvalid and a message naming the field, before any network
// call. It never drops them silently, since they change the answer; a
// caller that wants them dropped clears them (or pins 2023-06-01). The
// one exception is a temperature the gateway filled in itself
// (Request.TemperatureIsDefault, the /chat default 0.7): it was not asked
// for, so it is left out.
//
// Fields with no Anthropic equivalent: Seed is ignored (Anthropic has no
// seed and no determinism promise, so nothing the caller relied on is
// lost); a JSON answer (Request.JSON, Request.Schema) is asked for with a
// forced synthetic tool (structured.go).
// User is sent as metadata.user_id.
package anthropic

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
)

// Defaults.
const (
	DefaultBaseURL = "https://api.anthropic.com"
	// Version2023 accepts temperature and top_p; it is the default.
	Version2023 = "2023-06-01"
	// Version2026 refuses sampling parameters; anthropic-sdk-go v2 sends it.
	Version2026 = "2026-10-21"
	// DefaultMaxTokens is sent when the request sets none (the API
	// requires max_tokens).
	DefaultMaxTokens = 1024
)

const providerName = "anthropic"

// Config configures a Client.
type Config struct {
	// BaseURL is the host root, without /v1; default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as x-api-key.
	APIKey string
	// Version is the anthropic-version header; default Version2023.
	Version string
	// HTTPClient defaults to http.DefaultClient. Give it no overall
	// Timeout; bound calls with the context.
	HTTPClient *http.Client
}

// Client is an llm.Provider and an llm.Pinger, safe for concurrent use.
type Client struct {
	base, key, version string
	http               *http.Client
}

// New returns a Client for cfg with the defaults filled in.
func New(cfg Config) *Client {
	c := &Client{base: strings.TrimRight(cfg.BaseURL, "/"), key: cfg.APIKey, version: cfg.Version, http: cfg.HTTPClient}
	if c.base == "" {
		c.base = DefaultBaseURL
	}
	if c.version == "" {
		c.version = Version2023
	}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	return c
}

// Stream sends req and yields the answer: text in Delta chunks, then one
// final chunk with the complete tool calls, the finish reason, the usage
// and the model. Breaking out of the loop cancels the upstream request.
func (c *Client) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		if p := planAnswer(req); p.on {
			yield = answerFilter(p, yield)
		}
		body, err := encodeRequest(req, c.version)
		if err != nil {
			yield(llm.Chunk{}, &llm.Error{Kind: llm.KindInvalid, Provider: providerName, Message: err.Error(), Err: fmt.Errorf("anthropic: encode request: %w", err)})
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		accept := "text/event-stream"
		if req.Collect {
			accept = "application/json"
		}
		resp, err := c.do(ctx, http.MethodPost, "/v1/messages", body, accept)
		if err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		defer resp.Body.Close()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			c.decodeMessage(ctx, resp.Body, yield)
			return
		}
		c.decodeStream(ctx, llm.ReadsReported(ctx, resp.Body), yield)
	}
}

// CheckModel gets the configured model (GET /v1/models/{id}, which takes
// an id or an alias): the deep health check. Unknown is KindNotFound.
func (c *Client) CheckModel(ctx context.Context, model string) error {
	resp, err := c.do(ctx, http.MethodGet, "/v1/models/"+url.PathEscape(model), nil, "application/json")
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Ping lists one model: it checks the address, the key and the version
// without spending tokens.
func (c *Client) Ping(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodGet, "/v1/models?limit=1", nil, "application/json")
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Provider: providerName, Message: "bad base URL", Err: fmt.Errorf("anthropic: new request: %w", err)}
	}
	h := hreq.Header
	h.Set("X-Api-Key", c.key)
	h.Set("Anthropic-Version", c.version)
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Accept", accept)
	return upstream.Do(c.http, hreq, providerName, c.statusError)
}
