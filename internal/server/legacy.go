package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// POST /v1/completions, OpenAI's legacy text completions: a prompt
// (a string, or an array of one string) answered as one user turn on
// the same gateway.Chat pipeline, in the text_completion shape.

type lcRequest struct {
	Model       string          `json:"model"`
	Prompt      json.RawMessage `json:"prompt"`
	MaxTokens   *int            `json:"max_tokens"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	Stop        json.RawMessage `json:"stop"`
	Seed        *int64          `json:"seed"`
	Stream      bool            `json:"stream"`
	User        string          `json:"user"`
	N           *int            `json:"n"`
	BestOf      *int            `json:"best_of"`
	Echo        bool            `json:"echo"`
	Suffix      *string         `json:"suffix"`
	Logprobs    *int            `json:"logprobs"`
	LogitBias   json.RawMessage `json:"logit_bias"`
	Presence    *float64        `json:"presence_penalty"`
	Frequency   *float64        `json:"frequency_penalty"`
	Provider    string          `json:"provider"`
}

// defaultLegacyMaxTokens is OpenAI's own default for max_tokens here.
const defaultLegacyMaxTokens = 16

// decodeLegacy parses and validates a /v1/completions body.
func decodeLegacy(body []byte) (*lcRequest, *llm.Request, *oaFail) {
	var r lcRequest
	if e := unmarshalObject(body, &r); e != nil {
		return nil, nil, e.oa()
	}
	switch {
	case modelFail(r.Model, r.Provider) != nil:
		return nil, nil, modelFail(r.Model, r.Provider)
	case r.N != nil && *r.N != 1, r.BestOf != nil && *r.BestOf != 1:
		return nil, nil, invalidParam("n", "n and best_of other than 1 are not supported: this gateway returns exactly one choice")
	case r.Echo:
		return nil, nil, invalidParam("echo", "echo is not supported by this gateway")
	case r.Suffix != nil && *r.Suffix != "":
		return nil, nil, invalidParam("suffix", "suffix (insertion) is not supported by this gateway")
	case r.Logprobs != nil:
		return nil, nil, invalidParam("logprobs", "logprobs are not supported by this gateway")
	case nonNull(r.LogitBias) && string(bytes.TrimSpace(r.LogitBias)) != "{}":
		return nil, nil, invalidParam("logit_bias", "logit_bias is not supported by this gateway")
	case r.Presence != nil && *r.Presence != 0, r.Frequency != nil && *r.Frequency != 0:
		return nil, nil, invalidParam("presence_penalty", "presence_penalty and frequency_penalty are not supported by this gateway")
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2):
		return nil, nil, invalidParam("temperature", "temperature must be between 0 and 2")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return nil, nil, invalidParam("top_p", "top_p must be between 0 and 1")
	}
	prompt, f := legacyPrompt(r.Prompt)
	if f != nil {
		return nil, nil, f
	}
	req := &llm.Request{Model: r.Model, Messages: []llm.Message{{Role: llm.RoleUser, Content: prompt}},
		MaxTokens: defaultLegacyMaxTokens, Temperature: r.Temperature, TopP: r.TopP, Seed: r.Seed, User: sanitize(r.User, 128)}
	if r.MaxTokens != nil {
		if *r.MaxTokens < 1 || *r.MaxTokens > maxTokensLimit {
			return nil, nil, invalidParam("max_tokens", "max_tokens must be between 1 and %d, got %d", maxTokensLimit, *r.MaxTokens)
		}
		req.MaxTokens = *r.MaxTokens
	}
	if req.Stop, f = parseStop(r.Stop); f != nil {
		return nil, nil, f
	}
	return &r, req, nil
}

// legacyPrompt accepts a non-empty string or an array of exactly one;
// several prompts (n answers) and token arrays are refused.
func legacyPrompt(raw json.RawMessage) (string, *oaFail) {
	var one string
	if json.Unmarshal(raw, &one) != nil {
		var many []string
		if err := json.Unmarshal(raw, &many); err != nil || len(many) != 1 {
			return "", invalidParam("prompt", "prompt must be a string or an array of one string (several prompts and token arrays are not supported)")
		}
		one = many[0]
	}
	if one == "" {
		return "", invalidParam("prompt", "prompt must not be empty")
	}
	return one, nil
}

func (s *Server) legacyCompletions(w http.ResponseWriter, r *http.Request) {
	body, rerr := readBody(w, r, s.bodyLimit(), `{"model": "default", "prompt": "..."}`)
	if rerr != nil {
		writeOAError(w, &oaFail{status: rerr.status, err: oaError{Message: rerr.Error(), Type: "invalid_request_error"}})
		return
	}
	lr, req, f := decodeLegacy(body)
	if f != nil {
		writeOAError(w, f)
		return
	}
	in := s.input(r, "/v1/completions", req, lr.Stream)
	in.Model, in.Provider = lr.Model, lr.Provider
	if req.User == "" {
		req.User = in.Who.User
	}
	ev := &lcEvents{id: "cmpl-" + RequestID(r.Context()), created: time.Now().Unix(), model: lr.Model}
	s.answer(w, r, in, ev, ev.whole)
}

type lcChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type lcBody struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []lcChoice `json:"choices"`
	Usage   *oaUsageT  `json:"usage,omitempty"`
	// Extensions, as on chat completions.
	Provider string `json:"provider,omitempty"`
	Cached   bool   `json:"cached,omitempty"`
}

// lcEvents writes text_completion events, data-only, ending with
// data: [DONE]; a failure after the start is a data event with an error
// object, as on chat completions.
type lcEvents struct {
	id      string
	created int64
	model   string
}

func (e *lcEvents) whole(res *gateway.Result) any {
	fr := finishReason(res.Response)
	return lcBody{ID: e.id, Object: "text_completion", Created: e.created, Model: res.Response.Model,
		Choices: []lcChoice{{Text: res.Response.Text, FinishReason: &fr}}, Usage: oaUsage(res.Response.Usage),
		Provider: res.Response.Provider, Cached: res.Cached}
}

func (e *lcEvents) headers(http.Header) {}

func (e *lcEvents) write(sw *sse.Writer, c lcChoice, u *oaUsageT) error {
	b, _ := json.Marshal(lcBody{ID: e.id, Object: "text_completion", Created: e.created, Model: e.model, Choices: []lcChoice{c}, Usage: u})
	return sw.Event("", b)
}

func (e *lcEvents) chunk(sw *sse.Writer, c llm.Chunk) error {
	if c.Model != "" {
		e.model = c.Model
	}
	if c.Delta == "" {
		return nil
	}
	return e.write(sw, lcChoice{Text: c.Delta}, nil)
}

func (e *lcEvents) done(sw *sse.Writer, res *gateway.Result, _ string) error {
	if res.Response.Model != "" {
		e.model = res.Response.Model
	}
	fr := finishReason(res.Response)
	if err := e.write(sw, lcChoice{FinishReason: &fr}, oaUsage(res.Response.Usage)); err != nil {
		return err
	}
	return sw.Event("", []byte("[DONE]"))
}

func (e *lcEvents) fail(sw *sse.Writer, err error) error {
	b, _ := json.Marshal(map[string]oaError{"error": oaErrorBody(statusOf(err), err)})
	return sw.Event("", b)
}

func (e *lcEvents) failBeforeStart(s *Server, w http.ResponseWriter, err error) { s.oaErrorFor(w, err) }
