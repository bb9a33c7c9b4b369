package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// countTokens, embedContent, batchEmbedContents and the models list of
// the Gemini-native surface.

// gmCountRequest is countTokens' body: contents alone, or a whole
// generateContentRequest (which counts its system instruction and tools).
type gmCountRequest struct {
	Contents               []gmContent `json:"contents"`
	GenerateContentRequest *gmRequest  `json:"generateContentRequest"`
}

func (s *Server) geminiCountTokens(w http.ResponseWriter, r *http.Request, model string) {
	body, ok := s.readGemini(w, r)
	if !ok {
		return
	}
	var c gmCountRequest
	if f := decodeGeminiJSON(body, &c); f != nil {
		writeGeminiFail(w, f)
		return
	}
	g := c.GenerateContentRequest
	switch {
	case g != nil && len(c.Contents) > 0:
		writeGeminiFail(w, gmInvalid("set contents or generateContentRequest, not both"))
		return
	case g == nil:
		g = &gmRequest{Contents: c.Contents}
	case g.Model != "" && strings.TrimPrefix(g.Model, "models/") != model:
		writeGeminiFail(w, gmInvalid("generateContentRequest.model %q differs from the model of the URL", truncate(g.Model, 80)))
		return
	}
	d, f := g.toLLM()
	if f != nil {
		writeGeminiFail(w, f)
		return
	}
	d.req.Model = model
	in := s.input(r, gmEndpointCount, d.req, false)
	in.Model = model
	count := s.GW.CountTokens
	if s.gmCount != nil {
		count = s.gmCount
	}
	n, err := count(r.Context(), in)
	if err != nil {
		geminiErrorFor(w, err)
		return
	}
	if n.Estimated {
		w.Header().Set("X-Token-Count-Estimated", "true") // the backend has no counter: the gateway's estimate
	}
	writeJSON(w, http.StatusOK, map[string]int{"totalTokens": n.InputTokens})
}

// gmEmbedRequest is one embedContent body, and one entry of
// batchEmbedContents' requests.
type gmEmbedRequest struct {
	Model                string     `json:"model"`
	Content              *gmContent `json:"content"`
	TaskType             string     `json:"taskType"`
	Title                string     `json:"title"`
	OutputDimensionality *int       `json:"outputDimensionality"`
}

// maxEmbedBatch is Gemini's own bound on batchEmbedContents.
const maxEmbedBatch = 100

var gmTaskTypes = map[string]bool{"": true, "TASK_TYPE_UNSPECIFIED": true, "RETRIEVAL_QUERY": true, "RETRIEVAL_DOCUMENT": true,
	"SEMANTIC_SIMILARITY": true, "CLASSIFICATION": true, "CLUSTERING": true, "QUESTION_ANSWERING": true,
	"FACT_VERIFICATION": true, "CODE_RETRIEVAL_QUERY": true}

// decodeEmbed parses either body into one llm.EmbedRequest: every entry
// of a batch must ask for the same task type and dimensions (one
// upstream call), and name the path's model.
func decodeEmbed(body []byte, model string, batch bool) (*llm.EmbedRequest, *gmFail) {
	var reqs []gmEmbedRequest
	if batch {
		var b struct {
			Requests []gmEmbedRequest `json:"requests"`
		}
		if f := decodeGeminiJSON(body, &b); f != nil {
			return nil, f
		}
		if len(b.Requests) == 0 || len(b.Requests) > maxEmbedBatch {
			return nil, gmInvalid("requests must hold 1 to %d embed requests, got %d", maxEmbedBatch, len(b.Requests))
		}
		reqs = b.Requests
	} else {
		var one gmEmbedRequest
		if f := decodeGeminiJSON(body, &one); f != nil {
			return nil, f
		}
		reqs = []gmEmbedRequest{one}
	}
	out := &llm.EmbedRequest{Model: model, TaskType: reqs[0].TaskType}
	if d := reqs[0].OutputDimensionality; d != nil {
		out.Dimensions = *d
	}
	for i, q := range reqs {
		if f := q.check(i, model, out); f != nil {
			return nil, f
		}
		text, f := textOnly(q.Content.Parts, fmt.Sprintf("requests[%d].content", i))
		if f != nil {
			return nil, f
		}
		out.Inputs = append(out.Inputs, text)
	}
	return out, nil
}

func (q *gmEmbedRequest) check(i int, model string, first *llm.EmbedRequest) *gmFail {
	where := fmt.Sprintf("requests[%d]", i)
	dims := 0
	if q.OutputDimensionality != nil {
		dims = *q.OutputDimensionality
	}
	switch {
	case q.Model != "" && strings.TrimPrefix(q.Model, "models/") != model:
		return gmInvalid("%s.model %q differs from the model of the URL", where, truncate(q.Model, 80))
	case q.Content == nil || len(q.Content.Parts) == 0:
		return gmInvalid("%s.content must hold at least one text part", where)
	case !gmTaskTypes[q.TaskType]:
		return gmInvalid("%s.taskType %q is not a Gemini task type", where, truncate(q.TaskType, 40))
	case q.TaskType != first.TaskType || dims != first.Dimensions:
		return gmInvalid("%s: every request of a batch must ask for the same taskType and outputDimensionality", where)
	case dims < 0 || dims > 65536:
		return gmInvalid("%s.outputDimensionality must be between 1 and 65536", where)
	case q.Title != "":
		return gmInvalid("%s.title is not supported by this gateway", where)
	}
	return nil
}

func (s *Server) geminiEmbed(w http.ResponseWriter, r *http.Request, model string, batch bool) {
	body, ok := s.readGemini(w, r)
	if !ok {
		return
	}
	req, f := decodeEmbed(body, model, batch)
	if f != nil {
		writeGeminiFail(w, f)
		return
	}
	who := s.identity(r)
	req.User = who.User
	in := &gateway.EmbedInput{RequestID: RequestID(r.Context()), Endpoint: gmEndpointEmbed, Who: who,
		LimitKey: s.limitKey(r, who), Model: model, Req: req}
	if batch {
		in.Endpoint = gmEndpointBatch
	}
	cc := strings.ToLower(r.Header.Get("Cache-Control"))
	in.NoCache, in.NoStore = strings.Contains(cc, "no-cache"), strings.Contains(cc, "no-store")
	embed := s.GW.Embed
	if s.gmEmbed != nil {
		embed = s.gmEmbed
	}
	res, err := embed(r.Context(), in)
	if res != nil {
		for k, v := range res.Admission.Headers {
			w.Header().Set(k, v)
		}
	}
	if err == nil && res != nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		geminiErrorFor(w, err)
		return
	}
	if res == nil || res.Response == nil || len(res.Response.Vectors) != len(req.Inputs) {
		geminiErrorFor(w, llm.Errorf(llm.KindUpstream, "", "the backend returned a wrong number of embeddings"))
		return
	}
	if res.Response.Provider != "" {
		w.Header().Set("X-LLM-Provider", res.Response.Provider)
	}
	vecs := make([]map[string][]float32, len(res.Response.Vectors))
	for i, v := range res.Response.Vectors {
		vecs[i] = map[string][]float32{"values": v}
	}
	if !batch {
		writeJSON(w, http.StatusOK, map[string]any{"embedding": vecs[0]})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"embeddings": vecs})
}

// gmModel is Gemini's Model resource (wire.md §1.7).
type gmModel struct {
	Name                       string   `json:"name"`
	BaseModelID                string   `json:"baseModelId,omitempty"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	Description                string   `json:"description,omitempty"`
	InputTokenLimit            int      `json:"inputTokenLimit,omitempty"`
	OutputTokenLimit           int      `json:"outputTokenLimit,omitempty"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

// gmLimits are the token limits of the Gemini models whose cards state
// them; other models leave the fields out.
var gmLimits = map[string][2]int{
	"gemini-2.5-flash": {1048576, 65536}, "gemini-2.5-flash-lite": {1048576, 65536},
	"gemini-2.5-pro": {1048576, 65536}, "gemini-2.0-flash": {1048576, 8192}, "gemini-2.0-flash-lite": {1048576, 8192},
}

func gmModelOf(m ModelInfo) gmModel {
	out := gmModel{Name: "models/" + m.ID, Version: "001", DisplayName: m.ID,
		SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"}}
	_, id, _ := strings.Cut(m.ID, "/")
	if m.OwnedBy == "alias" {
		out.Description = "alias with its own fallback chain"
	} else {
		out.BaseModelID = id
		out.Description = "served by " + m.OwnedBy
	}
	if l, ok := gmLimits[id]; ok && m.OwnedBy == "google" {
		out.InputTokenLimit, out.OutputTokenLimit = l[0], l[1]
	}
	return out
}

// allowedModels is GET /v1/models' list: only what the caller's key may use.
func (s *Server) allowedModels(ctx context.Context) []ModelInfo {
	var list []ModelInfo
	if s.Models != nil {
		list = s.Models()
	}
	out := list[:0:0]
	for _, m := range list {
		if s.AllowModel == nil || s.AllowModel(ctx, m.ID) {
			out = append(out, m)
		}
	}
	return out
}

// geminiModels serves GET /v1beta/models (one page: the list is short).
func (s *Server) geminiModels(w http.ResponseWriter, r *http.Request) {
	list := s.allowedModels(r.Context())
	out := make([]gmModel, len(list))
	for i, m := range list {
		out[i] = gmModelOf(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": out})
}

// geminiModel serves GET /v1beta/models/{model...}: a listed name, or a
// bare model name that exactly one listed provider serves.
func (s *Server) geminiModel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("model")
	var match []ModelInfo
	for _, m := range s.allowedModels(r.Context()) {
		if m.ID == name {
			match = []ModelInfo{m}
			break
		}
		if _, id, ok := strings.Cut(m.ID, "/"); ok && id == name {
			match = append(match, m)
		}
	}
	if len(match) != 1 {
		writeGeminiFail(w, &gmFail{status: http.StatusNotFound,
			message: fmt.Sprintf("models/%s is not found for API version v1beta, or is not allowed for this key", sanitizePath(name))})
		return
	}
	writeJSON(w, http.StatusOK, gmModelOf(match[0]))
}
