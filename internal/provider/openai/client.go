// Package openai is the adapter for the OpenAI Chat Completions API and for
// every server that speaks it (vLLM, llama.cpp server, LM Studio, Groq,
// Together, Ollama's /v1). It always asks the upstream to stream, with
// stream_options.include_usage, and reads the data-only SSE answer; a
// collected request (llm.Request.Collect) is one "stream": false call
// whose chat.completion body is yielded as a stream would be.
package openai

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

// DefaultBaseURL is OpenAI's API root; it includes the /v1 path.
const DefaultBaseURL = "https://api.openai.com/v1"

// The two names the output-token limit goes by.
const (
	// MaxCompletionTokens is OpenAI's current field. Reasoning models
	// (o-series, gpt-5) refuse the legacy field, and every current OpenAI
	// model accepts this one.
	MaxCompletionTokens = "max_completion_tokens"
	// MaxTokens is the legacy field, the only one many compatible servers
	// know.
	MaxTokens = "max_tokens"
)

// Config configures a Client. The zero value talks to api.openai.com
// without a key.
type Config struct {
	// Name is the provider name reported in chunks and errors; default
	// "openai". Compatible servers get their own ("groq", "vllm").
	Name string
	// BaseURL is the API root including /v1; default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer"; empty sends no header
	// (local servers often need none).
	APIKey string
	// Organization and Project set OpenAI-Organization and OpenAI-Project.
	Organization, Project string
	// MaxTokensField names the field Request.MaxTokens is sent in:
	// MaxCompletionTokens or MaxTokens. Default: MaxCompletionTokens when
	// BaseURL is api.openai.com, MaxTokens for any other server.
	MaxTokensField string
	// HTTPClient defaults to http.DefaultClient. Streams can be long: give
	// it no overall Timeout and bound calls with the context instead.
	HTTPClient *http.Client
	// ExtraHeaders are added to every request (after the defaults).
	ExtraHeaders map[string]string
}

// Client is an llm.Provider and an llm.Pinger. It is safe for concurrent
// use.
type Client struct {
	name     string
	base     string
	key      string
	maxField string
	http     *http.Client
	header   http.Header
}

// New returns a Client for cfg with the defaults filled in.
func New(cfg Config) *Client {
	c := &Client{
		name:     cfg.Name,
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		key:      cfg.APIKey,
		maxField: cfg.MaxTokensField,
		http:     cfg.HTTPClient,
		header:   http.Header{},
	}
	if c.name == "" {
		c.name = "openai"
	}
	if c.base == "" {
		c.base = DefaultBaseURL
	}
	if c.maxField == "" {
		c.maxField = MaxTokens
		if u, err := url.Parse(c.base); err == nil && u.Hostname() == "api.openai.com" {
			c.maxField = MaxCompletionTokens
		}
	}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if cfg.APIKey != "" {
		c.header.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	if cfg.Organization != "" {
		c.header.Set("OpenAI-Organization", cfg.Organization)
	}
	if cfg.Project != "" {
		c.header.Set("OpenAI-Project", cfg.Project)
	}
	for k, v := range cfg.ExtraHeaders {
		c.header.Set(k, v)
	}
	return c
}

// Name returns the provider name the client reports.
func (c *Client) Name() string { return c.name }

// Stream sends req and yields the answer as it arrives. Text comes in
// Delta chunks; the last chunk carries the complete tool calls, the
// finish reason, the usage and the model. Breaking out of the loop
// cancels the upstream request.
func (c *Client) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		body, err := encodeRequest(req, c.maxField)
		if err != nil {
			yield(llm.Chunk{}, &llm.Error{Kind: llm.KindInvalid, Provider: c.name, Message: err.Error(), Err: err})
			return
		}
		// No context of its own: breaking out of the loop closes the body
		// early, which ends the upstream request (HTTP/1 closes the
		// connection, HTTP/2 resets the stream).
		accept := "text/event-stream"
		if req.Collect {
			accept = "application/json"
		}
		resp, err := c.do(ctx, http.MethodPost, "/chat/completions", body, accept)
		if err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		defer resp.Body.Close()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			c.decodeCompletion(ctx, resp.Body, resp.ContentLength, yield) // asked for, or a server that ignored "stream"
			return
		}
		c.decodeStream(ctx, llm.ReadsReported(ctx, resp.Body), yield)
	}
}

// Ping lists the models: it checks the address and the key without
// spending tokens.
func (c *Client) Ping(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodGet, "/models", nil, "application/json")
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// do sends one request and returns the response when its status is 2xx;
// any other status is turned into a classified error.
func (c *Client) do(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Provider: c.name, Message: "bad base URL", Err: fmt.Errorf("openai: new request: %w", err)}
	}
	for k, v := range c.header {
		hreq.Header[k] = v
	}
	if body != nil {
		hreq.Header["Content-Type"] = jsonType
	}
	hreq.Header["Accept"] = headerValue(accept)
	return upstream.Do(c.http, hreq, c.name, c.statusError)
}

// The Content-Type and Accept values of every request, shared: header
// values are replaced, never written in place.
var (
	jsonType = []string{"application/json"}
	sseType  = []string{"text/event-stream"}
)

// headerValue is v as a header value, shared when it is a common one.
func headerValue(v string) []string {
	switch v {
	case jsonType[0]:
		return jsonType
	case sseType[0]:
		return sseType
	}
	return []string{v}
}
