package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

var formatJSON = json.RawMessage(`"json"`)

// formatToWire is Ollama's "format": the schema object for
// Request.Schema, "json" for Request.JSON, else nothing.
func formatToWire(req *llm.Request) json.RawMessage {
	if s := req.Schema; s != nil && len(bytes.TrimSpace(s.Schema)) > 0 {
		return s.Schema
	}
	if req.JSON || req.Schema != nil {
		return formatJSON
	}
	return nil
}

// checkImages refuses a request with images for a model that cannot see
// them. Ollama itself silently drops images sent to a text-only model
// (the answer then ignores them), so the adapter asks /api/show once per
// model whether its capabilities include "vision" and remembers the
// answer. A server too old to report capabilities is trusted.
func (c *Client) checkImages(ctx context.Context, req *llm.Request) error {
	if !req.HasImages() {
		return nil
	}
	ok, err := c.sees(ctx, req.Model)
	if err != nil {
		return err
	}
	return visionErr(req.Model, ok)
}

// sees reports whether model's /api/show capabilities include "vision",
// asking once per model.
func (c *Client) sees(ctx context.Context, model string) (bool, error) {
	c.visionMu.Lock()
	v, known := c.vision[model]
	c.visionMu.Unlock()
	if known {
		return v, nil
	}
	caps, err := c.capabilities(ctx, model)
	if err != nil {
		return false, err
	}
	ok := caps == nil || slices.Contains(caps, "vision")
	c.visionMu.Lock()
	if c.vision == nil {
		c.vision = map[string]bool{}
	}
	if len(c.vision) < maxVisionModels { // a caller may name models: bounded
		c.vision[model] = ok
	}
	c.visionMu.Unlock()
	return ok, nil
}

// maxVisionModels bounds the remembered capability answers.
const maxVisionModels = 256

func visionErr(model string, ok bool) error {
	if ok {
		return nil
	}
	return llm.Unsupported(providerName,
		"model %q does not accept images (its /api/show capabilities have no \"vision\"): use a vision model or send text only", model)
}

// capabilities returns the model's /api/show capabilities; nil when the
// server reports none.
func (c *Client) capabilities(ctx context.Context, model string) ([]string, error) {
	body, _ := json.Marshal(map[string]string{"model": model})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath("api", "show").String(), bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Provider: providerName, Message: "cannot build the request to Ollama: check OLLAMA_HOST", Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, model, time.Now())
	}
	var show struct {
		Capabilities []string `json:"capabilities"`
	}
	// /api/show carries the template and license: a few hundred KiB at most.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&show); err != nil {
		return nil, &llm.Error{Kind: llm.KindUpstream, Provider: providerName, Message: "/api/show answered an unreadable body", Err: err}
	}
	for i := range show.Capabilities {
		show.Capabilities[i] = strings.ToLower(show.Capabilities[i])
	}
	return show.Capabilities, nil
}
