package main

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// TestDeploymentsTwoGateways: two gateway instances share one Redis;
// behind the alias "fast" is a group of three fake-Gemini deployments of
// 10 RPM each (their own keys and base URLs). 60 requests in one minute
// window, alternating between the instances, give exactly 30 answers and
// 30 refusals (429 with Retry-After); each deployment got exactly its 10
// upstream calls. The budget refills one request per 6 s per deployment;
// the test takes well under that.
func TestDeploymentsTwoGateways(t *testing.T) {
	srvs := []*fakegemini.Server{fakegemini.New(t), fakegemini.New(t), fakegemini.New(t)}
	var b strings.Builder
	b.WriteString("groups:\n  gemini-free:\n    model: gemini-2.5-flash\n    strategy: usage\n    deployments:\n")
	keys := map[string]string{"LLM_RETRIES": "0"}
	for i, s := range srvs {
		fmt.Fprintf(&b, "      - {provider: google, api_key_env: GEMINI_KEY_%d, base_url: %s, rpm: 10}\n", i+1, s.URL)
		keys[fmt.Sprintf("GEMINI_KEY_%d", i+1)] = s.Key
	}
	b.WriteString("aliases:\n  fast:\n    targets: [gemini-free/gemini-2.5-flash]\n")
	env := redisEnv(t, b.String())
	maps.Copy(env, keys)
	urls := make([]string, 2)
	logs := make([]*syncBuffer, 2)
	for i := range urls {
		urls[i], logs[i] = startService(t, env)
	}
	var mu sync.Mutex
	codes := map[int]int{}
	// Six clients at a time: enough to interleave the instances, few
	// enough that a loaded test machine does not exhaust the Redis pools
	// (a pool timeout fails the limiters open, by design).
	var wg sync.WaitGroup
	next := make(chan int)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				status, body := postJSON(t, urls[i%2]+"/chat", fmt.Sprintf(`{"prompt":"q%d","model":"fast"}`, i))
				mu.Lock()
				codes[status]++
				mu.Unlock()
				if status != 200 && status != 429 {
					t.Errorf("status %d: %v", status, body)
				}
			}
		}()
	}
	for i := range 60 {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, l := range logs {
		if strings.Contains(l.String(), "unavailable") || strings.Contains(l.String(), "unreachable") {
			t.Logf("a Redis call failed during the test (limits failed open):\n%s", l)
		}
	}
	if codes[200] != 30 || codes[429] != 30 {
		t.Fatalf("statuses %v; want 30 answered and 30 refused", codes)
	}
	for i, s := range srvs {
		if n := len(s.Requests()); n != 10 {
			t.Errorf("deployment %d: %d upstream calls, want exactly its 10 RPM", i+1, n)
		}
	}
	health := get(t, urls[0]+"/health")
	for i, s := range srvs {
		if strings.Contains(health, s.Key) || strings.Contains(logs[0].String(), s.Key) {
			t.Fatalf("deployment %d's key in /health or the log", i+1)
		}
	}
	if !strings.Contains(health, `"gemini-free#3"`) || !strings.Contains(health, `"strategy":"usage"`) {
		t.Fatalf("/health does not list the deployments: %s", health)
	}
}

// TestGoogleKeysAsDeployments: GOOGLE_API_KEY with two comma-separated
// keys makes two deployments, google#1 and google#2. The second key is
// refused (400 API_KEY_INVALID): that deployment cools down for an hour,
// /health says so (without the key), and the first serves every request.
func TestGoogleKeysAsDeployments(t *testing.T) {
	gem := fakegemini.New(t)
	bad := "bad-key-" + "0123456789"
	url, logs := startService(t, map[string]string{"GOOGLE_API_KEY": gem.Key + "," + bad, "GOOGLE_GEMINI_BASE_URL": gem.URL,
		"OLLAMA_HOST": "127.0.0.1:1", "LLM_FALLBACK": "none", "CACHE_ENABLED": "false"})
	refusedCalls := func() int {
		n := 0
		for _, r := range gem.Requests() {
			if r.Header.Get("X-Goog-Api-Key") == bad {
				n++
			}
		}
		return n
	}
	// Weighted picks google#2 half the time: 40 requests miss it with
	// probability 2^-40.
	for i := range 40 {
		if status, body := postJSON(t, url+"/chat", fmt.Sprintf(`{"prompt":"q%d"}`, i)); status != 200 {
			t.Fatalf("request %d: %d %v", i, status, body)
		}
	}
	refused := refusedCalls()
	if refused != 1 {
		t.Fatalf("the refused key was tried %d times, want once (then it cools down)", refused)
	}
	health := get(t, url+"/health")
	if strings.Contains(health, bad) || strings.Contains(health, gem.Key) || strings.Contains(logs.String(), bad) {
		t.Fatal("a key in /health or the log")
	}
	if !strings.Contains(health, `"google#2"`) {
		t.Fatalf("/health: %s", health)
	}
	if !strings.Contains(health, "credentials refused") {
		t.Fatalf("/health does not show google#2's cooldown: %s", health)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
