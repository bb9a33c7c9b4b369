package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/testenv"
)

// chromium finds Debian's chromium (CHROMIUM_PATH overrides); "" when
// there is none.
func chromium() string {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is where the test saves one screenshot per page (a CI
// artefact): LLMC_ARTIFACTS_DIR/dashboard, else a fixed temp folder.
func screenshotDir(t *testing.T) string {
	base := os.Getenv("LLMC_ARTIFACTS_DIR")
	if base == "" {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "llm-connector-dashboard-screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("dashboard screenshots: %s\n", dir)
	return dir
}

// requestCounter counts the admin API requests the page makes, per view.
type requestCounter struct {
	mu     sync.Mutex
	view   string
	counts map[string]int
}

func (c *requestCounter) set(view string) {
	c.mu.Lock()
	c.view = view
	c.mu.Unlock()
}

func (c *requestCounter) get(view string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[view]
}

func (c *requestCounter) listen(ev any) {
	if e, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(e.Request.URL, "/admin/") {
		c.mu.Lock()
		c.counts[c.view]++
		c.mu.Unlock()
	}
}

// waitStats polls the stats endpoint until the ledger holds n requests.
func waitStats(t *testing.T, url string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", url+"/admin/stats?window=day", nil)
		req.Header.Set("X-Admin-Key", e2eAdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Total struct{ Requests int } }
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.Total.Requests == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger holds %d requests, want %d", st.Total.Requests, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const e2eAdminKey = "e2e-admin-key-0123456789abcdef"

// The most admin API requests a view may make when it opens (and in the
// seconds after: nothing refreshes faster than every 30 s): overview's
// four stats queries (plus the login that opens it), latency's two and
// the overhead, one page of requests, keys and budgets, the status.
var viewBudget = map[string]int{"overview": 5, "latency": 3, "requests": 1, "keys": 2, "providers": 1}

// TestDashboardInChromium drives the dashboard in a real headless
// Chromium against the wired service with a fake Gemini: log in, see the
// overview charts drawn from real requests, read latency, filter the
// request table, create and revoke a key, and see the provider turn
// degraded when its fake fails; it counts every view's requests and
// saves a screenshot per page.
func TestDashboardInChromium(t *testing.T) {
	path := chromium()
	if path == "" {
		testenv.NoteSkip("chromium", "no chromium binary (apt-get install chromium)")
		t.Skip("no chromium binary: apt-get install chromium (or set CHROMIUM_PATH)")
	}
	gem := fakegemini.New(t)
	url, _ := startService(t, map[string]string{
		"GOOGLE_API_KEY": gem.Key, "GOOGLE_GEMINI_BASE_URL": gem.URL, "OLLAMA_HOST": "127.0.0.1:1",
		"LLM_ADMIN_KEY": e2eAdminKey, "LLM_RETRIES": "0",
	})
	for i, user := range []string{"alice", "alice", "alice", "bob", "bob"} {
		req, _ := http.NewRequest("POST", url+"/chat", strings.NewReader(fmt.Sprintf(`{"prompt":"hello %d"}`, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-User-ID", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("chat %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	waitStats(t, url, 5)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1280, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	counter := &requestCounter{counts: map[string]int{}, view: "login"}
	if err := chromedp.Do(bctx); err != nil { // open the tab first, so Listen misses nothing
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Listen(bctx, counter.listen); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, ctx: bctx, dir: screenshotDir(t), counter: counter}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	b.do(chromedp.Navigate(url+"/ui/"), chromedp.WaitVisible(css("#login-key")))
	b.shot("login")
	b.do(chromedp.SendKeys(css("#login-key"), e2eAdminKey), chromedp.Click(css("#login-form button")))
	counter.set("overview")
	b.poll(`document.querySelectorAll('#ch-requests canvas').length > 0 && document.querySelector('#ov-tiles .tile b').textContent === '5'`)
	b.poll(`[...document.querySelectorAll('#top-user td')].some(td => td.textContent === 'alice')`)
	b.settle("overview", viewBudget["overview"])

	b.open("latency", `document.querySelectorAll('#lat-table td').length > 1 && document.querySelector('#overhead').textContent.includes('p99')`)
	b.open("requests", `document.querySelectorAll('#req-table tr').length === 6`)
	b.do(chromedp.SendKeys(css(`#req-filter input[name=user]`), "bob"), chromedp.Click(css(`#req-filter button`)))
	b.poll(`(() => { const rows = [...document.querySelectorAll('#req-table tr')].slice(1);
		return rows.length === 2 && rows.every(r => r.children[1].textContent === 'bob'); })()`)
	b.do(chromedp.Click(css(`#req-table tr.clickable`)))
	b.poll(`!document.querySelector('#req-detail').hidden && document.querySelector('#req-detail').textContent.includes('"user": "bob"')`)
	b.settle("requests", viewBudget["requests"]+2) // + the filtered page and the detail

	b.open("keys", `document.querySelectorAll('#key-table tr').length >= 2`)
	b.do(chromedp.SendKeys(css(`#key-form input[name=user]`), "carol"),
		chromedp.SendKeys(css(`#key-form input[name=models]`), "gemini-*"),
		chromedp.SendKeys(css(`#key-form input[name=daily_usd]`), "5"),
		chromedp.Click(css(`#key-form button`)))
	b.poll(`(document.querySelector('#new-key') || {}).textContent?.length > 20 &&
		[...document.querySelectorAll('#key-table td')].some(td => td.textContent === 'carol')`)
	b.eval(`window.confirm = () => true`)
	b.do(chromedp.Click(css(`#key-table button.revoke`)))
	b.poll(`[...document.querySelectorAll('#key-table tr')].some(tr => tr.children[2]?.textContent === 'carol' && tr.children[10]?.textContent === 'revoked')`)
	b.settle("keys", viewBudget["keys"]+6) // + create and revoke, each reloading keys and budgets

	// The provider's fake goes down: the next call fails, its breaker
	// counts the failure and the service reports it degraded.
	gem.Enqueue(fakegemini.ErrorReply(503, "The model is overloaded."))
	resp, err := http.Post(url+"/chat", "application/json", strings.NewReader(`{"prompt":"fail"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Fatalf("chat with the provider down = %d, want a 5xx", resp.StatusCode)
	}
	b.open("providers", `(() => { const row = [...document.querySelectorAll('#prov-components tr')].find(r => r.children[0].textContent === 'google');
		return row && ['degraded', 'unavailable'].includes(row.children[1].textContent) &&
			[...document.querySelectorAll('#prov-targets td')].some(td => td.textContent.includes('overloaded')); })()`)
}

// browser runs steps in the page and fails the test on the first error.
type browser struct {
	t       *testing.T
	ctx     context.Context
	dir     string
	counter *requestCounter
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *browser) eval(expr string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](expr)); err != nil {
		b.t.Fatalf("browser: %s: %v", expr, err)
	}
}

// poll waits until the expression is true in the page.
func (b *browser) poll(expr string) {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil || !ok {
		body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
		b.t.Fatalf("page never satisfied %s: %v\npage text: %.2000s", expr, err, body)
	}
}

// open goes to a view and waits until it rendered.
func (b *browser) open(view, rendered string) {
	b.t.Helper()
	b.counter.set(view)
	b.eval(`location.hash = '#` + view + `'`)
	b.poll(rendered)
	b.settle(view, viewBudget[view])
}

// settle waits a little (a request storm would show), checks the view's
// request count against its budget and saves a screenshot.
func (b *browser) settle(view string, limit int) {
	b.t.Helper()
	b.do(chromedp.Sleep(1500 * time.Millisecond))
	if n := b.counter.get(view); n == 0 || n > limit {
		b.t.Errorf("view %s made %d admin API requests, want 1..%d", view, n, limit)
	}
	b.shot(view)
}

func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
