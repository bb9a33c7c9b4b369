package fakeollama

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// recording is one exchange recorded from the real Ollama 0.17.4 serving
// the model "tiny" (testdata/*.txt, copied from
// /work/shared/reference/ollama-recorded).
type recording struct {
	method, path, request string
	status                int
	contentType, response string
}

func readRecording(t *testing.T, file string) recording {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rec recording
	head, resp, ok := strings.Cut(string(b), "\nresponse:\n")
	if !ok {
		t.Fatalf("%s: no response", file)
	}
	rec.response = strings.TrimRight(resp, "\n") + "\n"
	for _, l := range strings.Split(head, "\n") {
		switch {
		case strings.HasPrefix(l, "### "):
			f := strings.Fields(l)
			rec.method, rec.path = f[1], f[2]
		case strings.HasPrefix(l, "request: "):
			rec.request = strings.TrimPrefix(l, "request: ")
		case strings.HasPrefix(l, "status: "):
			rec.status = atoi(t, strings.Fields(l)[1])
		case strings.HasPrefix(l, "content-type: "):
			rec.contentType = strings.TrimPrefix(l, "content-type: ")
		}
	}
	return rec
}

func atoi(t *testing.T, s string) int {
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Values that differ between runs: timestamps, durations, token counts of
// the prompt (the fake has no tokenizer), tool call ids, digests.
var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`"(created_at|modified_at)":"[^"]+"`), `"$1":"T"`},
	{regexp.MustCompile(`"(\w+_duration)":\d+`), `"$1":1`},
	{regexp.MustCompile(`"prompt_eval_count":\d+`), `"prompt_eval_count":1`},
	{regexp.MustCompile(`"id":"call_[a-z0-9]+"`), `"id":"call_x"`},
	{regexp.MustCompile(`"digest":"[0-9a-f]+"`), `"digest":"D"`},
}

func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.repl)
	}
	return s
}

// TestMatchesRecordings replays recorded requests against the fake and
// compares status, content type and body (lines, fields and their order)
// after masking the volatile values.
func TestMatchesRecordings(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) < 10 {
		t.Fatalf("recordings: %v %v", files, err)
	}
	f := New(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rec := readRecording(t, file)
			var body io.Reader
			if rec.request != "" {
				body = strings.NewReader(rec.request)
			}
			req, err := http.NewRequest(rec.method, f.URL+rec.path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, got := fakeserver.Do(t, req)
			if resp.StatusCode != rec.status {
				t.Errorf("status %d, want %d", resp.StatusCode, rec.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != rec.contentType {
				t.Errorf("content type %q, want %q", ct, rec.contentType)
			}
			want, gotS := normalize(rec.response), normalize(strings.TrimRight(string(got), "\n")+"\n")
			if diff := cmp.Diff(want, gotS); diff != "" {
				t.Errorf("body (-real +fake):\n%s", diff)
			}
		})
	}
}

func TestNonStreamScripted(t *testing.T) {
	f := New(t)
	f.Enqueue(Reply{Deltas: []string{"a", "b"}, EvalCount: 2, PromptEvalCount: 3, DoneReason: "length"})
	resp := post(t, f.URL+"/api/chat", `{"model":"tiny","messages":[{"role":"user","content":"x"}],"stream":false}`)
	var got struct {
		Message struct{ Content string }
		Done    bool
		Reason  string `json:"done_reason"`
		Eval    int    `json:"eval_count"`
	}
	if err := json.Unmarshal(resp, &got); err != nil {
		t.Fatalf("%s: %v", resp, err)
	}
	if got.Message.Content != "ab" || !got.Done || got.Reason != "length" || got.Eval != 2 {
		t.Errorf("answer %s", resp)
	}
}

func TestEmptyMessagesLoads(t *testing.T) {
	f := New(t)
	got := normalize(string(post(t, f.URL+"/api/chat", `{"model":"tiny","messages":[]}`)))
	want := `{"model":"tiny","created_at":"T","message":{"role":"assistant","content":""},"done":true,"done_reason":"load"}`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEndpoints(t *testing.T) {
	f := New(t)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 200, "Ollama is running"},
		{"GET", "/api/chat", 405, "405 method not allowed"},
		{"POST", "/api/nothing", 404, "404 page not found"},
		{"POST", "/api/chat", 400, `{"error":"missing request body"}`},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, f.URL+tt.path, nil)
		resp, b := fakeserver.Do(t, req)
		if resp.StatusCode != tt.status || string(b) != tt.body {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.body)
		}
	}
	if n := len(f.Requests()); n != len(tests) {
		t.Errorf("recorded %d requests, want %d", n, len(tests))
	}
}

func TestAddModel(t *testing.T) {
	f := New(t)
	f.AddModel("llama3.2:latest")
	b := post(t, f.URL+"/api/chat", `{"model":"llama3.2","messages":[{"role":"user","content":"x"}],"stream":false}`)
	if !strings.Contains(string(b), TinyAnswer) {
		t.Errorf("answer %s", b)
	}
	if c := f.LastChat(); c == nil || c.Model != "llama3.2" || *c.Stream {
		t.Errorf("last chat %+v", c)
	}
}

// TestEndlessObservesCancel reads a few lines of an endless answer, hangs
// up and checks that the fake noticed.
func TestEndlessObservesCancel(t *testing.T) {
	f := New(t)
	f.Enqueue(Reply{Deltas: []string{" tock", " tick"}, Endless: true})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.URL+"/api/chat", strings.NewReader(`{"model":"tiny","messages":[{"role":"user","content":" tick"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 5 && sc.Scan(); i++ {
	}
	cancel()
	resp.Body.Close()
	select {
	case <-f.Canceled():
	case <-time.After(30 * time.Second):
		t.Fatal("cancel not observed")
	}
	if f.CanceledCount() != 1 {
		t.Errorf("canceled count %d", f.CanceledCount())
	}
}

func post(t *testing.T, url, body string) []byte {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// POST /api/show answers as the recorded Ollama 0.17.4 does
// (reference/ollama-recorded/03-show.txt, 19-unknown-model-show.txt).
func TestShowLikeOllama(t *testing.T) {
	s := New(t)
	post := func(body string) (int, map[string]any) {
		resp, err := http.Post(s.URL+"/api/show", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if st, m := post(`{"model":"tiny"}`); st != 200 || m["details"] == nil || m["capabilities"] == nil || m["modelfile"] == nil {
		t.Errorf("known model: %d %v", st, m)
	}
	if st, m := post(`{"model":"does-not-exist"}`); st != 404 || m["error"] != "model 'does-not-exist' not found" {
		t.Errorf("unknown model: %d %v", st, m)
	}
}
