package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// APIError is an answer from the tracking server other than 2xx. Message
// is the server's message, shortened; it never holds request credentials.
type APIError struct {
	Op      string // "runs/create"
	Status  int
	Code    string // MLflow error_code, "" for a non-JSON body
	Message string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("mlflow: %s: HTTP %d: %s", e.Op, e.Status, e.Message)
	}
	return fmt.Sprintf("mlflow: %s: HTTP %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// retryable reports whether err may succeed if the call is repeated:
// transport errors, 5xx, 429 and 408. Other 4xx answers are permanent.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusRequestTimeout ||
			ae.Status == http.StatusUnauthorized // credentials may be fixed without losing the backlog
	}
	var pe *permanentError
	return !errors.As(err, &pe)
}

// permanentError marks a local failure no retry can fix soon (a bad
// artifact URI scheme); the record still stays in the spool.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// notSent reports whether err proves the request never reached the
// server: the connection could not be opened.
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func isCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// client speaks the tracking server's REST API.
type client struct {
	base     string // scheme://host[:port][/prefix], no trailing slash, no userinfo
	hc       *http.Client
	token    string
	user     string
	password string
}

func (c *client) auth(req *http.Request) {
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.password)
	}
}

// call sends a JSON request (in may be nil) and decodes a JSON answer
// into out (may be nil).
func (c *client) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	op := strings.TrimPrefix(strings.TrimPrefix(path, "/api/2.0/mlflow/"), "/api/3.0/mlflow/")
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("mlflow: %s: encode: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("mlflow: %s: %w", op, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req, op, out)
}

func (c *client) do(req *http.Request, op string, out any) error {
	c.auth(req)
	req.Header.Set("User-Agent", "llm-connector")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("mlflow: %s: %w", op, scrubURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("mlflow: %s: read answer: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		return apiError(op, resp.StatusCode, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("mlflow: %s: decode answer: %w", op, err)
	}
	return nil
}

// apiError parses an error body defensively: MLflow JSON, an HTML page
// (malformed requests, proxies) or FastAPI's {"detail":…}.
func apiError(op string, status int, b []byte) error {
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && (e.Code != "" || e.Message != "") {
		return &APIError{Op: op, Status: status, Code: e.Code, Message: shorten(e.Message, 300)}
	}
	msg := strings.TrimSpace(string(b))
	if strings.HasPrefix(msg, "<") {
		msg = "non-JSON (HTML) answer"
	}
	return &APIError{Op: op, Status: status, Message: shorten(msg, 200)}
}

// scrubURLError drops the URL from a transport error: the message keeps
// the cause ("connection refused") and cannot leak a query or userinfo.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

type experimentJSON struct {
	ID               string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location"`
	LifecycleStage   string `json:"lifecycle_stage"`
}

func (c *client) experimentByName(ctx context.Context, name string) (experimentJSON, error) {
	var out struct {
		Experiment experimentJSON `json:"experiment"`
	}
	err := c.call(ctx, http.MethodGet, "/api/2.0/mlflow/experiments/get-by-name", url.Values{"experiment_name": {name}}, nil, &out)
	return out.Experiment, err
}

// ensureExperiment is get-by-name → create → (RESOURCE_ALREADY_EXISTS) get.
func (c *client) ensureExperiment(ctx context.Context, name, source string) (string, error) {
	e, err := c.experimentByName(ctx, name)
	if err == nil {
		return e.ID, nil
	}
	if !isCode(err, "RESOURCE_DOES_NOT_EXIST") {
		return "", err
	}
	var created struct {
		ID string `json:"experiment_id"`
	}
	in := map[string]any{"name": name, "tags": []kv{{"created_by", source}}}
	err = c.call(ctx, http.MethodPost, "/api/2.0/mlflow/experiments/create", nil, in, &created)
	if err == nil {
		return created.ID, nil
	}
	if !isCode(err, "RESOURCE_ALREADY_EXISTS") {
		return "", err
	}
	e, err = c.experimentByName(ctx, name)
	return e.ID, err
}

type runInfo struct {
	RunID        string `json:"run_id"`
	ExperimentID string `json:"experiment_id"`
	Status       string `json:"status"`
	ArtifactURI  string `json:"artifact_uri"`
	StartTime    int64  `json:"start_time"`
}

type runJSON struct {
	Info runInfo `json:"info"`
}

type createRunReq struct {
	ExperimentID string `json:"experiment_id"`
	RunName      string `json:"run_name"`
	UserID       string `json:"user_id,omitempty"`
	StartTime    int64  `json:"start_time"`
	Tags         []kv   `json:"tags"`
}

func (c *client) createRun(ctx context.Context, in createRunReq) (runInfo, error) {
	var out struct {
		Run runJSON `json:"run"`
	}
	err := c.call(ctx, http.MethodPost, "/api/2.0/mlflow/runs/create", nil, in, &out)
	return out.Run.Info, err
}

// findRun returns the oldest active run of the experiment whose tag key
// equals value; ok is false when there is none.
func (c *client) findRun(ctx context.Context, expID, key, value string) (runInfo, bool, error) {
	filter, ok := tagEquals(key, value)
	if !ok {
		return runInfo{}, false, nil // cannot be quoted; the caller creates
	}
	in := map[string]any{
		"experiment_ids": []string{expID},
		"filter":         filter,
		"max_results":    10,
		"order_by":       []string{"attributes.start_time ASC"},
	}
	var out struct {
		Runs []runJSON `json:"runs"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/2.0/mlflow/runs/search", nil, in, &out); err != nil {
		return runInfo{}, false, err
	}
	if len(out.Runs) == 0 {
		return runInfo{}, false, nil
	}
	return out.Runs[0].Info, true, nil
}

type logBatchReq struct {
	RunID   string   `json:"run_id"`
	Metrics []metric `json:"metrics"`
	Params  []kv     `json:"params"`
	Tags    []kv     `json:"tags"`
}

func (c *client) logBatch(ctx context.Context, in logBatchReq) error {
	return c.call(ctx, http.MethodPost, "/api/2.0/mlflow/runs/log-batch", nil, in, nil)
}

func (c *client) updateRun(ctx context.Context, runID, status string, endMS int64) error {
	in := map[string]any{"run_id": runID, "status": status, "end_time": endMS}
	return c.call(ctx, http.MethodPost, "/api/2.0/mlflow/runs/update", nil, in, nil)
}

// putProxyArtifact uploads through the tracking server's artifact proxy;
// root is the part of a mlflow-artifacts: URI after the scheme.
func (c *client) putProxyArtifact(ctx context.Context, root, name string, data []byte) error {
	var p strings.Builder
	p.WriteString(c.base + "/api/2.0/mlflow-artifacts/artifacts")
	for _, seg := range strings.Split(strings.Trim(root, "/")+"/"+name, "/") {
		p.WriteString("/" + url.PathEscape(seg))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.String(), bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("mlflow: artifact %s: %w", name, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	return c.do(req, "artifact "+name, nil)
}

// runFull is a searched run with its tags.
type runFull struct {
	Info runInfo `json:"info"`
	Data struct {
		Params []kv `json:"params"`
		Tags   []kv `json:"tags"`
	} `json:"data"`
}

// tag returns the value of the run's tag key ("" if unset).
func (r runFull) tag(key string) string {
	for _, t := range r.Data.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// maxSearchPages bounds how many pages searchAll reads.
const maxSearchPages = 20

// searchAll returns every active run of the experiment matching filter,
// oldest first, reading at most maxSearchPages pages of 1,000 runs.
func (c *client) searchAll(ctx context.Context, expID, filter string) ([]runFull, error) {
	var all []runFull
	token := ""
	for range maxSearchPages {
		in := map[string]any{
			"experiment_ids": []string{expID},
			"filter":         filter,
			"max_results":    1000,
			"order_by":       []string{"attributes.start_time ASC"},
		}
		if token != "" {
			in["page_token"] = token
		}
		var out struct {
			Runs  []runFull `json:"runs"`
			Token string    `json:"next_page_token"`
		}
		if err := c.call(ctx, http.MethodPost, "/api/2.0/mlflow/runs/search", nil, in, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Runs...)
		if token = out.Token; token == "" {
			break
		}
	}
	return all, nil
}

// tagEquals is a search filter clause "tags.`key` = 'value'"; ok is false
// when value cannot be quoted.
func tagEquals(key, value string) (string, bool) {
	q := "'"
	if strings.Contains(value, "'") {
		if strings.Contains(value, `"`) {
			return "", false
		}
		q = `"`
	}
	return "tags.`" + key + "` = " + q + value + q, true
}

// runsByTag returns every active run whose tag key equals value.
func (c *client) runsByTag(ctx context.Context, expID, key, value string) ([]runFull, error) {
	f, ok := tagEquals(key, value)
	if !ok {
		return nil, &permanentError{fmt.Errorf("mlflow: tag value cannot be quoted in a search filter")}
	}
	return c.searchAll(ctx, expID, f)
}

// deleteRun marks a run deleted; a run that is already gone is no error.
func (c *client) deleteRun(ctx context.Context, runID string) error {
	err := c.call(ctx, http.MethodPost, "/api/2.0/mlflow/runs/delete", nil, map[string]any{"run_id": runID}, nil)
	if isCode(err, "RESOURCE_DOES_NOT_EXIST") {
		return nil
	}
	return err
}
