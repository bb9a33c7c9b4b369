package mlflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

func TestRunCarriesEveryField(t *testing.T) {
	f := startFake(t, fakemlflow.Options{Token: "tok-123456"})
	cfg := testConfig(t, f)
	cfg.Token = "tok-123456"
	tr := openTracker(t, cfg)
	c := sampleCall(1)
	c.RequestedModel = "fast"
	c.Fallback = true
	if err := tr.Record(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, tr)

	runs := f.Runs(expID(t, f))
	if len(runs) != 1 {
		t.Fatalf("runs = %d, want 1", len(runs))
	}
	r := runs[0]
	wantParams := map[string]string{"provider": "gemini", "model": "gemini-2.5-flash", "temperature": "0.7",
		"max_tokens": "256", "requested_model": "fast", "fallback": "true"}
	if d := cmp.Diff(wantParams, r.Params); d != "" {
		t.Errorf("params (-want +got):\n%s", d)
	}
	end := c.Start.Add(c.Duration).UnixMilli()
	wantMetrics := map[string]float64{"tokens_used": 22, "prompt_tokens": 12, "completion_tokens": 7, "thinking_tokens": 3,
		"cached_input_tokens": 0, "latency_ms": 812.5, "success": 1, "retry_count": 1, "cost_usd": 0.00042}
	got := map[string]float64{}
	for _, m := range r.Metrics {
		got[m.Key] = m.Value
		if m.Timestamp != end {
			t.Errorf("metric %s timestamp %d, want %d", m.Key, m.Timestamp, end)
		}
	}
	if d := cmp.Diff(wantMetrics, got); d != "" {
		t.Errorf("metrics (-want +got):\n%s", d)
	}
	for k, v := range map[string]string{TagInteractionID: c.ID, TagSourceName: "llm-connector", TagUser: "alice",
		TagRunName: "chat-gemini-2.5-flash-" + c.ID, "endpoint": "/chat", "streamed": "false", "cached": "false"} {
		if r.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, r.Tags[k], v)
		}
	}
	if _, ok := r.Tags[TagErrorKind]; ok {
		t.Error("successful run has an error_kind tag")
	}
	if r.Status != "FINISHED" || r.EndTime != end || r.StartTime != c.Start.UnixMilli() || r.UserID != "alice" {
		t.Errorf("run info = %+v", r)
	}
	assertArtifacts(t, f, r, c)
	for _, req := range f.Requests() {
		if req.Header.Get("Authorization") != "Bearer tok-123456" {
			t.Fatalf("%s %s without bearer token", req.Method, req.Path)
		}
	}
	calls := f.Calls()
	for _, k := range []string{"POST /api/2.0/mlflow/runs/create", "POST /api/2.0/mlflow/runs/log-batch", "POST /api/2.0/mlflow/runs/update"} {
		if calls[k] != 1 {
			t.Errorf("%s called %d times, want 1", k, calls[k])
		}
	}
	if calls["POST /api/2.0/mlflow/runs/search"] != 0 {
		t.Error("a fresh record searched for its run")
	}
	if st := tr.Stats(); st.Shipped != 1 || st.Failures != 0 || st.LastError != "" {
		t.Errorf("stats = %+v", st)
	}
}

func assertArtifacts(t *testing.T, f *fakemlflow.Server, r fakemlflow.Run, c track.Call) {
	t.Helper()
	p, ok := f.Artifact(r.ID, PromptArtifact)
	if want := "[system]\n" + c.System + "\n\n[user]\n" + c.Prompt; !ok || string(p) != want {
		t.Errorf("prompt.txt = %q, %v; want %q", p, ok, want)
	}
	resp, ok := f.Artifact(r.ID, ResponseArtifact)
	if !ok || string(resp) != c.Response {
		t.Errorf("response.txt = %q, %v; want %q", resp, ok, c.Response)
	}
}

func TestFailedInteractionIsFailedRun(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	tr := openTracker(t, testConfig(t, f))
	c := sampleCall(2)
	c.Success = false
	c.ErrorKind = "rate_limited"
	c.ErrorMessage = "upstream said: quota exceeded for key sk-proj-abcdefgh12345678 (Bearer AIzaSyA1234567890abcdefghijk)"
	c.Response = "partial"
	tr.Record(context.Background(), c)
	waitDrained(t, tr)
	r := f.Runs(expID(t, f))[0]
	if r.Status != "FAILED" || r.Tags[TagErrorKind] != "rate_limited" {
		t.Fatalf("status %s, error_kind %q", r.Status, r.Tags[TagErrorKind])
	}
	msg := r.Tags[TagErrorMessage]
	if !strings.Contains(msg, "quota exceeded") || strings.Contains(msg, "abcdefgh12345678") || strings.Contains(msg, "AIzaSy") {
		t.Fatalf("error_message not redacted: %q", msg)
	}
	if v, _ := r.LatestMetric("success"); v != 0 {
		t.Fatalf("success metric = %v", v)
	}
	assertArtifacts(t, f, r, c)
}

func TestStreamedInteractionRecordsTextAndTTFT(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	tr := openTracker(t, testConfig(t, f))
	c := sampleCall(3)
	c.Streamed = true
	c.TTFT = 123456 * time.Microsecond
	c.Response = "streamed tokens, all of them"
	tr.Record(context.Background(), c)
	waitDrained(t, tr)
	r := f.Runs(expID(t, f))[0]
	if v, ok := r.LatestMetric("ttft_ms"); !ok || v != 123.456 {
		t.Fatalf("ttft_ms = %v, %v", v, ok)
	}
	if r.Tags["streamed"] != "true" {
		t.Fatalf("streamed tag = %q", r.Tags["streamed"])
	}
	assertArtifacts(t, f, r, c)
}

// TestOutageInTheMiddle: 500 interactions, MLflow down for the middle
// part; afterwards exactly 500 runs, no duplicates, every artifact there.
func TestOutageInTheMiddle(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	tr := openTracker(t, testConfig(t, f))
	recordN(t, tr, 0, 200)
	eventually(t, "some runs shipped", func() bool { return tr.Stats().Shipped >= 50 })
	f.Down()
	recordN(t, tr, 200, 500)
	// A call in flight when the server went down may still succeed after
	// the first failures and clear the error: wait for the failing state,
	// which holds from then on (every attempt fails until Up).
	eventually(t, "the outage noticed", func() bool { st := tr.Stats(); return st.Failures > 0 && st.Failing })
	st := tr.Stats()
	if st.LastError == "" || st.Backlog == 0 {
		t.Fatalf("stats during outage = %+v", st)
	}
	if err := f.Up(); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, tr)

	runs := f.Runs(expID(t, f))
	if len(runs) != 500 {
		t.Fatalf("runs = %d, want 500", len(runs))
	}
	seen := map[string]bool{}
	for _, r := range runs {
		id := r.Tags[TagInteractionID]
		if seen[id] {
			t.Fatalf("duplicate run for %s", id)
		}
		seen[id] = true
		if r.Status != "FINISHED" {
			t.Fatalf("run %s status %s", id, r.Status)
		}
		var i int
		fmt.Sscanf(id, "req-%d", &i)
		assertArtifacts(t, f, r, sampleCall(i))
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	tr := openTracker(t, testConfig(t, f))
	f.FailNext(7)
	recordN(t, tr, 0, 20)
	waitDrained(t, tr)
	if n := len(f.Runs(expID(t, f))); n != 20 {
		t.Fatalf("runs = %d, want 20", n)
	}
	// The failures are counted; once deliveries work again the component is
	// healthy and the old error is gone.
	if st := tr.Stats(); st.Failures == 0 || st.Failing || st.LastError != "" {
		t.Fatalf("stats = %+v", st)
	}
}

// spoolRecords writes calls into dir as a previous process would have.
func spoolRecords(t *testing.T, dir string, calls ...track.Call) {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if err := sp.Record(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReplayFindsTheRunItCreated(t *testing.T) {
	for _, status := range []string{"RUNNING", "FINISHED"} {
		t.Run(status, func(t *testing.T) {
			f := startFake(t, fakemlflow.Options{})
			exp := f.CreateExperiment("llm-connector", "")
			c := sampleCall(5)
			runID := f.CreateRunForTest(exp, map[string]string{TagInteractionID: c.ID})
			if status == "FINISHED" {
				http.Post(f.URL()+"/api/2.0/mlflow/runs/update", "application/json",
					strings.NewReader(`{"run_id":"`+runID+`","status":"FINISHED","end_time":1}`))
			}
			cfg := testConfig(t, f)
			spoolRecords(t, cfg.SpoolDir, c)
			tr := openTracker(t, cfg)
			waitDrained(t, tr)
			runs := f.Runs(exp)
			if len(runs) != 1 || runs[0].ID != runID {
				t.Fatalf("runs = %+v, want only %s", runs, runID)
			}
			calls := f.Calls()
			// One search finds the run; one more, after it is finished,
			// makes sure no duplicate exists beside it.
			if calls["POST /api/2.0/mlflow/runs/search"] != 2 || calls["POST /api/2.0/mlflow/runs/create"] != 0 {
				t.Fatalf("calls = %v", calls)
			}
			wantBatches := 1
			if status == "FINISHED" {
				wantBatches = 0 // complete already: nothing is sent again
			} else if runs[0].Status != "FINISHED" || runs[0].Params["model"] != c.Model {
				t.Fatalf("run not completed: %+v", runs[0])
			}
			if calls["POST /api/2.0/mlflow/runs/log-batch"] != wantBatches {
				t.Fatalf("log-batch calls = %d, want %d", calls["POST /api/2.0/mlflow/runs/log-batch"], wantBatches)
			}
		})
	}
}

func TestExperimentCreateRace(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	// Someone else creates the experiment between our get-by-name and create.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/2.0/mlflow/experiments/create" {
			f.CreateExperiment("llm-connector", "")
		}
		f.ServeHTTP(w, r)
	}))
	defer front.Close()
	cfg := testConfig(t, f)
	cfg.TrackingURI = front.URL
	tr := openTracker(t, cfg)
	recordN(t, tr, 0, 3)
	waitDrained(t, tr)
	if n := len(f.Runs(expID(t, f))); n != 3 {
		t.Fatalf("runs = %d", n)
	}
	if st := tr.Stats(); st.Failures != 0 {
		t.Fatalf("the create race cost a failure: %+v", st)
	}
}

func TestBasicAuthAndURICredentials(t *testing.T) {
	f := startFake(t, fakemlflow.Options{User: "gw", Password: "pa55-word-xyz"})
	for name, mod := range map[string]func(*Config){
		"fields": func(c *Config) { c.Username, c.Password = "gw", "pa55-word-xyz" },
		"uri": func(c *Config) {
			c.TrackingURI = strings.Replace(c.TrackingURI, "http://", "http://gw:pa55-word-xyz@", 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, f)
			mod(&cfg)
			tr := openTracker(t, cfg)
			c := sampleCall(len(name))
			c.ID = "basic-" + name
			tr.Record(context.Background(), c)
			waitDrained(t, tr)
			if st := tr.Stats(); st.Failures != 0 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
	for _, req := range f.Requests() {
		u, p, ok := (&http.Request{Header: req.Header}).BasicAuth()
		if !ok || u != "gw" || p != "pa55-word-xyz" {
			t.Fatalf("%s %s without basic auth", req.Method, req.Path)
		}
	}
}

func TestWrongCredentialsKeepRecordsAndHideSecret(t *testing.T) {
	f := startFake(t, fakemlflow.Options{Token: "right-token"})
	cfg := testConfig(t, f)
	cfg.Token = "wrong-token-value"
	tr := openTracker(t, cfg)
	recordN(t, tr, 0, 3)
	eventually(t, "a failure", func() bool { return tr.Stats().Failures > 0 })
	st := tr.Stats()
	if st.Backlog != 3 || !strings.Contains(st.LastError, "401") || strings.Contains(st.LastError, "wrong-token") {
		t.Fatalf("stats = %+v", st)
	}
}

// TestNoSecretInAnyRequest: tokens, passwords, S3 keys and API keys in
// error messages never reach a body, path, query, param, tag or metric.
func TestNoSecretInAnyRequest(t *testing.T) {
	const token, apiKey = "mlflow-token-SECRET-42", "sk-ant-api03-SECRETKEY1"
	f := startFake(t, fakemlflow.Options{Token: token})
	cfg := testConfig(t, f)
	cfg.Token = token
	cfg.S3SecretKey = "aws-secret-SECRET-key"
	cfg.Mode = ModeBoth
	tr := openTracker(t, cfg)
	c := sampleCall(9)
	c.Success = false
	c.ErrorKind = "unauthorized"
	c.ErrorMessage = "invalid x-api-key " + apiKey + " (token " + token + "; aws-secret-SECRET-key)"
	tr.Record(context.Background(), c)
	waitDrained(t, tr)
	for _, req := range f.Requests() {
		blob := req.Path + "?" + req.Query + "\n" + string(req.Body)
		if strings.Contains(blob, "SECRET") {
			t.Fatalf("secret in %s %s: %s", req.Method, req.Path, blob)
		}
	}
	r := f.Runs(expID(t, f))[0]
	if !strings.Contains(r.Tags[TagErrorMessage], "[REDACTED]") {
		t.Fatalf("error_message = %q", r.Tags[TagErrorMessage])
	}
}

func TestCloseLeavesTheRestForNextStart(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	f.Down()
	cfg := testConfig(t, f)
	tr, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	recordN(t, tr, 0, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Record(context.Background(), sampleCall(99)); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
	if err := f.Up(); err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(spool.Options{Dir: cfg.SpoolDir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if b := sp.Stats().Backlog; b != 20 {
		t.Fatalf("backlog left in the spool = %d, want 20", b)
	}
	sp.Close()
	tr2 := openTracker(t, cfg)
	waitDrained(t, tr2)
	if n := len(f.Runs(expID(t, f))); n != 20 {
		t.Fatalf("runs = %d, want 20", n)
	}
}

func TestCloseFlushesWhenMLflowIsUp(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	tr, err := Open(testConfig(t, f))
	if err != nil {
		t.Fatal(err)
	}
	recordN(t, tr, 0, 30)
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Runs(expID(t, f))); n != 30 {
		t.Fatalf("runs after Close = %d, want 30", n)
	}
}

func TestSpoolFullPolicyThroughTracker(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	f.Down()
	cfg := testConfig(t, f)
	cfg.SpoolMaxBytes = 4096
	cfg.FullPolicy = spool.Reject
	tr := openTracker(t, cfg)
	var rejected int
	for i := range 50 {
		if err := tr.Record(context.Background(), sampleCall(i)); errors.Is(err, track.ErrDropped) {
			rejected++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	st := tr.Stats()
	if rejected == 0 || st.Rejected != uint64(rejected) || st.Backlog != 50-rejected {
		t.Fatalf("rejected %d, stats %+v", rejected, st)
	}
}

// On MLflow 3.0–3.5 a trace is StartTraceV3 + traces.json.
func TestTracesMode(t *testing.T) {
	f := startFake(t, fakemlflow.Options{Version: "3.5.0"})
	cfg := testConfig(t, f)
	cfg.Mode = ModeTraces
	tr := openTracker(t, cfg)
	c := sampleCall(11)
	tr.Record(context.Background(), c)
	waitDrained(t, tr)
	exp := expID(t, f)
	if n := len(f.Runs(exp)); n != 0 {
		t.Fatalf("traces mode made %d runs", n)
	}
	traces := f.Traces(exp)
	if len(traces) != 1 {
		t.Fatalf("traces = %d", len(traces))
	}
	info := traces[0].Info
	wantID, _, _ := traceIDs(c.ID)
	md, _ := info["trace_metadata"].(map[string]any)
	if info["trace_id"] != wantID || info["state"] != "OK" || info["client_request_id"] != c.ID ||
		md["mlflow.trace.tokenUsage"] != `{"input_tokens":12,"output_tokens":7,"total_tokens":22}` ||
		info["execution_duration"] != "0.812s" || info["request_time"] != "2026-11-25T23:29:59.039Z" {
		t.Fatalf("trace_info = %v", info)
	}
	var file struct {
		Spans []struct {
			Attributes map[string]string     `json:"attributes"`
			Status     struct{ Code string } `json:"status"`
			TraceID    string                `json:"trace_id"`
		} `json:"spans"`
	}
	if err := json.Unmarshal(traces[0].TracesJSON, &file); err != nil || len(file.Spans) != 1 {
		t.Fatalf("traces.json = %s (%v)", traces[0].TracesJSON, err)
	}
	a := file.Spans[0].Attributes
	if a["mlflow.spanType"] != `"CHAT_MODEL"` || a["mlflow.chat.tokenUsage"] != `{"input_tokens":12,"output_tokens":7,"total_tokens":22}` ||
		!strings.Contains(a["mlflow.spanInputs"], c.Prompt) || !strings.Contains(a["mlflow.spanOutputs"], c.Response) ||
		file.Spans[0].Status.Code != "STATUS_CODE_OK" {
		t.Fatalf("span = %+v", file.Spans[0])
	}
}

func TestBothModesAndTraceReplay(t *testing.T) {
	f := startFake(t, fakemlflow.Options{Version: "3.5.0"})
	cfg := testConfig(t, f)
	cfg.Mode = ModeBoth
	tr := openTracker(t, cfg)
	c := sampleCall(12)
	tr.Record(context.Background(), c)
	waitDrained(t, tr)
	exp := expID(t, f)
	runs, traces := f.Runs(exp), f.Traces(exp)
	if len(runs) != 1 || len(traces) != 1 {
		t.Fatalf("runs %d traces %d", len(runs), len(traces))
	}
	// The run and the trace are found by the same interaction ID.
	tags, _ := traces[0].Info["tags"].(map[string]any)
	if tags[TagInteractionID] != c.ID || runs[0].Tags[TagInteractionID] != c.ID {
		t.Fatalf("trace tags %v, run tags %v", tags, runs[0].Tags)
	}
	// A replay of the same interaction (crash before the ack) adds nothing.
	cfg2 := testConfig(t, f)
	cfg2.Mode = ModeBoth
	spoolRecords(t, cfg2.SpoolDir, c)
	tr2 := openTracker(t, cfg2)
	waitDrained(t, tr2)
	if len(f.Runs(exp)) != 1 || len(f.Traces(exp)) != 1 {
		t.Fatalf("replay duplicated: runs %d traces %d", len(f.Runs(exp)), len(f.Traces(exp)))
	}
	if n := f.Calls()["POST /api/3.0/mlflow/traces"]; n != 1 {
		t.Fatalf("StartTraceV3 called %d times", n)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Config{SpoolDir: t.TempDir()}); !errors.Is(err, ErrDisabled) {
		t.Errorf("no URI: %v", err)
	}
	for _, cfg := range []Config{
		{TrackingURI: "http://x"},
		{TrackingURI: "file:///tmp/mlruns", SpoolDir: t.TempDir()},
		{TrackingURI: "http://x", SpoolDir: t.TempDir(), Mode: "spans"},
	} {
		if _, err := Open(cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"MLFLOW_TRACKING_URI": " http://mlflow:5000 ", "MLFLOW_EXPERIMENT_NAME": "exp",
		"MLFLOW_TRACKING_TOKEN": "t", "MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p",
		"MLFLOW_S3_ENDPOINT_URL": "http://minio:9000", "MLFLOW_S3_IGNORE_TLS": "true",
		"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "AWS_REGION": "eu-west-1",
	}
	got := ConfigFromEnv(func(k string) string { return env[k] })
	want := Config{TrackingURI: "http://mlflow:5000", ExperimentName: "exp", Token: "t", Username: "u", Password: "p",
		S3EndpointURL: "http://minio:9000", S3IgnoreTLS: true, S3AccessKey: "ak", S3SecretKey: "sk", S3Region: "eu-west-1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	for in, want := range map[string]Mode{"": ModeAuto, "auto": ModeAuto, "windows": ModeWindows, "runs": ModeRuns, "Traces": ModeTraces, "both": ModeBoth} {
		if m, err := ParseMode(in); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, m, err)
		}
	}
}

// TestEchoedBasicCredentialsStayOutOfLastError is issue 18 item 3: a
// server that echoes the request's Authorization header in its error put
// base64 credentials into Stats().LastError (the unauthenticated /health
// tracking.last_error) and the log.
func TestEchoedBasicCredentialsStayOutOfLastError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error_code":"UNAUTHENTICATED","message":"bad credentials in header Authorization: %s"}`, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	cfg := Config{TrackingURI: srv.URL, SpoolDir: t.TempDir(), Workers: 1, MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Logger: quiet(), Username: "gw", Password: "pa55-word-xyz"}
	tr := openTracker(t, cfg)
	recordN(t, tr, 0, 1)
	eventually(t, "a failure", func() bool { return tr.Stats().Failures > 0 })
	b64 := base64.StdEncoding.EncodeToString([]byte("gw:pa55-word-xyz"))
	if st := tr.Stats(); !strings.Contains(st.LastError, "401") || strings.Contains(st.LastError, b64[:12]) {
		t.Fatalf("LastError = %q", st.LastError)
	}
}
