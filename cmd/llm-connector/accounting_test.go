package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
)

func do(t *testing.T, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestTrackingEndToEnd: every interaction, failed ones included, becomes
// an MLflow run with its params, metrics and artifacts.
func TestTrackingEndToEnd(t *testing.T) {
	ml, err := fakemlflow.Start(fakemlflow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ml.Close)
	gem := fakegemini.New(t)
	gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 10, CandidatesTokenCount: 5, ThoughtsTokenCount: 3, TotalTokenCount: 18}, "four"))
	gem.Enqueue(fakegemini.ErrorReply(400, "Invalid JSON payload"))
	url, logs := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
		"MLFLOW_TRACKING_URI": ml.URL(), "CACHE_ENABLED": "false", "MLFLOW_MODE": "runs",
	})
	resp, body := do(t, "POST", url+"/chat", `{"prompt":"2+2?","context":"math","temperature":0.1}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	okID := resp.Header.Get("X-Request-ID")
	if c, err := strconv.ParseFloat(resp.Header.Get("X-Cost-USD"), 64); err != nil || c <= 0 {
		t.Errorf("X-Cost-USD = %q", resp.Header.Get("X-Cost-USD"))
	}
	resp, body = do(t, "POST", url+"/chat", `{"prompt":"bad"}`)
	if resp.StatusCode != 400 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var expID string
	err = fakemlflow.Wait(ctx, func() bool {
		expID, _ = ml.ExperimentID("llm-connector")
		runs := ml.Runs(expID)
		if len(runs) != 2 {
			return false
		}
		for _, r := range runs {
			if r.Status != "FINISHED" && r.Status != "FAILED" {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("runs never arrived: %v\n%s", err, logs)
	}
	for _, r := range ml.Runs(expID) {
		if r.Tags["llm_connector.interaction_id"] == okID {
			if r.Status != "FINISHED" || r.Params["provider"] != "google" || r.Params["model"] != "gemini-2.5-flash" || r.Params["temperature"] != "0.1" {
				t.Errorf("ok run = %+v", r)
			}
			if v, _ := r.LatestMetric("tokens_used"); v != 18 {
				t.Errorf("tokens_used = %v", v)
			}
			if v, _ := r.LatestMetric("success"); v != 1 {
				t.Errorf("success = %v", v)
			}
			if b, _ := ml.Artifact(r.ID, "prompt.txt"); !strings.Contains(string(b), "2+2?") || !strings.Contains(string(b), "math") {
				t.Errorf("prompt artifact = %q", b)
			}
			if b, _ := ml.Artifact(r.ID, "response.txt"); string(b) != "four" {
				t.Errorf("response artifact = %q", b)
			}
			for k, v := range r.Params {
				if strings.Contains(v, "2+2?") {
					t.Errorf("prompt leaked into param %s", k)
				}
			}
		} else if r.Status != "FAILED" || r.Tags["error_kind"] != "invalid_request" {
			t.Errorf("failed run = %+v", r)
		}
	}
	resp, body = do(t, "GET", url+"/info", "")
	if !strings.Contains(body, `"mlflow_enabled":true`) {
		t.Errorf("info = %s", body)
	}
	resp, body = do(t, "GET", url+"/health", "")
	if !strings.Contains(body, `"tracking"`) || !strings.Contains(body, `"backlog"`) {
		t.Errorf("health = %s", body)
	}
	resp, body = do(t, "GET", url+"/ready", "")
	for _, want := range []string{`"database":{"reachable":true}`, `"mlflow":{"reachable":true}`} {
		if !strings.Contains(body, want) {
			t.Errorf("ready lacks %s: %s", want, body)
		}
	}
	ml.Down()
	resp, body = do(t, "GET", url+"/health?deep=1", "")
	if !strings.Contains(body, `"mlflow":{"error":"unreachable","reachable":false}`) || !strings.Contains(body, `"status":"degraded"`) {
		t.Errorf("deep health with MLflow down: %s", body)
	}
}

// TestKeysCostAndBudgets: with keys required, the admin creates a key; no
// key is a 401 in the seed's error shape; the key works, is charged, and
// its usage is visible; a revoked key stops working.
func TestKeysCostAndBudgets(t *testing.T) {
	gem := fakegemini.New(t)
	url, logs := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
		"AUTH_REQUIRED": "true", "LLM_ADMIN_KEY": "admin-secret-123", "CACHE_ENABLED": "false",
	})
	resp, body := do(t, "POST", url+"/chat", `{"prompt":"hi"}`)
	if resp.StatusCode != 401 || !strings.Contains(body, `"detail"`) {
		t.Fatalf("no key: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "POST", url+"/admin/keys", `{"user":"alice","models":["google/*"],"daily_usd":1}`, "Authorization", "Bearer admin-secret-123")
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	var created struct {
		Key string `json:"key"`
		ID  string `json:"id"`
	}
	_ = json.Unmarshal([]byte(body), &created)
	var meta map[string]any
	_ = json.Unmarshal([]byte(body), &meta)
	if created.ID == "" {
		if k, ok := meta["api_key"].(map[string]any); ok {
			created.ID, _ = k["id"].(string)
		}
	}
	if created.Key == "" {
		t.Fatalf("no key in %s", body)
	}
	resp, body = do(t, "POST", url+"/chat", `{"prompt":"hi"}`, "Authorization", "Bearer "+created.Key)
	if resp.StatusCode != 200 || resp.Header.Get("X-Cost-USD") == "" {
		t.Fatalf("with key: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = do(t, "POST", url+"/chat", `{"prompt":"hi","provider":"ollama"}`, "Authorization", "Bearer "+created.Key)
	if resp.StatusCode != 403 {
		t.Errorf("model outside allow-list: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", url+"/admin/keys", "", "Authorization", "Bearer "+created.Key)
	if resp.StatusCode != 403 {
		t.Errorf("admin with a user key: %d %s", resp.StatusCode, body)
	}
	// The ledger writes in batches: wait for the row.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = do(t, "GET", url+"/v1/usage", "", "Authorization", "Bearer "+created.Key)
		if resp.StatusCode == 200 && strings.Contains(body, "gemini-2.5-flash") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage never showed the call: %d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if created.ID != "" {
		resp, body = do(t, "DELETE", url+"/admin/keys/"+created.ID, "", "X-Admin-Key", "admin-secret-123")
		if resp.StatusCode >= 300 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, body)
		}
		resp, body = do(t, "POST", url+"/chat", `{"prompt":"hi"}`, "Authorization", "Bearer "+created.Key)
		if resp.StatusCode != 401 {
			t.Errorf("revoked key: %d %s", resp.StatusCode, body)
		}
	}
	for _, secret := range []string{created.Key, "admin-secret-123", gem.Key} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret appears in the log")
		}
	}
}

// TestRepeatedRequestIDIsBilledEachTime: a caller sending one
// X-Request-ID on every call (a retrying client, a constant in a script)
// gets a ledger row per call, each under an ID of its own that starts
// with theirs; none is skipped as a replay.
func TestRepeatedRequestIDIsBilledEachTime(t *testing.T) {
	gem := fakegemini.New(t)
	url, _ := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
		"LLM_ADMIN_KEY": "admin-secret-123", "CACHE_ENABLED": "false",
	})
	ids := map[string]bool{}
	for range 3 {
		resp, body := do(t, "POST", url+"/chat", `{"prompt":"hi"}`, "X-Request-ID", "retry-1")
		if resp.StatusCode != 200 || resp.Header.Get("X-Request-ID") != "retry-1" {
			t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
		}
		ids[resp.Header.Get("X-Interaction-ID")] = true
	}
	if len(ids) != 3 {
		t.Fatalf("interaction IDs %v, want 3 distinct", ids)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := do(t, "GET", url+"/admin/requests", "", "X-Admin-Key", "admin-secret-123")
		var page struct {
			Rows []struct {
				ID string `json:"id"`
			} `json:"rows"`
		}
		_ = json.Unmarshal([]byte(body), &page)
		got := 0
		for _, r := range page.Rows {
			if ids[r.ID] && strings.HasPrefix(r.ID, "retry-1.") {
				got++
			}
		}
		if got == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger holds %d of the 3 calls: %d %s", got, resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
