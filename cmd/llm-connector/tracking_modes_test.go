package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
)

// windowRows returns the request ids of every active window run's
// interactions.json table in the experiment, as mlflow.load_table would
// read them.
func windowRows(t *testing.T, ml *fakemlflow.Server, exp string) []string {
	t.Helper()
	var ids []string
	for _, r := range ml.Runs(exp) {
		if r.LifecycleStage == "deleted" || r.Tags["llm_connector.window_id"] == "" || r.Status != "FINISHED" {
			continue
		}
		rows, ok := ml.TableColumn(r.ID, "interactions.json", "request_id")
		if !ok {
			t.Fatalf("window run %s has no interactions.json table with request_id", r.ID)
		}
		ids = append(ids, rows...)
	}
	return ids
}

// In auto mode (the default) against a server that costs what a real
// 3.11 one does (scaled down 20×, same proportions): every interaction is
// a row of a window run exactly once, every failed one also has a trace
// made of OTLP spans the UI can open, and tracking health is ok.
func TestTrackingAutoModeEndToEnd(t *testing.T) {
	ml, err := fakemlflow.Start(fakemlflow.Options{Cost: fakemlflow.Calibrated().Scale(0.05), Version: "3.11.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ml.Close)
	gem := fakegemini.New(t)
	url, logs := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
		"MLFLOW_TRACKING_URI": ml.URL(), "CACHE_ENABLED": "false", "MLFLOW_WINDOW_INTERVAL": "1s",
	})
	const n, failed = 120, 6
	want := map[string]bool{}
	var failedIDs []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"prompt":"question %d"}`, i)
			if i < failed { // Ollama is down: these fail
				body = fmt.Sprintf(`{"prompt":"question %d","provider":"ollama"}`, i)
			}
			resp, err := http.Post(url+"/chat", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			id := resp.Header.Get("X-Request-ID")
			want[id] = true
			if i < failed {
				failedIDs = append(failedIDs, id)
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var exp string
	err = fakemlflow.Wait(ctx, func() bool {
		exp, _ = ml.ExperimentID("llm-connector")
		return exp != "" && len(windowRows(t, ml, exp)) >= n
	})
	if err != nil {
		t.Fatalf("window rows never arrived: %v\n%s", err, logs)
	}
	rows := windowRows(t, ml, exp)
	seen := map[string]int{}
	for _, id := range rows {
		seen[id]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("interaction %s is in %d window rows, want 1", id, seen[id])
		}
	}
	if len(rows) != n {
		t.Errorf("%d window rows for %d interactions", len(rows), n)
	}
	err = fakemlflow.Wait(ctx, func() bool {
		for _, id := range failedIDs {
			if _, ok := ml.TraceInfo(traceIDOf(id)); !ok {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("traces of failed interactions missing: %v\n%s", err, logs)
	}
	spans := ml.Spans(traceIDOf(failedIDs[0]))
	if len(spans) < 2 {
		t.Fatalf("a failed interaction's trace has %d spans, want the root and its attempts: %+v", len(spans), spans)
	}
	_, tr := getHealth(t, url+"/health", "tracking")
	if tr["status"] != "ok" || tr["mode"] != "auto" || tr["trace_api"] != "otlp" {
		t.Errorf("tracking health = %v", tr)
	}
}

// traceIDOf is the trace id the tracker derives from an interaction id.
func traceIDOf(interaction string) string {
	sum := sha256.Sum256([]byte("llm-connector/trace/" + interaction))
	return "tr-" + hex.EncodeToString(sum[:16])
}
