package ollama

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "http://127.0.0.1:11434"},
		{"   ", "http://127.0.0.1:11434"},
		{"http://127.0.0.1:11434", "http://127.0.0.1:11434"},
		{"http://127.0.0.1:11434/", "http://127.0.0.1:11434"},
		{"https://ollama.example.com", "https://ollama.example.com:443"},
		{"http://ollama.example.com", "http://ollama.example.com:80"},
		{"example.com:8080", "http://example.com:8080"},
		{"example.com", "http://example.com:11434"},
		{"example.com/", "http://example.com:11434"},
		{"localhost", "http://localhost:11434"},
		{":11434", "http://:11434"},
		{"0.0.0.0", "http://0.0.0.0:11434"},
		{"0.0.0.0:11434", "http://0.0.0.0:11434"},
		{"::1", "http://[::1]:11434"},
		{"[::1]:9000", "http://[::1]:9000"},
		{"host:", "http://host:11434"},
		{"ollama.com", "https://ollama.com:443"},
		{"https://proxy.example.com/ollama/", "https://proxy.example.com:443/ollama"},
		{"http://user:pw@example.com:8080", "http://user:pw@example.com:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseHost(tt.in)
			if err != nil {
				t.Fatalf("ParseHost(%q): %v", tt.in, err)
			}
			if got := u.String(); got != tt.want {
				t.Errorf("ParseHost(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseHostInvalid(t *testing.T) {
	// "::::" and a space (issue 18 item 14) used to pass here and
	// fail later, in every request, with a raw Go parse error.
	for _, in := range []string{"example.com:http", "example.com:70000", "ftp://example.com", "http://user:s3cret@host:99999",
		"::::", "exa mple.com", "http://user:s3cret@::::"} {
		_, err := ParseHost(in)
		if err == nil {
			t.Errorf("ParseHost(%q) accepted", in)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ParseHost error shows the password: %v", err)
		}
	}
}

func TestNewInvalid(t *testing.T) {
	if _, err := New(Config{Host: "ftp://x"}); err == nil {
		t.Error("New accepted an ftp host")
	}
	if _, err := New(Config{KeepAlive: "forever"}); err == nil {
		t.Error("New accepted keep_alive \"forever\"")
	}
}

func TestPing(t *testing.T) {
	f := fakeollama.New(t)
	c := newClient(t, f.URL)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if got := f.Requests()[0].Path; got != "/api/version" {
		t.Errorf("Ping asked %s", got)
	}
}

func TestPingNotOllama(t *testing.T) {
	f := fakeollama.New(t)
	c := newClient(t, f.URL+"/not-here")
	err := c.Ping(context.Background())
	if llm.KindOf(err) != llm.KindNotFound {
		t.Errorf("Ping of a wrong path: %v (kind %v), want not_found", err, llm.KindOf(err))
	}
}

func TestHostRedacted(t *testing.T) {
	c, err := New(Config{Host: "http://admin:s3cret@127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.Host(), "s3cret") {
		t.Errorf("Host() = %q shows the password", c.Host())
	}
}

func newClient(t testing.TB, host string) *Client {
	t.Helper()
	c, err := New(Config{Host: host})
	if err != nil {
		t.Fatalf("New(%q): %v", host, err)
	}
	return c
}

// CheckModel is POST /api/show on the configured model: the deep health
// check (issue 18 item 10); a model not pulled is a 404 naming it.
func TestCheckModel(t *testing.T) {
	f := fakeollama.New(t)
	c, err := New(Config{Host: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckModel(context.Background(), "tiny"); err != nil {
		t.Fatalf("known model: %v", err)
	}
	err = c.CheckModel(context.Background(), "not-pulled")
	if llm.KindOf(err) != llm.KindNotFound || !strings.Contains(llm.PublicMessage(err), "not-pulled") {
		t.Errorf("unknown model: %v, want not found naming it", err)
	}
}

// Should an unusable address get past ParseHost, the client sees a plain
// message, never Go's URL parse error naming it (issue 18 item 14).
func TestBuildRequestErrorIsPublic(t *testing.T) {
	c := &Client{chatURL: "http://[::::]:11434/api/chat", http: http.DefaultClient}
	_, err := llm.Collect(c.Stream(context.Background(), &llm.Request{Model: "tiny", MaxTokens: 5,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}))
	msg := llm.PublicMessage(err)
	if err == nil || strings.Contains(msg, "parse") || strings.Contains(msg, "::::") || !strings.Contains(msg, "OLLAMA_HOST") {
		t.Errorf("public message %q", msg)
	}
}
