package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
)

func chatAs(t *testing.T, url, user, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/chat", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-ID", user)
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

// TestTwoInstancesShareLimitsAndCache: two service instances on one Redis
// enforce one limit, not two, and share the response cache.
func TestTwoInstancesShareLimitsAndCache(t *testing.T) {
	// Skips (or fails in CI) when Redis is not there; every key under the
	// test's prefix is deleted when it ends.
	_, prefix := redistest.Client(t)
	gem := fakegemini.New(t)
	env := map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
		"REDIS_URL": redistest.URL(), "REDIS_KEY_PREFIX": prefix, "RATE_LIMIT_RPM": "10", "CACHE_SAMPLED": "true",
	}
	a, _ := startService(t, env)
	b, _ := startService(t, env)
	user := fmt.Sprintf("limit-%d", time.Now().UnixNano())

	var ok, limited atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := a
			if i%2 == 1 {
				url = b
			}
			// Distinct prompts and no-store keep the cache out of this part.
			resp, body := chatAs(t, url, user, fmt.Sprintf(`{"prompt":"q%d"}`, i), "Cache-Control", "no-cache, no-store")
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
				if resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "requests") {
					t.Errorf("429 without Retry-After or reason: %v %s", resp.Header, body)
				}
			default:
				t.Errorf("status %d: %s", resp.StatusCode, body)
			}
			if resp.Header.Get("X-Ratelimit-Limit-Requests") != "10" {
				t.Errorf("limit header = %q", resp.Header.Get("X-Ratelimit-Limit-Requests"))
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 || limited.Load() != 10 {
		t.Errorf("passed %d, limited %d; want 10 and 10", ok.Load(), limited.Load())
	}

	// The cache: instance a fills it, instance b hits it.
	prompt := fmt.Sprintf(`{"prompt":"cache me %d"}`, time.Now().UnixNano())
	other := user + "-cache"
	before := len(gem.Requests())
	resp, body := chatAs(t, a, other, prompt)
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d %s %s", resp.StatusCode, resp.Header.Get("X-Cache"), body)
	}
	resp, body = chatAs(t, b, other, prompt)
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "HIT" || !strings.Contains(body, `"cached":true`) {
		t.Fatalf("second: %d %s %s", resp.StatusCode, resp.Header.Get("X-Cache"), body)
	}
	if got := len(gem.Requests()) - before; got != 1 {
		t.Errorf("upstream called %d times, want 1", got)
	}
	resp, _ = chatAs(t, b, other, prompt, "Cache-Control", "no-cache")
	if resp.Header.Get("X-Cache") != "MISS" {
		t.Errorf("no-cache still hit the cache")
	}
}
