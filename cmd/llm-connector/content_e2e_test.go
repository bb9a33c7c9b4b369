package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
)

// TestLogContentEndToEnd: with MLFLOW_LOG_CONTENT=redacted or none, the
// raw e-mail address and key a caller sends (and the model echoes) reach
// neither MLflow (every request body the fake received: runs, artifacts,
// traces), nor the spool's files, nor the log.
func TestLogContentEndToEnd(t *testing.T) {
	const email, key = "ana.garcia@example.com", "sk-proj-AbCdEf0123456789GhIjKlMnOp"
	for _, mode := range []string{"redacted", "none"} {
		t.Run(mode, func(t *testing.T) {
			ml, err := fakemlflow.Start(fakemlflow.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ml.Close)
			gem := fakegemini.New(t)
			gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 9, CandidatesTokenCount: 6, TotalTokenCount: 15}, "Noted, I will write to "+email))
			data := t.TempDir()
			url, logs := startService(t, map[string]string{
				"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
				"MLFLOW_TRACKING_URI": ml.URL(), "MLFLOW_MODE": "both", "MLFLOW_LOG_CONTENT": mode,
				"CACHE_ENABLED": "false", "DATA_DIR": data, "LOG_LEVEL": "debug",
			})
			resp, body := do(t, "POST", url+"/chat", `{"prompt":"I am `+email+`, my key is `+key+`","context":"reply to `+email+`"}`)
			if resp.StatusCode != 200 || !strings.Contains(body, email) {
				t.Fatalf("%d %s (the caller's own answer must stay whole)", resp.StatusCode, body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = fakemlflow.Wait(ctx, func() bool {
				id, _ := ml.ExperimentID("llm-connector")
				runs := ml.Runs(id)
				return len(runs) == 1 && runs[0].Status == "FINISHED" && len(ml.Traces(id)) == 1
			})
			if err != nil {
				t.Fatalf("run and trace never arrived: %v\n%s", err, logs)
			}
			var sent strings.Builder
			for _, r := range ml.Requests() {
				sent.WriteString(r.Path + "?" + r.Query + "\n")
				sent.Write(r.Body)
				sent.WriteByte('\n')
			}
			if !strings.Contains(sent.String(), "tokens") {
				t.Fatalf("no metrics reached MLflow:\n%s", sent.String())
			}
			spooled := llmtest.ReadTree(t, data)
			for _, raw := range []string{email, key, "ana.garcia"} {
				for where, text := range map[string]string{"MLflow": sent.String(), "spool": spooled, "log": logs.String()} {
					if strings.Contains(text, raw) {
						t.Errorf("%s holds %q", where, raw)
					}
				}
			}
			if mode == "redacted" && !strings.Contains(sent.String(), "[email]") {
				t.Errorf("redacted content did not reach MLflow masked:\n%s", sent.String())
			}
		})
	}
}
