package fakegemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// Embedding models the fake serves with :batchEmbedContents and
// :embedContent, and their default vector length.
var embedModels = map[string]int{
	"models/gemini-embedding-001": 3072,
	"models/text-embedding-004":   768,
}

// EmbedRequest is one EmbedContentRequest as the fake decoded it.
type EmbedRequest struct {
	Model                string  `json:"model"`
	Content              Content `json:"content"`
	TaskType             string  `json:"taskType,omitempty"`
	Title                string  `json:"title,omitempty"`
	OutputDimensionality *int    `json:"outputDimensionality,omitempty"`
}

// Embeddings returns the embedding requests received so far (every
// EmbedContentRequest of every batch, in order).
func (s *Server) Embeddings() []EmbedRequest {
	var out []EmbedRequest
	for _, r := range s.Requests() {
		if r.Action != "batchEmbedContents" && r.Action != "embedContent" {
			continue
		}
		var b struct{ Requests []EmbedRequest }
		if r.Action == "embedContent" {
			var one EmbedRequest
			if json.Unmarshal(r.Raw, &one) == nil {
				out = append(out, one)
			}
			continue
		}
		if json.Unmarshal(r.Raw, &b) == nil {
			out = append(out, b.Requests...)
		}
	}
	return out
}

const maxEmbedBatch = 100

// EnqueueEmbed adds replies played in order by the next embedding
// requests: an error Status (with Error and Header) or FaultReset; any
// other reply answers normally.
func (s *Server) EnqueueEmbed(r ...Reply) { s.embedQueue.Push(r...) }

func (c Content) text() string {
	var b strings.Builder
	for _, p := range c.Parts {
		if p.Text != nil {
			b.WriteString(*p.Text)
		}
	}
	return b.String()
}

// serveEmbed answers :batchEmbedContents and :embedContent as the real
// API does: strict decoding, at most 100 requests a batch, each naming
// the model of the URL, non-empty text, and vectors of the model's
// length (outputDimensionality truncates them). A reply queued with
// EnqueueEmbed is played first.
func (s *Server) serveEmbed(w http.ResponseWriter, r *http.Request, rec Recorded) {
	dim, ok := embedModels[rec.Model]
	if !ok {
		writeError(w, notFound(fmt.Sprintf("%s is not found for API version v1beta, or is not supported for %s. "+
			"Call ListModels to see the list of available models and their supported methods.", rec.Model, rec.Action)), nil)
		return
	}
	if rep, ok := s.embedQueue.Pop(); ok && (rep.Fault == FaultReset || (rep.Status != 0 && rep.Status != http.StatusOK)) {
		if rep.Fault == FaultReset {
			fakeserver.NewCall(w, r, &s.cancels, s.closing.C()).Cut()
			return
		}
		writeError(w, errorStatus(rep), rep.Header)
		return
	}
	reqs, field, err := decodeEmbed(rec.Raw, rec.Action == "batchEmbedContents")
	if err != nil {
		writeError(w, invalid("Invalid JSON payload received. "+err.Error()), nil)
		return
	}
	if len(reqs) > maxEmbedBatch {
		writeError(w, invalid("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"), nil)
		return
	}
	out := make([]map[string]any, len(reqs))
	for i, q := range reqs {
		if msg := validateEmbed(rec.Model, field, i, q, rec.Action == "batchEmbedContents"); msg != "" {
			writeError(w, invalid(msg), nil)
			return
		}
		n := dim
		if q.OutputDimensionality != nil && *q.OutputDimensionality > 0 {
			n = min(n, *q.OutputDimensionality)
		}
		out[i] = map[string]any{"values": llmtest.Vector(q.Content.text(), n)}
	}
	if rec.Action == "embedContent" {
		writeJSON(w, http.StatusOK, map[string]any{"embedding": out[0]})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"embeddings": out})
}

func decodeEmbed(raw []byte, batch bool) ([]EmbedRequest, string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if !batch {
		var one EmbedRequest
		err := dec.Decode(&one)
		return []EmbedRequest{one}, "EmbedContentRequest", err
	}
	var b struct {
		Requests []EmbedRequest `json:"requests"`
	}
	err := dec.Decode(&b)
	return b.Requests, "BatchEmbedContentsRequest.requests", err
}

func validateEmbed(model, field string, i int, q EmbedRequest, batch bool) string {
	at := field
	if batch {
		at = fmt.Sprintf("%s[%d]", field, i)
	}
	switch {
	case batch && q.Model != model:
		return fmt.Sprintf("* %s.model: model name in the request (%q) does not match the model in the URL (%q)\n", at, q.Model, model)
	case len(q.Content.Parts) == 0 || strings.TrimSpace(q.Content.text()) == "":
		return fmt.Sprintf("* %s.content: contents is not specified\n", at)
	case q.OutputDimensionality != nil && *q.OutputDimensionality < 0:
		return fmt.Sprintf("* %s.output_dimensionality: must be positive\n", at)
	}
	return ""
}
