package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
)

// TestMaxInFlightPerUser: with max_in_flight.user 1 and two instances on
// one Redis, a user's request held upstream on instance a fills the cap:
// the same user on instance b gets 429 with Retry-After: 1 and a body
// naming the cap, another user is served, and the slot is free again
// once the held request ends.
func TestMaxInFlightPerUser(t *testing.T) {
	env := redisEnv(t, "max_in_flight:\n  user: 1\n")
	gem := fakegemini.New(t)
	env["GOOGLE_API_KEY"], env["GOOGLE_GEMINI_BASE_URL"] = gem.Key, gem.URL
	a, _ := startService(t, env)
	b, _ := startService(t, env)
	release := make(chan struct{})
	gem.Enqueue(fakegemini.Reply{Fault: fakegemini.FaultHang, Release: release, Deltas: []string{"held"}})
	held := make(chan int, 1)
	go func() {
		resp, _ := chatAs(t, a, "alice", `{"prompt":"hold"}`)
		held <- resp.StatusCode
	}()
	for i := 0; len(gem.Requests()) == 0; i++ { // wait until alice's request is upstream
		if i > 5000 {
			t.Fatal("the held request never reached the upstream")
		}
		time.Sleep(time.Millisecond)
	}
	resp, body := chatAs(t, b, "alice", `{"prompt":"second"}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "max_in_flight per user") {
		t.Fatalf("alice's second request: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, body := chatAs(t, b, "bob", `{"prompt":"other user"}`); resp.StatusCode != 200 {
		t.Fatalf("bob: %d %s", resp.StatusCode, body)
	}
	close(release)
	if code := <-held; code != 200 {
		t.Fatalf("held request: %d", code)
	}
	if resp, body := chatAs(t, b, "alice", `{"prompt":"third"}`); resp.StatusCode != 200 {
		t.Fatalf("alice after the release: %d %s", resp.StatusCode, body)
	}
}

// redisEnv is the environment of gateway instances that share the test
// Redis (under a fresh key prefix), with the configuration file yaml,
// Ollama unreachable and the cache off. It skips without REDIS_TEST_URL.
func redisEnv(t *testing.T, yaml string) map[string]string {
	t.Helper()
	_, prefix := redistest.Client(t)
	path := filepath.Join(t.TempDir(), "llm.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"OLLAMA_HOST": "127.0.0.1:1", "REDIS_URL": redistest.URL(), "REDIS_KEY_PREFIX": prefix,
		"LLM_CONFIG": path, "CACHE_ENABLED": "false"}
}
