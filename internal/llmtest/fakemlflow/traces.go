package fakemlflow

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

func traceExp(info map[string]any) string {
	loc, _ := info["trace_location"].(map[string]any)
	exp, _ := loc["mlflow_experiment"].(map[string]any)
	id, _ := exp["experiment_id"].(string)
	return id
}

func traceLocation(info map[string]any) string {
	tags, _ := info["tags"].(map[string]any)
	loc, _ := tags["mlflow.artifactLocation"].(string)
	return loc
}

// startTraceV3 is POST /api/3.0/mlflow/traces.
func (s *Server) startTraceV3(w http.ResponseWriter, body []byte) {
	var in struct {
		Trace struct {
			Info map[string]any `json:"trace_info"`
		} `json:"trace"`
	}
	if !decode(w, body, &in) {
		return
	}
	info := in.Trace.Info
	if info == nil {
		missing(w, "trace")
		return
	}
	exp := traceExp(info)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.exps[exp]
	if e == nil {
		notFound(w, fmt.Sprintf("No Experiment with id=%s exists", exp))
		return
	}
	id, _ := info["trace_id"].(string)
	if id == "" {
		id = "tr-" + randHex(16)
		info["trace_id"] = id
	}
	if _, dup := s.traces[id]; dup {
		writeErr(w, http.StatusInternalServerError, "INTERNAL_ERROR",
			fmt.Sprintf("Dependency rule tried to blank-out primary key column 'trace_tags.request_id' on instance '<SqlTraceTag at 0x7f…>'; trace %s", id))
		return
	}
	if md, ok := info["trace_metadata"].(map[string]any); ok {
		for k, v := range md {
			if sv, ok := v.(string); ok && len([]rune(sv)) > 250 {
				md[k] = truncate(sv, 250)
			}
		}
	}
	tags, _ := info["tags"].(map[string]any)
	if tags == nil {
		tags = map[string]any{}
		info["tags"] = tags
	}
	tags["mlflow.artifactLocation"] = e.ArtifactLocation + "/traces/" + id + "/artifacts"
	if s.spansInStore() { // a SQL store on 3.6+ reads spans only from its spans table
		tags["mlflow.trace.spansLocation"] = "TRACKING_STORE"
	}
	if _, ok := info["state"]; !ok {
		info["state"] = "IN_PROGRESS"
	}
	s.traces[id] = info
	s.trOrder = append(s.trOrder, id)
	writeJSON(w, http.StatusOK, map[string]any{"trace": map[string]any{"trace_info": info}})
}

func (s *Server) getTraceV3(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.traces[id]
	if !ok {
		notFound(w, fmt.Sprintf("Trace with ID %s not found.", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"trace": map[string]any{"trace_info": info}})
}

func (s *Server) setTraceTag(w http.ResponseWriter, id string, body []byte) {
	var in KV
	if !decode(w, body, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.traces[id]
	if !ok {
		notFound(w, fmt.Sprintf("Trace with ID %s not found.", id))
		return
	}
	tags, _ := info["tags"].(map[string]any)
	tags[in.Key] = in.Value
	writeJSON(w, http.StatusOK, map[string]any{})
}

// traceArtifact is what the UI reads for a trace's spans: on 3.6+ the
// OTLP-filled store ({"spans": []} when none arrived, an uploaded
// traces.json ignored), before that the traces.json artifact.
func (s *Server) traceArtifact(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.traces[id]
	if ok && s.spansInStore() {
		w.Header().Set("Content-Type", "application/json")
		if set := s.spans[id]; set != nil && len(set.order) > 0 {
			writeJSON(w, http.StatusOK, map[string]any{"spans": spanDicts(set.list())})
			return
		}
		fmt.Fprint(w, `{"spans": []}`)
		return
	}
	var b []byte
	if ok {
		b, ok = s.arts[strings.TrimPrefix(traceLocation(info), "mlflow-artifacts:/")+"/traces.json"]
	}
	if !ok {
		notFound(w, fmt.Sprintf("Trace data not found for trace %s: traces.json", id))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(json.RawMessage(b))
}

// getTraceWithSpans is GET /api/3.0/mlflow/traces/get?trace_id=: info and
// spans, or "not fully exported" while the store holds no span for it.
func (s *Server) getTraceWithSpans(w http.ResponseWriter, id string) {
	if id == "" {
		missing(w, "trace_id")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.traces[id]
	if !ok {
		notFound(w, fmt.Sprintf("Trace with ID %s not found.", id))
		return
	}
	var spans []map[string]any
	if set := s.spans[id]; set != nil && len(set.order) > 0 && s.spansInStore() {
		spans = spanDicts(set.list())
	} else if !s.spansInStore() {
		var file struct {
			Spans []map[string]any `json:"spans"`
		}
		b := s.arts[strings.TrimPrefix(traceLocation(info), "mlflow-artifacts:/")+"/traces.json"]
		if json.Unmarshal(b, &file) == nil {
			spans = file.Spans
		}
	}
	if len(spans) == 0 {
		notFound(w, fmt.Sprintf("Trace with ID %s is not fully exported yet, please try again later.", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"trace": map[string]any{"trace_info": info, "data": map[string]any{"spans": spans}}})
}
