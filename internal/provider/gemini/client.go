// Package gemini is the adapter for the Google Gemini API (Generative
// Language API, v1beta), written against its REST wire format rather than
// the genai SDK (see wire.md §2 for why).
//
// A streamed call is one POST to
// {base}/v1beta/{model}:streamGenerateContent?alt=sse; a collected one
// (llm.Request.Collect) is one POST to {model}:generateContent, whose
// single GenerateContentResponse goes through the same decoder as one
// event. The API key travels only in the
// x-goog-api-key header, never in the URL, and never appears in an error.
//
// # Thinking and max_tokens
//
// Gemini 2.5 counts thought tokens against maxOutputTokens, so a small
// max_tokens can be spent entirely on thinking and end in MAX_TOKENS with
// no text. The adapter therefore treats Request.MaxTokens as the
// answer's budget and sends a deliberate thinkingBudget next to it:
//
//   - Config.ThinkingBudget 0 (the default) turns thinking off on the
//     models that allow it (2.5 Flash, Flash-Lite). The Pro models, which
//     cannot, get their smallest budget (128).
//   - N > 0 caps thinking at N tokens and sends maxOutputTokens =
//     MaxTokens + N.
//   - -1 is dynamic thinking; maxOutputTokens = MaxTokens +
//     DynamicThinkingHeadroom.
//
// Gemini 3 and later take a thinkingLevel instead (Config.ThinkingLevel,
// Request.ThinkingLevel; thinking.go maps one onto the other).
//
// Request.ThinkingBudget, when set, overrides Config.ThinkingBudget. An
// answer that is still empty because of thinking is an error of kind
// llm.KindEmpty, never a silent empty success.
package gemini

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"time"
	"unsafe"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// ProviderName is the name the adapter reports in chunks and errors.
const ProviderName = "google"

// DefaultBaseURL is the Gemini API host.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// Config configures a Client.
type Config struct {
	// BaseURL is the API host, without the version path.
	// Default: https://generativelanguage.googleapis.com.
	BaseURL string
	// APIKey is the Gemini API key, sent in the x-goog-api-key header.
	APIKey string
	// ThinkingBudget is the thinking budget of Gemini 2.5 and later: 0
	// (default) turns thinking off where the model allows it, -1 lets the
	// model decide, N > 0 caps it at N tokens. See the package comment for
	// how it changes maxOutputTokens.
	ThinkingBudget int
	// ThinkingLevel is the thinking level of Gemini 3 and later (minimal,
	// low, medium or high; "" derives it from ThinkingBudget: 0 is the
	// lowest level the model takes, -1 its default). Each model gets
	// only the setting its family speaks: a level is translated to a
	// budget for 2.5, a budget to a level for 3.
	ThinkingLevel string
	// HTTPClient sends the requests. Default: http.DefaultClient. Its
	// Timeout must be zero or long enough for a whole streamed answer;
	// per-request deadlines come from the context.
	HTTPClient *http.Client
}

// Client calls the Gemini API. It is safe for concurrent use.
type Client struct {
	base  string
	key   string
	think thinking
	hc    *http.Client
	now   func() time.Time
}

var (
	_ llm.Provider = (*Client)(nil)
	_ llm.Pinger   = (*Client)(nil)
)

// New returns a client for cfg, with defaults applied.
func New(cfg Config) *Client {
	return &Client{
		base:  strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultBaseURL), "/"),
		key:   cfg.APIKey,
		think: thinking{budget: cfg.ThinkingBudget, level: cfg.ThinkingLevel},
		hc:    cmp.Or(cfg.HTTPClient, http.DefaultClient),
		now:   time.Now,
	}
}

// Stream sends req and yields the answer as it arrives. It implements
// llm.Provider: nothing is sent until the sequence is iterated, and
// breaking out of the loop cancels the upstream request.
func (c *Client) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		// No context of its own: breaking out of the loop closes the body
		// early, which ends the upstream request (HTTP/1 closes the
		// connection, HTTP/2 resets the stream).
		resp, err := c.open(ctx, req)
		if err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		defer resp.Body.Close()
		d := newDecoder(req.Model, c.errors())
		if req.Collect {
			c.whole(ctx, resp.Body, resp.ContentLength, d, yield)
			return
		}
		c.relay(ctx, llm.ReadsReported(ctx, resp.Body), d, yield)
	}
}

// maxWhole bounds a generateContent body (upstream.MaxBody).
const maxWhole = upstream.MaxBody

// whole reads the one GenerateContentResponse of generateContent (size
// bytes, -1 when unknown) and
// yields it as the stream's decoder does: its content as one chunk, then
// the final chunk, or the error an empty, blocked or bad answer is.
func (c *Client) whole(ctx context.Context, body io.Reader, size int64, d *decoder, yield func(llm.Chunk, error) bool) {
	raw, err := upstream.ReadSizedString(io.LimitReader(body, maxWhole+1), size)
	if err != nil {
		if ctx.Err() != nil {
			yield(llm.Chunk{}, fmt.Errorf("gemini: read answer: %w", ctx.Err()))
			return
		}
		yield(llm.Chunk{}, upstreamError("answer cut", err))
		return
	}
	if len(raw) > maxWhole {
		yield(llm.Chunk{}, upstreamError(fmt.Sprintf("answer larger than %d bytes", maxWhole), nil))
		return
	}
	chunk, err := d.decode(raw, false)
	if err != nil {
		yield(llm.Chunk{}, err)
		return
	}
	if chunk.HasContent() && !yield(chunk, nil) || !d.others.flush(yield) {
		return
	}
	d.yieldEnd(yield)
}

func (c *Client) errors() errorMapper { return errorMapper{key: c.key, now: c.now} }

// open sends the request and returns the response once it is a 200.
func (c *Client) open(ctx context.Context, req *llm.Request) (*http.Response, error) {
	body, err := c.encode(req)
	if err != nil {
		return nil, err
	}
	path, err := modelPath(req.Model)
	if err != nil {
		return nil, err
	}
	action, accept := ":streamGenerateContent?alt=sse", "text/event-stream"
	if req.Collect {
		action, accept = ":generateContent", "application/json"
	}
	hr, err := c.newRequest(ctx, http.MethodPost, "/v1beta/"+path+action, body)
	if err != nil {
		return nil, err
	}
	hr.Header["Accept"] = []string{accept}
	return c.do(ctx, hr)
}

func (c *Client) encode(req *llm.Request) ([]byte, error) {
	w, err := toWire(req, c.think)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInvalid, Provider: ProviderName,
			Message: "request cannot be encoded (tool parameters or arguments are not valid JSON)",
			Err:     fmt.Errorf("gemini: encode request: %w", err)}
	}
	return body, nil
}

func (c *Client) newRequest(ctx context.Context, method, pathQuery string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, c.base+pathQuery, r)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Provider: ProviderName, Message: "invalid base URL",
			Err: fmt.Errorf("gemini: new request: %w", err)}
	}
	// Canonical keys set directly: Header.Set would canonicalize (and
	// allocate) x-goog-api-key on every request.
	if body != nil {
		hr.Header["Content-Type"] = jsonType
	}
	hr.Header["X-Goog-Api-Key"] = []string{c.key}
	return hr, nil
}

// do sends hr and maps a failure or a non-2xx status to an error.
func (c *Client) do(ctx context.Context, hr *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("gemini: send request: %w", ctx.Err())
		}
		return nil, transportError(err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.errors().fromResponse(resp)
	}
	return resp, nil
}

// relay reads the event stream and yields content chunks, then the
// final chunk or the first error.
func (c *Client) relay(ctx context.Context, body io.Reader, d *decoder, yield func(llm.Chunk, error) bool) {
	for ev, err := range sse.ReadRaw(body) {
		if err != nil {
			if ctx.Err() != nil {
				yield(llm.Chunk{}, fmt.Errorf("gemini: read stream: %w", ctx.Err()))
				return
			}
			if d.done() {
				break // the answer is complete; a cut after it loses nothing
			}
			msg := "stream ended before finish"
			if errors.Is(err, sse.ErrTooLarge) {
				msg = err.Error()
			}
			yield(llm.Chunk{}, upstreamError(msg, err))
			return
		}
		chunk, err := d.decode(unsafe.String(unsafe.SliceData(ev.Data), len(ev.Data)), true)
		if err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		if chunk.HasContent() && !yield(chunk, nil) || !d.others.flush(yield) {
			return
		}
	}
	if ctx.Err() != nil && !d.done() {
		yield(llm.Chunk{}, fmt.Errorf("gemini: read stream: %w", ctx.Err()))
		return
	}
	d.yieldEnd(yield)
}

// CheckModel checks that model exists and the key may use it, with
// models.get: GET /v1beta/{models/x | tunedModels/x}. An unknown model is
// a 404 (KindNotFound).
func (c *Client) CheckModel(ctx context.Context, model string) error {
	path, err := modelPath(model)
	if err != nil {
		return err
	}
	hr, err := c.newRequest(ctx, http.MethodGet, "/v1beta/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, hr)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, upstream.MaxErrorBody))
	return resp.Body.Close()
}

// Ping checks that the API answers and accepts the key, by listing one
// model: GET /v1beta/models?pageSize=1.
func (c *Client) Ping(ctx context.Context) error {
	hr, err := c.newRequest(ctx, http.MethodGet, "/v1beta/models?pageSize=1", nil)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, hr)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, upstream.MaxErrorBody))
	return resp.Body.Close()
}

// jsonType is the Content-Type value of a request body, shared: header
// values are replaced, never written in place.
var jsonType = []string{"application/json"}
