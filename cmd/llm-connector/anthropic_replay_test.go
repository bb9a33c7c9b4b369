package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// anSession is testdata/claude-code-session.json.
type anSession struct {
	Headers map[string]string `json:"headers"`
	Steps   []struct {
		Name string          `json:"name"`
		Path string          `json:"path"`
		Body json.RawMessage `json:"body"`
	} `json:"steps"`
}

// anFrame is one SSE event as it came over the wire.
type anFrame struct {
	name string
	data map[string]any
}

// readFrames reads "event: X\ndata: {...}\n\n" frames, failing on any
// other line (a comment, a data-only event, a name that is not the
// data's type).
func anReadFrames(t *testing.T, r io.Reader) []anFrame {
	t.Helper()
	var out []anFrame
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			name = ""
		case strings.HasPrefix(line, "event: ") && name == "":
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && name != "":
			var d map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil || d["type"] != name {
				t.Fatalf("event %s: data %s", name, line)
			}
			out = append(out, anFrame{name, d})
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	return out
}

// checkGrammar checks Anthropic's event order (wire.md §5.3) and
// returns the blocks rebuilt from the deltas: message_start first, then
// blocks each started, delta'd and stopped at consecutive indexes, one
// message_delta, message_stop last.
func anCheckGrammar(t *testing.T, frames []anFrame) (blocks []map[string]any, start, delta map[string]any) {
	t.Helper()
	if len(frames) < 3 || frames[0].name != "message_start" || frames[len(frames)-1].name != "message_stop" {
		t.Fatalf("stream does not start with message_start and end with message_stop: %v", frames)
	}
	open := -1
	for _, f := range frames[1 : len(frames)-1] {
		idx, _ := f.data["index"].(float64)
		switch f.name {
		case "ping":
		case "content_block_start":
			if open != -1 || int(idx) != len(blocks) {
				t.Fatalf("block %v starts while %d is open", idx, open)
			}
			open = int(idx)
			blocks = append(blocks, f.data["content_block"].(map[string]any))
		case "content_block_delta":
			if int(idx) != open {
				t.Fatalf("delta for block %v, open is %d", idx, open)
			}
			d := f.data["delta"].(map[string]any)
			b := blocks[open]
			switch d["type"] {
			case "text_delta":
				b["text"] = anText(b["text"]) + anText(d["text"])
			case "input_json_delta":
				b["partial"] = anText(b["partial"]) + anText(d["partial_json"])
			default:
				t.Fatalf("delta type %v", d["type"])
			}
		case "content_block_stop":
			if int(idx) != open {
				t.Fatalf("stop for block %v, open is %d", idx, open)
			}
			open = -1
		case "message_delta":
			if open != -1 || delta != nil {
				t.Fatalf("message_delta with block %d open, or twice", open)
			}
			delta = f.data
		default:
			t.Fatalf("unexpected event %s", f.name)
		}
	}
	if delta == nil {
		t.Fatal("no message_delta")
	}
	return blocks, frames[0].data["message"].(map[string]any), delta
}

// TestClaudeCodeSession replays the recorded Claude Code-style session
// against the service with Gemini behind the Claude model names (an
// alias each), checking every answer on the wire and what Gemini got.
func TestClaudeCodeSession(t *testing.T) {
	raw, err := os.ReadFile("testdata/claude-code-session.json")
	if err != nil {
		t.Fatal(err)
	}
	var sess anSession
	if err := json.Unmarshal(raw, &sess); err != nil {
		t.Fatal(err)
	}
	gem := fakegemini.New(t)
	cfg := filepath.Join(t.TempDir(), "llm-connector.yaml")
	yaml := "aliases:\n  claude-sonnet-4-5-20250929:\n    targets: [google/gemini-2.5-flash]\n  claude-haiku-4-5-20251001:\n    targets: [google/gemini-2.5-flash-lite]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	url, key, _ := anServiceKey(t, map[string]string{"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"OLLAMA_HOST": "127.0.0.1:1", "LLM_CONFIG": cfg})
	u := fakegemini.Usage{PromptTokenCount: 1200, CandidatesTokenCount: 12}
	gem.Enqueue(fakegemini.TextReply(u, "q"),
		fakegemini.Reply{Deltas: []string{"I'll list the files."}, Calls: []fakegemini.FunctionCall{{Name: "Bash", Args: json.RawMessage(`{"command":"ls"}`)}}, Usage: u},
		fakegemini.TextReply(u, "Three files: ", "README.md, go.mod and main.go."))

	post := func(path string, body json.RawMessage) *http.Response {
		req, _ := http.NewRequest("POST", url+path, strings.NewReader(string(body)))
		for k, v := range sess.Headers {
			req.Header.Set(k, strings.ReplaceAll(v, "$KEY", key))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return resp
	}
	var answers [][]map[string]any
	var stops []any
	for _, step := range sess.Steps {
		resp := post(step.Path, step.Body)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if m["type"] != "message" && m["input_tokens"] == nil {
				t.Fatalf("%s: %v", step.Name, m)
			}
			continue
		}
		frames := anReadFrames(t, resp.Body)
		resp.Body.Close()
		blocks, start, delta := anCheckGrammar(t, frames)
		if su := start["usage"].(map[string]any); su["input_tokens"].(float64) != 1200 {
			t.Errorf("%s: message_start usage %v", step.Name, su)
		}
		if frames[1].name != "ping" {
			t.Errorf("%s: no ping after message_start", step.Name)
		}
		answers = append(answers, blocks)
		stops = append(stops, delta["delta"].(map[string]any)["stop_reason"])
		if du := delta["usage"].(map[string]any); du["input_tokens"].(float64) != 1200 || du["output_tokens"].(float64) != 12 {
			t.Errorf("%s: message_delta usage %v", step.Name, du)
		}
	}
	if len(answers) != 2 || stops[0] != "tool_use" || stops[1] != "end_turn" {
		t.Fatalf("%d streamed answers, stop reasons %v", len(answers), stops)
	}
	first := answers[0]
	if len(first) != 2 || first[0]["text"] != "I'll list the files." || first[1]["type"] != "tool_use" ||
		first[1]["id"] != "call_0" || first[1]["name"] != "Bash" || first[1]["partial"] != `{"command":"ls"}` {
		t.Errorf("first answer %v (the recorded next turn answers call_0)", first)
	}
	if len(answers[1]) != 1 || answers[1][0]["text"] != "Three files: README.md, go.mod and main.go." {
		t.Errorf("second answer %v", answers[1])
	}
	anGeminiSaw(t, gem)
}

func anGeminiSaw(t *testing.T, gem *fakegemini.Server) {
	t.Helper()
	var gen []fakegemini.Recorded
	for _, r := range gem.Requests() {
		if r.Action != "countTokens" {
			gen = append(gen, r)
		}
	}
	if len(gen) != 3 || len(gem.Counts()) != 1 || gen[0].Model != "models/gemini-2.5-flash-lite" {
		t.Fatalf("%d generate requests, %d counts", len(gen), len(gem.Counts()))
	}
	last := gen[2].Body
	sys := last.SystemInstruction
	if sys == nil || !strings.HasPrefix(*sys.Parts[0].Text, "You are Claude Code") || !strings.Contains(*sys.Parts[0].Text, "\n\nYou are an interactive CLI tool") {
		t.Errorf("system instruction %s", anJSON(sys))
	}
	if len(last.Tools) != 1 || len(last.Tools[0].FunctionDeclarations) != 2 || last.Tools[0].FunctionDeclarations[0].Name != "Bash" {
		t.Errorf("tools %s", anJSON(last.Tools))
	}
	c := last.Contents
	if len(c) != 3 || c[1].Role != "model" || c[1].Parts[1].FunctionCall == nil || c[2].Parts[0].FunctionResponse == nil ||
		c[2].Parts[0].FunctionResponse.Name != "Bash" || !strings.Contains(string(c[2].Parts[0].FunctionResponse.Response), "README.md") {
		t.Errorf("contents %s", anJSON(c))
	}
}

func anText(v any) string {
	s, _ := v.(string)
	return s
}
