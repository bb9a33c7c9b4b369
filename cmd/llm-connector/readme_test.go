package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// fence is one fenced block of the README.
type fence struct {
	lang, body string
	line       int
}

func readmeFences(t *testing.T) []fence {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []fence
	var cur *fence
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &fence{lang: strings.TrimPrefix(l, "```"), line: i + 1}
		case cur != nil && strings.HasPrefix(l, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += l + "\n"
		}
	}
	return out
}

// commands joins continuation lines and keeps the curl commands.
func curlCommands(body string) []string {
	var out []string
	var cur string
	for _, l := range strings.Split(body, "\n") {
		cur += l
		if strings.HasSuffix(cur, "\\") {
			cur = strings.TrimSuffix(cur, "\\") + " "
			continue
		}
		if c := strings.TrimSpace(cur); strings.HasPrefix(c, "curl ") {
			if i := strings.Index(c, "   #"); i > 0 { // a trailing comment
				c = strings.TrimSpace(c[:i])
			}
			out = append(out, c)
		}
		cur = ""
	}
	return out
}

// TestReadmeExamples runs the README's examples as a newcomer would: every
// curl command of the sh blocks against the service started on a fake
// Ollama without a Google key (placeholders <id> and lc-... replaced by a
// real key), each answering below 400; and the YAML configuration example
// loaded and started with no key at all.
func TestReadmeExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	fences := readmeFences(t)
	var yamls, cmds int
	for _, f := range fences {
		if f.lang != "yaml" {
			continue
		}
		yamls++
		path := filepath.Join(t.TempDir(), "llm-connector.yaml")
		if err := os.WriteFile(path, []byte(f.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, logs := startService(t, map[string]string{"LLM_CONFIG": path, "OLLAMA_HOST": "127.0.0.1:1"})
		if strings.Contains(f.body, "aliases:") && !strings.Contains(logs.String(), "alias target skipped") {
			t.Errorf("README:%d: started, but no warning about the skipped Google target", f.line)
		}
	}
	ollama := fakeollama.New(t)
	ollama.AddModel("llama2")
	ollama.AddModel("llava")            // a vision model, for the image example
	ollama.AddModel("nomic-embed-text") // the embeddings examples
	url, _ := startService(t, map[string]string{"OLLAMA_HOST": strings.TrimPrefix(ollama.URL, "http://"),
		"LLM_ADMIN_KEY": "change-me"})
	id, key := readmeKey(t, url)
	repl := strings.NewReplacer("localhost:8000", strings.TrimPrefix(url, "http://"), "<id>", id, "lc-...", key)
	status := regexp.MustCompile(`__STATUS__(\d+)$`)
	for _, f := range fences {
		if f.lang != "sh" {
			continue
		}
		for _, c := range curlCommands(f.body) {
			cmds++
			cmd := exec.Command("bash", "-c", repl.Replace(c)+` -w '\n__STATUS__%{http_code}'`)
			cmd.Env = append(os.Environ(), "LLM_ADMIN_KEY=change-me")
			out, err := cmd.CombinedOutput()
			m := status.FindSubmatch(bytes.TrimSpace(out))
			if err != nil || m == nil || string(m[1]) >= "400" {
				t.Errorf("README:%d: %s\n→ %v\n%s", f.line, c, err, out)
			}
		}
	}
	if yamls == 0 || cmds < 7 {
		t.Errorf("found %d YAML examples and %d curl commands: did the README's fences change?", yamls, cmds)
	}
}

// readmeKey makes the API key the README's placeholders stand for.
func readmeKey(t *testing.T, url string) (id, key string) {
	req, _ := http.NewRequest("POST", url+"/admin/keys", strings.NewReader(`{"user":"alice"}`))
	req.Header.Set("Authorization", "Bearer change-me")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var k map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&k)
	id, _ = k["id"].(string)
	key, _ = k["key"].(string)
	if id == "" || key == "" {
		t.Fatalf("create key: %d %v", resp.StatusCode, k)
	}
	return id, key
}
