package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"GOOGLE_API_KEY_FILE": ""}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"addr", c.Addr, ":8000"},
		{"provider", c.Provider, "google"},
		{"fallback", c.Fallback, "ollama"},
		{"google model", c.Google.Model, "gemini-2.5-flash"},
		{"ollama host", c.Ollama.Host, "http://host.docker.internal:11434"},
		{"ollama model", c.Ollama.Model, "llama2"},
		{"retries", c.Retry.Retries, 3},
		{"timeout", c.RequestTimeout, 60 * time.Second},
		{"body limit", c.BodyLimit, int64(1 << 20)},
		{"mlflow disabled", c.MLflow.TrackingURI, ""},
		{"experiment", c.MLflow.ExperimentName, "llm-connector"},
		{"thinking budget", c.Google.ThinkingBudget, 0},
		{"spool sync interval", c.MLflow.SpoolSync, 100 * time.Millisecond},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(env(map[string]string{
		"LLM_PROVIDER":               "nope",
		"LLM_RETRIES":                "many",
		"REQUEST_TIMEOUT":            "soon",
		"LOG_LEVEL":                  "loud",
		"GOOGLE_API_KEY":             "AIzaSECRETSECRET",
		"MLFLOW_SPOOL_SYNC_INTERVAL": "0s",
		"LEDGER_FLUSH_INTERVAL":      "1ms",
	}))
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	msg := err.Error()
	for _, want := range []string{"LLM_PROVIDER", "LLM_RETRIES", "REQUEST_TIMEOUT", "LOG_LEVEL", "MLFLOW_SPOOL_SYNC_INTERVAL", "LEDGER_FLUSH_INTERVAL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "SECRET") {
		t.Errorf("error leaks the key:\n%s", msg)
	}
}

func TestGoogleKeyFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("file-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"GOOGLE_API_KEY_FILE": path}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Google.APIKey != "file-key" || c.Google.KeySource != "file:"+path {
		t.Errorf("key %q from %q", c.Google.APIKey, c.Google.KeySource)
	}
	if _, err := Load(env(map[string]string{"GOOGLE_API_KEY_FILE": path + ".missing"})); err == nil {
		t.Error("missing explicit key file accepted")
	}
}

func TestParseFile(t *testing.T) {
	good := `
providers:
  groq:
    type: openai
    base_url: https://api.groq.com/openai/v1
    api_key_env: GROQ_API_KEY
aliases:
  fast:
    targets: [google/gemini-2.5-flash-lite, groq/llama-3.1-8b-instant, ollama/llama3]
    retries: 1
prices:
  openai/ft:gpt-4o-mini:org::abc: {input: 0.3, output: 1.2}
`
	f, err := ParseFile("test.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Aliases["fast"].Targets; len(got) != 3 || got[1] != "groq/llama-3.1-8b-instant" {
		t.Errorf("targets = %v", got)
	}
	bad := `aliases:
  fast:
    targets: [nowhere/x, justname]
providers:
  local:
    type: soap
    base_url: ftp://x
`
	_, err = ParseFile("bad.yaml", []byte(bad))
	if err == nil {
		t.Fatal("bad file accepted")
	}
	for _, want := range []string{"bad.yaml:3:", `unknown provider "nowhere"`, "want provider/model", "bad.yaml:6:", "bad.yaml:7:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := ParseFile("typo.yaml", []byte("aliasses: {}\n")); err == nil {
		t.Error("unknown top-level key accepted")
	}
}

// TestVariables: the list --help prints comes from Load itself: every
// variable Load reads is in it with its default, and reading it touches
// no file.
func TestVariables(t *testing.T) {
	vars := Variables()
	got := map[string]string{}
	for _, v := range vars {
		if _, dup := got[v.Name]; dup {
			t.Errorf("%s listed twice", v.Name)
		}
		got[v.Name] = v.Default
	}
	for name, def := range map[string]string{
		"PORT": "8000", "LLM_PROVIDER": "google", "LLM_FALLBACK": "ollama", "CACHE_TTL": "1h",
		"REQUEST_TIMEOUT": "1m", "GOOGLE_API_KEY": "", "GOOGLE_API_KEY_FILE": DefaultGoogleKeyFile,
		"LLM_ADMIN_KEY_FILE": "", "MLFLOW_SPOOL_SYNC_INTERVAL": "100ms", "OLLAMA_MODEL": "llama2",
		"SHUTDOWN_TIMEOUT": "30s", "LLM_RETRY_BASE_DELAY": "500ms", "IDLE_TIMEOUT": "2m",
	} {
		if d, ok := got[name]; !ok || d != def {
			t.Errorf("%s: listed=%v default %q, want %q", name, ok, d, def)
		}
	}
	// Every variable Load asks the environment for is listed.
	asked := map[string]bool{}
	_, _ = Load(func(k string) string { asked[k] = true; return "" })
	for name := range asked {
		if _, ok := got[name]; !ok {
			t.Errorf("Load reads %s but Variables does not list it", name)
		}
	}
}

// Values that used to pass Load and fail later (issue 18 item 14): a
// port that is not a number fails only at listen; a negative bare
// number of seconds was accepted where "-1s" was refused.
func TestLoadRefusesLateFailures(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORT": "abc"}, "PORT"},
		{map[string]string{"PORT": "70000"}, "PORT"},
		{map[string]string{"LISTEN_ADDR": "no-port"}, "LISTEN_ADDR"},
		{map[string]string{"LISTEN_ADDR": "127.0.0.1:http-ish"}, "LISTEN_ADDR"},
		{map[string]string{"CACHE_TTL": "-1"}, "CACHE_TTL"},
		{map[string]string{"CACHE_TTL": "-1s"}, "CACHE_TTL"},
	}
	for _, tc := range tests {
		tc.env["GOOGLE_API_KEY_FILE"] = ""
		_, err := Load(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%v) = %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
	for _, ok := range []map[string]string{{"PORT": "9000"}, {"LISTEN_ADDR": "127.0.0.1:0"}, {"LISTEN_ADDR": ":8080"}, {"CACHE_TTL": "30"}} {
		ok["GOOGLE_API_KEY_FILE"] = ""
		if _, err := Load(env(ok)); err != nil {
			t.Errorf("Load(%v): %v", ok, err)
		}
	}
}
