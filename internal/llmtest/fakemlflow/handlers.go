package fakemlflow

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const (
	api      = "/api/2.0/mlflow/"
	artProxy = "/api/2.0/mlflow-artifacts/artifacts"
	apiV3    = "/api/3.0/mlflow/traces"
	ajaxV3   = "/ajax-api/3.0/mlflow/traces" // what the UI calls
)

func readBody(r *http.Request) ([]byte, error) {
	defer r.Body.Close()
	return io.ReadAll(io.LimitReader(r.Body, 64<<20))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // Flask's jsonify does not escape <, >, &
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error_code": code, "message": msg})
}

func invalid(w http.ResponseWriter, msg string) {
	writeErr(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", msg)
}

func notFound(w http.ResponseWriter, msg string) {
	writeErr(w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", msg)
}

// htmlError is what Flask answers when the request JSON does not parse.
func htmlError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html lang=en>\n<title>%d %s</title>\n<h1>%s</h1>\n<p>The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.</p>\n",
		status, http.StatusText(status), http.StatusText(status))
}

func missing(w http.ResponseWriter, field string) {
	invalid(w, fmt.Sprintf("Missing value for required parameter '%s'. See the API docs for more information about request parameters.", field))
}

// decode parses a JSON body; false means an HTML 500 went out.
func decode(w http.ResponseWriter, body []byte, v any) bool {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		htmlError(w, http.StatusInternalServerError)
		return false
	}
	return true
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte) {
	p := r.URL.Path
	switch {
	case p == "/health" && r.Method == http.MethodGet:
		// The tracking server's liveness endpoint answers a plain OK.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	case p == "/version" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(s.opt.Version))
	case p == artProxy && r.Method == http.MethodGet:
		s.listProxy(w, r)
	case strings.HasPrefix(p, artProxy+"/"):
		s.artifact(w, r, strings.TrimPrefix(p, artProxy+"/"), body)
	case p == otlpPath && s.ver.atLeast(3, 5):
		if r.Method != http.MethodPost {
			detail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		s.otlpTraces(w, r, body)
	case strings.HasPrefix(p, apiV3) && s.ver.major >= 3:
		s.routeV3(w, r, strings.TrimPrefix(p, apiV3), body)
	case strings.HasPrefix(p, ajaxV3) && s.ver.major >= 3:
		s.routeV3(w, r, strings.TrimPrefix(p, ajaxV3), body)
	case p == "/ajax-api/2.0/mlflow/get-trace-artifact" && r.Method == http.MethodGet:
		s.traceArtifact(w, r.URL.Query().Get("request_id"))
	case strings.HasPrefix(p, api):
		s.routeV2(w, r, strings.TrimPrefix(p, api), body)
	default:
		htmlError(w, http.StatusNotFound)
	}
}

// routeV3 serves /api/3.0/mlflow/traces<rest> (and its /ajax-api twin).
func (s *Server) routeV3(w http.ResponseWriter, r *http.Request, rest string, body []byte) {
	switch {
	case rest == "" && r.Method == http.MethodPost:
		s.startTraceV3(w, body)
	case rest == "/get" && r.Method == http.MethodGet:
		s.getTraceWithSpans(w, r.URL.Query().Get("trace_id"))
	case strings.HasPrefix(rest, "/") && strings.HasSuffix(rest, "/tags") && r.Method == http.MethodPatch:
		s.setTraceTag(w, strings.TrimSuffix(rest[1:], "/tags"), body)
	case strings.HasPrefix(rest, "/") && rest != "/search" && r.Method == http.MethodGet:
		s.getTraceV3(w, rest[1:])
	default:
		htmlError(w, http.StatusNotFound)
	}
}

func (s *Server) routeV2(w http.ResponseWriter, r *http.Request, op string, body []byte) {
	type handler struct {
		method string
		fn     func(http.ResponseWriter, *http.Request, []byte)
	}
	routes := map[string]handler{
		"experiments/get-by-name": {http.MethodGet, s.getExpByName},
		"experiments/get":         {http.MethodGet, s.getExp},
		"experiments/create":      {http.MethodPost, s.createExpH},
		"runs/create":             {http.MethodPost, s.createRun},
		"runs/get":                {http.MethodGet, s.getRun},
		"runs/log-batch":          {http.MethodPost, s.logBatch},
		"runs/update":             {http.MethodPost, s.updateRun},
		"runs/delete":             {http.MethodPost, s.deleteRun},
		"runs/search":             {http.MethodPost, s.searchRuns},
		"artifacts/list":          {http.MethodGet, s.listArtifacts},
	}
	h, ok := routes[op]
	if !ok {
		htmlError(w, http.StatusNotFound)
		return
	}
	if r.Method != h.method {
		htmlError(w, http.StatusMethodNotAllowed)
		return
	}
	h.fn(w, r, body)
}

func (e *experiment) json() map[string]any {
	tags := e.Tags
	if tags == nil {
		tags = []KV{}
	}
	return map[string]any{"experiment_id": e.ID, "name": e.Name, "artifact_location": e.ArtifactLocation,
		"lifecycle_stage": e.Stage, "last_update_time": e.Created, "creation_time": e.Created, "tags": tags}
}

func (s *Server) getExpByName(w http.ResponseWriter, r *http.Request, _ []byte) {
	name := r.URL.Query().Get("experiment_name")
	if name == "" {
		missing(w, "experiment_name")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.expByName(name)
	if e == nil {
		notFound(w, fmt.Sprintf("Could not find experiment with name '%s'", name))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"experiment": e.json()})
}

func (s *Server) getExp(w http.ResponseWriter, r *http.Request, _ []byte) {
	id := r.URL.Query().Get("experiment_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.exps[id]
	if e == nil {
		notFound(w, fmt.Sprintf("No Experiment with id=%s exists", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"experiment": e.json()})
}

func (s *Server) createExpH(w http.ResponseWriter, _ *http.Request, body []byte) {
	var in struct {
		Name             string `json:"name"`
		ArtifactLocation string `json:"artifact_location"`
		Tags             []KV   `json:"tags"`
	}
	if !decode(w, body, &in) {
		return
	}
	if in.Name == "" {
		missing(w, "name")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expByName(in.Name) != nil {
		writeErr(w, http.StatusBadRequest, "RESOURCE_ALREADY_EXISTS",
			fmt.Sprintf("Experiment(name=%s) already exists. Error: (raised as a result of Query-invoked autoflush; consider using a session.no_autoflush block if this flush is occurring prematurely)\n(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.name\n[SQL: INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?)]", in.Name))
		return
	}
	e := s.createExp(in.Name, in.ArtifactLocation, in.Tags)
	writeJSON(w, http.StatusOK, map[string]string{"experiment_id": e.ID})
}

func (r *Run) infoJSON() map[string]any {
	info := map[string]any{"run_uuid": r.ID, "run_id": r.ID, "experiment_id": r.ExperimentID, "run_name": r.Name,
		"user_id": r.UserID, "status": r.Status, "start_time": r.StartTime, "artifact_uri": r.ArtifactURI,
		"lifecycle_stage": r.LifecycleStage}
	if r.EndTime != 0 {
		info["end_time"] = r.EndTime
	}
	return info
}

func (r *Run) json() map[string]any {
	latest := map[string]Metric{}
	for _, m := range r.Metrics {
		latest[m.Key] = m
	}
	metrics := []Metric{}
	for _, m := range latest {
		metrics = append(metrics, m)
	}
	sort.Slice(metrics, func(i, j int) bool { return metrics[i].Key < metrics[j].Key })
	return map[string]any{"info": r.infoJSON(),
		"data":   map[string]any{"metrics": metrics, "params": kvs(r.Params), "tags": kvs(r.Tags)},
		"inputs": map[string]any{}}
}

func kvs(m map[string]string) []KV {
	out := make([]KV, 0, len(m))
	for k, v := range m {
		out = append(out, KV{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (s *Server) createRun(w http.ResponseWriter, _ *http.Request, body []byte) {
	var in struct {
		ExperimentID string `json:"experiment_id"`
		RunName      string `json:"run_name"`
		UserID       string `json:"user_id"`
		StartTime    int64  `json:"start_time"`
		Tags         []KV   `json:"tags"`
	}
	if !decode(w, body, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exps[in.ExperimentID] == nil {
		notFound(w, fmt.Sprintf("No Experiment with id=%s exists", in.ExperimentID))
		return
	}
	for i, t := range in.Tags {
		if msg := checkKey("Tag", fmt.Sprintf("tags[%d].key", i), t.Key); msg != "" {
			invalid(w, msg)
			return
		}
	}
	name := in.RunName
	if name == "" {
		name = "run-" + randHex(3)
	}
	if in.StartTime == 0 {
		in.StartTime = nowMS()
	}
	run := s.newRun(in.ExperimentID, name, in.UserID, in.StartTime)
	for _, t := range in.Tags {
		run.Tags[t.Key] = truncate(t.Value, maxTagValue)
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": map[string]any{"info": run.infoJSON(),
		"data": map[string]any{"tags": kvs(run.Tags)}, "inputs": map[string]any{}}})
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, _ []byte) {
	id := r.URL.Query().Get("run_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.runs[id]
	if run == nil {
		notFound(w, fmt.Sprintf("Run with id=%s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": run.json()})
}

const (
	maxParamValue = 6000
	maxTagValue   = 8000
	maxKey        = 250
)

var keyRE = regexp.MustCompile(`^[/\p{L}\p{N}_.\- ]*$`) // Python's Unicode \w

// checkKey applies MLflow's name rules; "" means the key is fine.
func checkKey(kind, field, key string) string {
	if len(key) > maxKey {
		return fmt.Sprintf("'%s key' exceeds the maximum length of %d characters", kind, maxKey)
	}
	bad := !keyRE.MatchString(key) || strings.HasPrefix(key, "/")
	for _, part := range strings.Split(key, "/") {
		if part == ".." || part == "." {
			bad = true
		}
	}
	if bad {
		return fmt.Sprintf("Invalid value %q for parameter '%s' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such.", key, field)
	}
	return ""
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

type rawMetric struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Timestamp *int64          `json:"timestamp"`
	Step      int64           `json:"step"`
}

func (s *Server) logBatch(w http.ResponseWriter, _ *http.Request, body []byte) {
	var in struct {
		RunID   string      `json:"run_id"`
		Metrics []rawMetric `json:"metrics"`
		Params  []KV        `json:"params"`
		Tags    []KV        `json:"tags"`
	}
	if !decode(w, body, &in) {
		return
	}
	if in.RunID == "" {
		missing(w, "run_id")
		return
	}
	for i, m := range in.Metrics {
		if m.Timestamp == nil {
			missing(w, fmt.Sprintf("metrics[%d].timestamp", i))
			return
		}
	}
	if msg := batchLimits(len(in.Metrics), len(in.Params), len(in.Tags)); msg != "" {
		invalid(w, msg)
		return
	}
	if msg := batchKeys(in.Metrics, in.Params, in.Tags); msg != "" {
		invalid(w, msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.runs[in.RunID]
	if run == nil {
		notFound(w, fmt.Sprintf("Run with id=%s not found", in.RunID))
		return
	}
	var changed []string
	for _, p := range in.Params {
		v := truncate(p.Value, maxParamValue)
		if old, ok := run.Params[p.Key]; ok && old != v {
			changed = append(changed, fmt.Sprintf("{'key': '%s', 'old_value': '%s', 'new_value': '%s'}", p.Key, old, v))
		}
	}
	if len(changed) > 0 {
		invalid(w, fmt.Sprintf("Changing param values is not allowed. Params were already logged='[%s]' for run ID='%s'.", strings.Join(changed, ", "), run.ID))
		return
	}
	for _, p := range in.Params {
		run.Params[p.Key] = truncate(p.Value, maxParamValue)
	}
	for _, t := range in.Tags {
		run.Tags[t.Key] = truncate(t.Value, maxTagValue)
	}
	for _, m := range in.Metrics {
		var v float64
		ts := *m.Timestamp
		if err := json.Unmarshal(m.Value, &v); err != nil {
			v, ts = 0, 0 // the real server stores a non-number as 0.0 at timestamp 0
		}
		run.addMetric(Metric{Key: m.Key, Value: v, Timestamp: ts, Step: m.Step})
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// addMetric stores a metric value once: the SQL store's primary key is
// (run, key, timestamp, step, value), and a re-logged identical value is
// dropped on its IntegrityError path.
func (r *Run) addMetric(m Metric) {
	if r.seen == nil {
		r.seen = map[Metric]bool{}
		for _, old := range r.Metrics {
			r.seen[old] = true
		}
	}
	if r.seen[m] {
		return
	}
	r.seen[m] = true
	r.Metrics = append(r.Metrics, m)
}

func batchLimits(metrics, params, tags int) string {
	const tail = " Please split up %s across multiple requests and try again."
	switch {
	case metrics > 1000:
		return fmt.Sprintf("A batch logging request can contain at most 1000 metrics. Got %d metrics."+tail, metrics, "metrics")
	case params > 100:
		return fmt.Sprintf("A batch logging request can contain at most 100 params. Got %d params."+tail, params, "params")
	case tags > 100:
		return fmt.Sprintf("A batch logging request can contain at most 100 tags. Got %d tags."+tail, tags, "tags")
	case metrics+params+tags > 1000:
		return fmt.Sprintf("A batch logging request can contain at most 1000 metrics, params, and tags. Got %d metrics, params, and tags."+tail, metrics+params+tags, "metrics, params, and tags")
	}
	return ""
}

func batchKeys(metrics []rawMetric, params, tags []KV) string {
	for i, m := range metrics {
		if msg := checkKey("Metric", fmt.Sprintf("metrics[%d].key", i), m.Key); msg != "" {
			return msg
		}
	}
	for i, p := range params {
		if msg := checkKey("Param", fmt.Sprintf("params[%d].key", i), p.Key); msg != "" {
			return msg
		}
	}
	for i, t := range tags {
		if msg := checkKey("Tag", fmt.Sprintf("tags[%d].key", i), t.Key); msg != "" {
			return msg
		}
	}
	return ""
}

func (s *Server) updateRun(w http.ResponseWriter, _ *http.Request, body []byte) {
	var in struct {
		RunID   string `json:"run_id"`
		RunUUID string `json:"run_uuid"`
		Status  string `json:"status"`
		EndTime int64  `json:"end_time"`
		RunName string `json:"run_name"`
	}
	if !decode(w, body, &in) {
		return
	}
	if in.RunID == "" {
		in.RunID = in.RunUUID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.runs[in.RunID]
	if run == nil {
		notFound(w, fmt.Sprintf("Run with id=%s not found", in.RunID))
		return
	}
	switch in.Status { // an unknown status is accepted and ignored
	case "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED":
		run.Status = in.Status
	}
	if in.EndTime != 0 {
		run.EndTime = in.EndTime
	}
	if in.RunName != "" {
		run.Name = in.RunName
		run.Tags["mlflow.runName"] = in.RunName
	}
	writeJSON(w, http.StatusOK, map[string]any{"run_info": run.infoJSON()})
}

func (s *Server) deleteRun(w http.ResponseWriter, _ *http.Request, body []byte) {
	var in struct {
		RunID string `json:"run_id"`
	}
	if !decode(w, body, &in) {
		return
	}
	if in.RunID == "" {
		missing(w, "run_id")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.runs[in.RunID]
	if run == nil {
		notFound(w, fmt.Sprintf("Run with id=%s not found", in.RunID))
		return
	}
	run.LifecycleStage = "deleted"
	writeJSON(w, http.StatusOK, map[string]any{})
}

// viewMatches applies runs/search's run_view_type (default ACTIVE_ONLY).
func viewMatches(view, stage string) bool {
	switch view {
	case "ALL":
		return true
	case "DELETED_ONLY":
		return stage == "deleted"
	}
	return stage != "deleted"
}

func (s *Server) searchRuns(w http.ResponseWriter, _ *http.Request, body []byte) {
	var in struct {
		ExperimentIDs []string `json:"experiment_ids"`
		Filter        string   `json:"filter"`
		MaxResults    int      `json:"max_results"`
		OrderBy       []string `json:"order_by"`
		PageToken     string   `json:"page_token"`
		RunViewType   string   `json:"run_view_type"`
	}
	if !decode(w, body, &in) {
		return
	}
	clauses, msg := parseFilter(in.Filter)
	if msg != "" {
		invalid(w, msg)
		return
	}
	if in.MaxResults <= 0 {
		in.MaxResults = 1000
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*Run
	for _, id := range s.runOrder {
		run := s.runs[id]
		if contains(in.ExperimentIDs, run.ExperimentID) && viewMatches(in.RunViewType, run.LifecycleStage) && matchAll(run, clauses) {
			hits = append(hits, run)
		}
	}
	asc := len(in.OrderBy) > 0 && strings.HasSuffix(strings.ToUpper(in.OrderBy[0]), " ASC")
	sort.SliceStable(hits, func(i, j int) bool {
		if asc {
			return hits[i].StartTime < hits[j].StartTime
		}
		return hits[i].StartTime > hits[j].StartTime
	})
	off, _ := strconv.Atoi(in.PageToken)
	off = min(off, len(hits))
	end := min(off+in.MaxResults, len(hits))
	runs := []any{}
	for _, r := range hits[off:end] {
		runs = append(runs, r.json())
	}
	out := map[string]any{"runs": runs}
	if end < len(hits) {
		out["next_page_token"] = strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, out)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.runs[q.Get("run_id")]
	if run == nil {
		notFound(w, fmt.Sprintf("Run with id=%s not found", q.Get("run_id")))
		return
	}
	files := []map[string]any{}
	if root, ok := strings.CutPrefix(run.ArtifactURI, "mlflow-artifacts:/"); ok {
		files = s.children(root, q.Get("path"), true)
	}
	writeJSON(w, http.StatusOK, map[string]any{"root_uri": run.ArtifactURI, "files": files})
}

// children lists the direct children of root/sub; paths are relative to
// root when full, else to root/sub.
func (s *Server) children(root, sub string, full bool) []map[string]any {
	prefix := root + "/"
	if sub != "" {
		prefix += strings.Trim(sub, "/") + "/"
	}
	seen := map[string]bool{}
	out := []map[string]any{}
	keys := make([]string, 0, len(s.arts))
	for k := range s.arts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(rest, "/")
		rel := name
		if full {
			rel = strings.TrimPrefix(prefix+name, root+"/")
		}
		if seen[rel] {
			continue
		}
		seen[rel] = true
		f := map[string]any{"path": rel, "is_dir": isDir}
		if !isDir {
			f["file_size"] = len(s.arts[k])
		}
		out = append(out, f)
	}
	return out
}

func (s *Server) listProxy(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"files": s.children(strings.Trim(r.URL.Query().Get("path"), "/"), "", false)})
}

func (s *Server) artifact(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	if path == "" || strings.HasPrefix(path, "/") {
		invalid(w, "Invalid path")
		return
	}
	for _, part := range strings.Split(path, "/") {
		if part == ".." || part == "." {
			invalid(w, "Invalid path")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		s.arts[path] = append([]byte(nil), body...)
		writeJSON(w, http.StatusOK, map[string]any{})
	case http.MethodGet:
		b, ok := s.arts[path]
		if !ok {
			notFound(w, fmt.Sprintf("File %s not found", path))
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	default:
		htmlError(w, http.StatusMethodNotAllowed)
	}
}
