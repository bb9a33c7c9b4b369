package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// POST /v1/embeddings in OpenAI's shapes: input is a string or an array
// of strings (token arrays are refused), dimensions, encoding_format
// float or base64 (little-endian float32, as OpenAI sends), user; plus
// the provider pin and Gemini's task_type as extensions.

// Bounds of one embeddings request (OpenAI's own: 2,048 inputs; a
// text's size bounds its tokens, about 8,192 at four bytes a token).
const (
	maxEmbedInputs     = 2048
	maxEmbedInputBytes = 64 << 10
	maxEmbedDimensions = 8192
)

// geminiTaskTypes are the task types batchEmbedContents accepts.
var geminiTaskTypes = map[string]bool{
	"TASK_TYPE_UNSPECIFIED": true, "RETRIEVAL_QUERY": true, "RETRIEVAL_DOCUMENT": true,
	"SEMANTIC_SIMILARITY": true, "CLASSIFICATION": true, "CLUSTERING": true,
	"QUESTION_ANSWERING": true, "FACT_VERIFICATION": true, "CODE_RETRIEVAL_QUERY": true,
}

type embRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
	User           string          `json:"user"`
	Provider       string          `json:"provider"`
	TaskType       string          `json:"task_type"`
}

// decodeEmbeddings parses and validates an embeddings body.
func decodeEmbeddings(body []byte) (*embRequest, *llm.EmbedRequest, *oaFail) {
	var r embRequest
	if e := unmarshalObject(body, &r); e != nil {
		return nil, nil, e.oa()
	}
	switch {
	case modelFail(r.Model, r.Provider) != nil:
		return nil, nil, modelFail(r.Model, r.Provider)
	case r.EncodingFormat != "" && r.EncodingFormat != "float" && r.EncodingFormat != "base64":
		return nil, nil, invalidParam("encoding_format", "encoding_format must be float or base64")
	case r.Dimensions != nil && (*r.Dimensions < 1 || *r.Dimensions > maxEmbedDimensions):
		return nil, nil, invalidParam("dimensions", "dimensions must be between 1 and %d", maxEmbedDimensions)
	case r.TaskType != "" && !geminiTaskTypes[r.TaskType]:
		return nil, nil, invalidParam("task_type", "task_type must be one of Gemini's task types, such as RETRIEVAL_QUERY or RETRIEVAL_DOCUMENT")
	}
	inputs, f := embedInputs(r.Input)
	if f != nil {
		return nil, nil, f
	}
	req := &llm.EmbedRequest{Model: r.Model, Inputs: inputs, TaskType: r.TaskType, User: sanitize(r.User, 128)}
	if r.Dimensions != nil {
		req.Dimensions = *r.Dimensions
	}
	return &r, req, nil
}

// embedInputs accepts a string or an array of 1 to maxEmbedInputs
// non-empty strings of at most maxEmbedInputBytes each.
func embedInputs(raw json.RawMessage) ([]string, *oaFail) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, invalidParam("input", "you must provide an input parameter")
	}
	var inputs []string
	if raw[0] == '"' {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return nil, invalidParam("input", "input must be a string or an array of strings")
		}
		inputs = []string{one}
	} else if err := json.Unmarshal(raw, &inputs); err != nil {
		if raw[0] == '[' && tokenArray(raw) {
			return nil, invalidParam("input", "token arrays are not supported by this gateway: send the text as a string or an array of strings")
		}
		return nil, invalidParam("input", "input must be a string or an array of strings")
	}
	if len(inputs) == 0 || len(inputs) > maxEmbedInputs {
		return nil, invalidParam("input", "input must hold 1 to %d strings, got %d", maxEmbedInputs, len(inputs))
	}
	for i, s := range inputs {
		switch {
		case strings.TrimSpace(s) == "":
			return nil, invalidParam("input", "input[%d] is empty: every input must be a non-empty string", i)
		case len(s) > maxEmbedInputBytes:
			return nil, invalidParam("input", "input[%d] is %d bytes: at most %d bytes per input", i, len(s), maxEmbedInputBytes)
		}
	}
	return inputs, nil
}

// tokenArray reports whether raw is an array of integers or of integer
// arrays (OpenAI's token input).
func tokenArray(raw json.RawMessage) bool {
	var flat []int64
	if json.Unmarshal(raw, &flat) == nil {
		return true
	}
	var nested [][]int64
	return json.Unmarshal(raw, &nested) == nil
}

type embData struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type embResponse struct {
	Object string    `json:"object"`
	Data   []embData `json:"data"`
	Model  string    `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
	// Extensions, as on chat completions.
	Provider string `json:"provider,omitempty"`
	Cached   bool   `json:"cached,omitempty"`
}

// encodeEmbeddings is the response body; base64 packs each vector as
// little-endian float32 values.
func encodeEmbeddings(res *gateway.EmbedResult, format string) embResponse {
	r := res.Response
	out := embResponse{Object: "list", Model: r.Model, Data: make([]embData, len(r.Vectors)),
		Provider: r.Provider, Cached: res.Cached}
	for i, v := range r.Vectors {
		out.Data[i] = embData{Object: "embedding", Index: i, Embedding: v}
		if format == "base64" {
			out.Data[i].Embedding = base64Floats(v)
		}
	}
	out.Usage.PromptTokens, out.Usage.TotalTokens = r.Usage.InputTokens, r.Usage.InputTokens
	return out
}

func base64Floats(v []float32) string {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	body, rerr := readBody(w, r, s.bodyLimit(), `{"model": "ollama/nomic-embed-text", "input": "..."}`)
	if rerr != nil {
		writeOAError(w, &oaFail{status: rerr.status, err: oaError{Message: rerr.Error(), Type: "invalid_request_error"}})
		return
	}
	er, req, f := decodeEmbeddings(body)
	if f != nil {
		writeOAError(w, f)
		return
	}
	ctx, cancel := s.requestContext(r, false)
	defer cancel()
	who := s.identity(r)
	if req.User == "" {
		req.User = who.User
	}
	cc := strings.ToLower(r.Header.Get("Cache-Control"))
	in := &gateway.EmbedInput{RequestID: RequestID(ctx), Endpoint: "/v1/embeddings", Who: who, LimitKey: s.limitKey(r, who),
		Model: er.Model, Provider: er.Provider, Req: req,
		NoCache: strings.Contains(cc, "no-cache"), NoStore: strings.Contains(cc, "no-store")}
	res, err := s.GW.Embed(ctx, in)
	s.embedHeaders(w, res)
	if err != nil {
		s.oaErrorFor(w, s.endErr(err))
		return
	}
	writeJSON(w, http.StatusOK, encodeEmbeddings(res, er.EncodingFormat))
}

func (s *Server) embedHeaders(w http.ResponseWriter, res *gateway.EmbedResult) {
	if res == nil {
		return
	}
	h := w.Header()
	for k, v := range res.Admission.Headers {
		h.Set(k, v)
	}
	if res.Err != nil {
		return
	}
	if res.CostKnown {
		h.Set("X-Cost-USD", strconv.FormatFloat(res.CostUSD, 'f', -1, 64))
	}
	if res.Cached {
		h.Set("X-Cache", "HIT")
	} else {
		h.Set("X-Cache", "MISS")
	}
	if res.Response != nil && res.Response.Provider != "" {
		h.Set("X-LLM-Provider", res.Response.Provider)
	}
}
