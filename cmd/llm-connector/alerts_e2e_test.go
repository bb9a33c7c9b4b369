package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/cost"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// hook is a budget alert receiver; hold delays each answer.
type hook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	valid  map[string]bool // alert bodies with a good signature
	posts  int
	secret string
}

func newHook(t *testing.T, secret string, hold time.Duration) *hook {
	h := &hook{valid: map[string]bool{}, secret: secret}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case <-time.After(hold):
		case <-r.Context().Done():
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.posts++
		if cost.VerifySignature(h.secret, r.Header.Get(cost.SignatureHeader), body, time.Now(), time.Minute) {
			h.valid[string(body)] = true
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) counts() (posts, valid int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.posts, len(h.valid)
}

// TestBudgetAlertsEndToEnd: two services, one whose alert receiver holds
// every POST for two seconds, serve the same priced calls (each about 5 %
// of the user's daily budget, so both cross 50, 80 and 100 %): the calls
// take as long on both (a ratio, in one run, interleaved); the prompt
// receiver gets the three alerts, signed; the secret is in no log.
func TestBudgetAlertsEndToEnd(t *testing.T) {
	const secret = "e2e-alert-secret-value"
	fast, slow := newHook(t, secret, 0), newHook(t, secret, 2*time.Second)
	const calls = 24
	start := func(h *hook) (string, *syncBuffer) {
		gem := fakegemini.New(t)
		for range calls {
			gem.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 100_000, CandidatesTokenCount: 10_000, TotalTokenCount: 110_000}, "ok"))
		}
		return startService(t, map[string]string{
			"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
			"CACHE_ENABLED": "false", "USER_BUDGET_DAILY_USD": "1.2",
			"BUDGET_ALERT_WEBHOOK_URL": h.srv.URL, "BUDGET_ALERT_SECRET": secret,
		})
	}
	urlFast, logsFast := start(fast)
	urlSlow, logsSlow := start(slow)
	var took [2]time.Duration
	for i := range calls {
		for j, url := range []string{urlFast, urlSlow} {
			t0 := time.Now()
			resp, body := do(t, "POST", url+"/chat", `{"prompt":"spend","max_tokens":16}`, "X-User-ID", "carol")
			took[j] += time.Since(t0)
			if resp.StatusCode != 200 && resp.StatusCode != 429 {
				t.Fatalf("call %d: %d %s", i, resp.StatusCode, body)
			}
		}
	}
	slowPosts, _ := slow.counts()
	ratio := float64(took[1]) / float64(took[0])
	t.Logf("%d calls each: %v with a prompt receiver, %v with a 2 s receiver (ratio %.2f); the slow one had answered %d POSTs",
		calls, took[0], took[1], ratio, slowPosts)
	// Waiting on the receiver would add two seconds to each call that
	// crosses a threshold: a ratio in the hundreds. 3 leaves room for noise.
	if ratio > 3 {
		t.Errorf("calls took %.2fx as long with a slow alert receiver", ratio)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, valid := fast.counts(); valid < 3 && time.Now().Before(deadline); _, valid = fast.counts() {
		time.Sleep(10 * time.Millisecond)
	}
	posts, valid := fast.counts()
	if posts != 3 || valid != 3 {
		t.Errorf("prompt receiver: %d posts, %d validly signed; want 3 and 3 (50, 80, 100 %%)", posts, valid)
	}
	for _, logs := range []*syncBuffer{logsFast, logsSlow} {
		if strings.Contains(logs.String(), secret) {
			t.Error("the alert secret is in the log")
		}
	}
	if !strings.Contains(logsFast.String(), "budget alert") {
		t.Errorf("no budget alert log line:\n%s", logsFast)
	}
}
