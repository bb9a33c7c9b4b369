package fakemlflow

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// do sends a request and returns status, body and Content-Type.
func do(t testing.TB, s *Server, method, path, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}

func errCode(body string) string {
	var e struct {
		Code string `json:"error_code"`
	}
	json.Unmarshal([]byte(body), &e)
	return e.Code
}

func newRun(t *testing.T, s *Server) (exp, run string) {
	t.Helper()
	exp = s.CreateExperiment("llm-connector", "")
	_, body, _ := do(t, s, "POST", "/api/2.0/mlflow/runs/create", `{"experiment_id":"`+exp+`","run_name":"r","start_time":1}`)
	var out struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			}
		} `json:"run"`
	}
	json.Unmarshal([]byte(body), &out)
	return exp, out.Run.Info.RunID
}

func TestExperimentLifecycle(t *testing.T) {
	s := start(t)
	st, body, _ := do(t, s, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=llm-connector", "")
	if st != 404 || errCode(body) != "RESOURCE_DOES_NOT_EXIST" {
		t.Fatalf("get missing: %d %s", st, body)
	}
	st, body, _ = do(t, s, "POST", "/api/2.0/mlflow/experiments/create", `{"name":"llm-connector"}`)
	if st != 200 || body != "{\"experiment_id\":\"1\"}\n" {
		t.Fatalf("create: %d %s", st, body)
	}
	st, body, _ = do(t, s, "POST", "/api/2.0/mlflow/experiments/create", `{"name":"llm-connector"}`)
	if st != 400 || errCode(body) != "RESOURCE_ALREADY_EXISTS" {
		t.Fatalf("create again: %d %s", st, body)
	}
	st, body, _ = do(t, s, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=llm-connector", "")
	if st != 200 || !strings.Contains(body, `"artifact_location":"mlflow-artifacts:/1"`) {
		t.Fatalf("get: %d %s", st, body)
	}
}

func TestRunErrorsAndLimits(t *testing.T) {
	s := start(t)
	_, run := newRun(t, s)
	metrics := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`{"key":"m%d","value":1,"timestamp":1}`, i))
		}
		return strings.Join(parts, ",")
	}
	kvs := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`{"key":"k%d","value":"v"}`, i))
		}
		return strings.Join(parts, ",")
	}
	cases := []struct {
		name, path, body string
		status           int
		code, msg        string
	}{
		{"unknown experiment", "runs/create", `{"experiment_id":"999999"}`, 404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=999999 exists"},
		{"no run_id", "runs/log-batch", `{}`, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'"},
		{"no timestamp", "runs/log-batch", `{"run_id":"` + run + `","metrics":[{"key":"a","value":1}]}`, 400, "INVALID_PARAMETER_VALUE", "'metrics[0].timestamp'"},
		{"bad key", "runs/log-batch", `{"run_id":"` + run + `","params":[{"key":"../bad","value":"x"}]}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value \"../bad\" for parameter 'params[0].key'`},
		{"long key", "runs/log-batch", `{"run_id":"` + run + `","params":[{"key":"` + strings.Repeat("k", 251) + `","value":"x"}]}`, 400, "INVALID_PARAMETER_VALUE", "'Param key' exceeds the maximum length of 250 characters"},
		{"key of 250 ok", "runs/log-batch", `{"run_id":"` + run + `","params":[{"key":"` + strings.Repeat("k", 250) + `","value":"x"}]}`, 200, "", ""},
		{"1001 metrics", "runs/log-batch", `{"run_id":"` + run + `","metrics":[` + metrics(1001) + `]}`, 400, "INVALID_PARAMETER_VALUE", "at most 1000 metrics. Got 1001 metrics."},
		{"101 params", "runs/log-batch", `{"run_id":"` + run + `","params":[` + kvs(101) + `]}`, 400, "INVALID_PARAMETER_VALUE", "at most 100 params. Got 101 params."},
		{"101 tags", "runs/log-batch", `{"run_id":"` + run + `","tags":[` + kvs(101) + `]}`, 400, "INVALID_PARAMETER_VALUE", "at most 100 tags. Got 101 tags."},
		{"1010 total", "runs/log-batch", `{"run_id":"` + run + `","metrics":[` + metrics(910) + `],"params":[` + kvs(100) + `]}`, 400, "INVALID_PARAMETER_VALUE", "Got 1010 metrics, params, and tags."},
		{"unknown run", "runs/get?run_id=000", "", 404, "RESOURCE_DOES_NOT_EXIST", "Run with id=000 not found"},
		{"bad comparator", "runs/search", `{"experiment_ids":["1"],"filter":"params.model === 'x'"}`, 400, "INVALID_PARAMETER_VALUE", "Invalid comparator '===' not one of '{'!=', '=', 'ILIKE', 'LIKE'}'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := "POST"
			if strings.HasPrefix(c.path, "runs/get") {
				method = "GET"
			}
			st, body, _ := do(t, s, method, "/api/2.0/mlflow/"+c.path, c.body)
			if st != c.status || errCode(body) != c.code || !strings.Contains(body, c.msg) {
				t.Fatalf("got %d %s", st, body)
			}
		})
	}
}

func TestParamsImmutableValuesTruncatedMetricsCoerced(t *testing.T) {
	s := start(t)
	exp, run := newRun(t, s)
	batch := func(body string) (int, string) {
		st, b, _ := do(t, s, "POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"`+run+`",`+body+`}`)
		return st, b
	}
	if st, b := batch(`"params":[{"key":"model","value":"gpt-4o"}]`); st != 200 || b != "{}\n" {
		t.Fatalf("first: %d %s", st, b)
	}
	if st, _ := batch(`"params":[{"key":"model","value":"gpt-4o"}]`); st != 200 {
		t.Fatal("same value again refused")
	}
	st, b := batch(`"params":[{"key":"model","value":"gpt-4o-mini"}]`)
	if st != 400 || !strings.Contains(b, "Changing param values is not allowed") || !strings.Contains(b, "'old_value': 'gpt-4o'") {
		t.Fatalf("change: %d %s", st, b)
	}
	long := strings.Repeat("x", 7000)
	batch(`"params":[{"key":"long","value":"` + long + `"}],"tags":[{"key":"t","value":"` + strings.Repeat("y", 9000) + `"}],"metrics":[{"key":"m","value":"abc","timestamp":5}]`)
	r := s.Runs(exp)[0]
	if len(r.Params["long"]) != 6000 || len(r.Tags["t"]) != 8000 || r.Params["model"] != "gpt-4o" {
		t.Fatalf("params %d tag %d", len(r.Params["long"]), len(r.Tags["t"]))
	}
	if m := r.Metrics[0]; m.Value != 0 || m.Timestamp != 0 {
		t.Fatalf("non-numeric metric stored as %+v", m)
	}
	// An invalid status is accepted and ignored.
	do(t, s, "POST", "/api/2.0/mlflow/runs/update", `{"run_id":"`+run+`","status":"DONE","end_time":9}`)
	if st := s.Runs(exp)[0].Status; st != "RUNNING" {
		t.Fatalf("status = %s", st)
	}
	st, b, _ = do(t, s, "POST", "/api/2.0/mlflow/runs/update", `{"run_id":"`+run+`","status":"FINISHED","end_time":9}`)
	if st != 200 || !strings.Contains(b, `"run_info":{`) || s.Runs(exp)[0].Status != "FINISHED" {
		t.Fatalf("update: %d %s", st, b)
	}
}

func TestMalformedJSONIsHTML500(t *testing.T) {
	s := start(t)
	st, body, ct := do(t, s, "POST", "/api/2.0/mlflow/runs/create", `{"experiment_id":`)
	if st != 500 || !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "Internal Server Error") {
		t.Fatalf("got %d %s %s", st, ct, body)
	}
}

func TestArtifactProxy(t *testing.T) {
	s := start(t)
	exp, run := newRun(t, s)
	base := "/api/2.0/mlflow-artifacts/artifacts/" + exp + "/" + run + "/artifacts/"
	if st, b, _ := do(t, s, "PUT", base+"prompt.txt", "hello"); st != 200 || b != "{}\n" {
		t.Fatalf("put: %d %s", st, b)
	}
	do(t, s, "PUT", base+"llm/response.txt", "world")
	if st, b, _ := do(t, s, "GET", base+"prompt.txt", ""); st != 200 || b != "hello" {
		t.Fatalf("get: %d %s", st, b)
	}
	st, b, _ := do(t, s, "PUT", "/api/2.0/mlflow-artifacts/artifacts/..%2F..%2Fevil.txt", "x")
	if st != 400 || !strings.Contains(b, `"message":"Invalid path"`) {
		t.Fatalf("traversal: %d %s", st, b)
	}
	_, b, _ = do(t, s, "GET", "/api/2.0/mlflow/artifacts/list?run_id="+run, "")
	want := `{"files":[{"is_dir":true,"path":"llm"},{"file_size":5,"is_dir":false,"path":"prompt.txt"}],"root_uri":"mlflow-artifacts:/` + exp + `/` + run + `/artifacts"}`
	if strings.TrimSpace(b) != want {
		t.Fatalf("list:\n got %s\nwant %s", b, want)
	}
	_, b, _ = do(t, s, "GET", "/api/2.0/mlflow/artifacts/list?run_id="+run+"&path=llm", "")
	if !strings.Contains(b, `"path":"llm/response.txt"`) {
		t.Fatalf("list llm: %s", b)
	}
	if got, ok := s.Artifact(run, "llm/response.txt"); !ok || string(got) != "world" {
		t.Fatalf("Artifact = %q %v", got, ok)
	}
}

func TestSearchByTag(t *testing.T) {
	s := start(t)
	exp, run := newRun(t, s)
	do(t, s, "POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"`+run+`","tags":[{"key":"llm_connector.interaction_id","value":"req-1"}],"metrics":[{"key":"success","value":1,"timestamp":1}]}`)
	newRun(t, s) // another run (the experiment exists: second create fails; reuse exp)
	for filter, want := range map[string]int{
		"tags.`llm_connector.interaction_id` = 'req-1'":         1,
		"tags.`llm_connector.interaction_id` = 'req-2'":         0,
		"metrics.success = 1 and attributes.status = 'RUNNING'": 1,
		`tags."llm_connector.interaction_id" LIKE 'req-%'`:      1,
		"attributes.run_name ILIKE 'R'":                         1,
	} {
		_, b, _ := do(t, s, "POST", "/api/2.0/mlflow/runs/search", fmt.Sprintf(`{"experiment_ids":[%q],"filter":%q}`, exp, filter))
		var out struct{ Runs []any }
		json.Unmarshal([]byte(b), &out)
		if len(out.Runs) != want {
			t.Errorf("%s: %d runs, want %d (%s)", filter, len(out.Runs), want, b)
		}
	}
}

func TestStartTraceV3(t *testing.T) {
	s, err := Start(Options{Version: "3.5.0"}) // spans from traces.json
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	exp := s.CreateExperiment("llm-connector", "")
	body := `{"trace":{"trace_info":{"trace_id":"tr-0123","trace_location":{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"` + exp + `"}},"state":"OK","tags":{"mlflow.traceName":"chat_completion"}}}}`
	st, b, _ := do(t, s, "POST", "/api/3.0/mlflow/traces", body)
	if st != 200 || !strings.Contains(b, `"mlflow.artifactLocation":"mlflow-artifacts:/`+exp+`/traces/tr-0123/artifacts"`) {
		t.Fatalf("start: %d %s", st, b)
	}
	st, b, _ = do(t, s, "POST", "/api/3.0/mlflow/traces", body)
	if st != 500 || errCode(b) != "INTERNAL_ERROR" {
		t.Fatalf("duplicate: %d %s", st, b)
	}
	st, b, _ = do(t, s, "POST", "/api/3.0/mlflow/traces", strings.Replace(body, `"experiment_id":"`+exp+`"`, `"experiment_id":"424242"`, 1))
	if st != 404 || !strings.Contains(b, "No Experiment with id=424242 exists") {
		t.Fatalf("unknown experiment: %d %s", st, b)
	}
	do(t, s, "PUT", "/api/2.0/mlflow-artifacts/artifacts/"+exp+"/traces/tr-0123/artifacts/traces.json", `{"spans":[]}`)
	if st, b, _ := do(t, s, "GET", "/ajax-api/2.0/mlflow/get-trace-artifact?request_id=tr-0123", ""); st != 200 || b != `{"spans":[]}` {
		t.Fatalf("trace artifact: %d %s", st, b)
	}
	if st, _, _ := do(t, s, "GET", "/api/3.0/mlflow/traces/tr-0123", ""); st != 200 {
		t.Fatalf("get trace: %d", st)
	}
	if tr := s.Traces(exp); len(tr) != 1 || string(tr[0].TracesJSON) != `{"spans":[]}` {
		t.Fatalf("Traces = %+v", tr)
	}
}

func TestControls(t *testing.T) {
	s := start(t)
	s.FailNext(2)
	for range 2 {
		if st, _, _ := do(t, s, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", ""); st != 503 {
			t.Fatalf("FailNext: %d", st)
		}
	}
	if st, _, _ := do(t, s, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", ""); st != 200 {
		t.Fatalf("after FailNext: %d", st)
	}
	s.Down()
	if _, err := http.Get(s.URL() + "/api/2.0/mlflow/experiments/get?experiment_id=0"); err == nil {
		t.Fatal("request succeeded while down")
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := do(t, s, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", ""); st != 200 {
		t.Fatalf("after Up: %d", st)
	}
}

func TestAuth(t *testing.T) {
	s, err := Start(Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, _, _ := do(t, s, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", ""); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	req, _ := http.NewRequest("GET", s.URL()+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with token: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestRunsDeleteAndViewType(t *testing.T) {
	s := start(t)
	exp, run := newRun(t, s)
	keep := createRun(t, s, exp)
	for _, id := range []string{run, keep} {
		do(t, s, "POST", api+"runs/log-batch", `{"run_id":"`+id+`","tags":[{"key":"llm_connector.window_id","value":"w-1"}]}`)
	}
	if st, b, _ := do(t, s, "POST", api+"runs/delete", `{"run_id":"`+run+`"}`); st != 200 || b != "{}\n" {
		t.Fatalf("delete: %d %s", st, b)
	}
	if st, b, _ := do(t, s, "POST", api+"runs/delete", `{"run_id":"nope"}`); st != 404 || errCode(b) != "RESOURCE_DOES_NOT_EXIST" {
		t.Fatalf("delete unknown: %d %s", st, b)
	}
	for view, want := range map[string]string{"": keep, `"run_view_type":"ACTIVE_ONLY",`: keep, `"run_view_type":"DELETED_ONLY",`: run, `"run_view_type":"ALL",`: run + "," + keep} {
		_, b, _ := do(t, s, "POST", api+"runs/search", `{`+view+`"experiment_ids":["`+exp+`"],"filter":"tags.llm_connector.window_id = 'w-1'","order_by":["attributes.start_time ASC"]}`)
		var out struct {
			Runs []struct {
				Info struct {
					RunID string `json:"run_id"`
					Stage string `json:"lifecycle_stage"`
				}
			}
		}
		json.Unmarshal([]byte(b), &out)
		var ids []string
		for _, r := range out.Runs {
			ids = append(ids, r.Info.RunID)
		}
		if strings.Join(ids, ",") != want {
			t.Errorf("view %q: %v, want %s", view, ids, want)
		}
	}
	if st, b, _ := do(t, s, "GET", api+"runs/get?run_id="+run, ""); st != 200 || !strings.Contains(b, `"lifecycle_stage":"deleted"`) {
		t.Fatalf("get deleted: %d %s", st, b)
	}
	if c := s.Count(); c.Runs != 2 || c.DeletedRuns != 1 || c.ActiveRuns != 1 {
		t.Fatalf("Count = %+v", c)
	}
	if rs := s.RunsByTag("llm_connector.window_id", "w-1"); len(rs) != 2 || rs[0].LifecycleStage != "deleted" || rs[1].LifecycleStage != "active" {
		t.Fatalf("RunsByTag = %+v", rs)
	}
	if tv := s.TagValues("llm_connector.window_id"); tv["w-1"] != 1 {
		t.Fatalf("TagValues = %v", tv)
	}
}

// Re-logging identical metric values stores them once, as the SQL store's
// primary key does; another step, timestamp or value is a new row.
func TestIdenticalMetricsStoredOnce(t *testing.T) {
	s := start(t)
	exp, run := newRun(t, s)
	batch := `{"run_id":"` + run + `","metrics":[{"key":"latency_ms","value":812.5,"timestamp":7,"step":0},{"key":"latency_ms","value":812.5,"timestamp":7,"step":0},{"key":"latency_ms","value":90,"timestamp":7,"step":1}]}`
	for range 3 {
		if st, _, _ := do(t, s, "POST", api+"runs/log-batch", batch); st != 200 {
			t.Fatalf("log-batch: %d", st)
		}
	}
	do(t, s, "POST", api+"runs/log-batch", `{"run_id":"`+run+`","metrics":[{"key":"latency_ms","value":812.5,"timestamp":8,"step":0}]}`)
	if m := s.Runs(exp)[0].Metrics; len(m) != 3 {
		t.Fatalf("metrics = %+v", m)
	}
}
