package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
)

// The bounds the abuse test holds the real binary to, whatever it is sent.
const (
	abuseMaxRSS     = 200 << 20 // peak resident set (VmHWM); 108 MB measured streamed, 173 MB since non-stream bodies (16 MB each, GOGC 300)
	abuseMaxMetrics = 512 << 10 // one /metrics scrape
	abuseMaxLedger  = 16 << 20  // the SQLite ledger files in DATA_DIR
	abuseMaxLog     = 16 << 20  // everything the service logged
)

// abuseRow is one kind of hostile traffic. run sends it to base and checks
// the answers; the bounds are checked after every row.
type abuseRow struct {
	name string
	run  func(t *testing.T, base string)
}

// abuseRows: issue 18 items 1, 5 and 9.
func abuseRows() []abuseRow {
	return []abuseRow{
		{"item 1: 2,000 distinct long model names", func(t *testing.T, base string) {
			for i := range 2000 {
				name := fmt.Sprintf("google/m%05d-%s", i, strings.Repeat("x", 240))
				if code, body := abusePost(t, base, name); code != 200 {
					t.Fatalf("model %d: %d %s", i, code, body)
				}
			}
		}},
		{"item 1: model names of 900 KB", func(t *testing.T, base string) {
			for i := range 20 {
				name := fmt.Sprintf("google/%06d%s", i, strings.Repeat("m", 900<<10))
				if code, body := abusePost(t, base, name); code != 400 || len(body) > 1024 {
					t.Fatalf("900 KB name: %d, %d bytes: %.200s", code, len(body), body)
				}
			}
		}},
		// The adapter's error is KindUpstream: the route answers with its
		// most meaningful failure's status (issue 18 item 11), a 502.
		{"item 9: one event of 100 data lines of 1 MB", func(t *testing.T, base string) {
			for range 3 {
				if code, body := abusePost(t, base, "google/huge-event"); code != 502 || !strings.Contains(body, "large") {
					t.Fatalf("huge event: %d %.300s", code, body)
				}
			}
		}},
		{"item 5: clients that read 30 of 40 chunks and hang up", func(t *testing.T, base string) {
			for i := range 5 {
				abortAfter(t, base, fmt.Sprintf("abuser-%d", i), 30)
			}
		}},
		{"item 9: a stream that never ends", func(t *testing.T, base string) {
			for range 2 {
				if code, body := abusePost(t, base, "google/endless"); code != 502 || !strings.Contains(body, "large") {
					t.Fatalf("endless stream: %d %.300s", code, body)
				}
			}
		}},
	}
}

func abusePost(t *testing.T, base, model string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/chat", "application/json", strings.NewReader(`{"prompt":"hi","model":"`+model+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// abuseGemini is a Gemini stand-in: a short answer for any model (one
// JSON body for generateContent, SSE for streamGenerateContent), and two
// hostile bodies for the models huge-event and endless, whichever way
// they are asked for.
func abuseGemini(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(text string) string {
		return `data: {"candidates":[{"content":{"parts":[{"text":"` + text + `"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash"}` + "\r\n\r\n"
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	switch {
	case strings.Contains(r.URL.Path, "/huge-event:"):
		line := "data: " + strings.Repeat("x", 1<<20) + "\n"
		for range 100 {
			if _, err := bw.WriteString(line); err != nil {
				return
			}
		}
	case strings.Contains(r.URL.Path, "/counting:"): // 40 chunks, usage so far on each
		for i := 1; i <= 40 && r.Context().Err() == nil; i++ {
			bw.WriteString(`data: {"candidates":[{"content":{"parts":[{"text":"w` + strconv.Itoa(i) + ` "}],"role":"model"},"index":0}],` +
				`"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":` + strconv.Itoa(i) + `,"totalTokenCount":` + strconv.Itoa(7+i) + `},"modelVersion":"gemini-2.5-flash"}` + "\r\n\r\n")
			bw.Flush()
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	case strings.Contains(r.URL.Path, "/endless:"):
		c := chunk(strings.Repeat("y", 4000))
		for r.Context().Err() == nil {
			if _, err := bw.WriteString(c); err != nil {
				return
			}
		}
	default:
		answer := `{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP","index":0}],` +
			`"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1,"totalTokenCount":2},"modelVersion":"gemini-2.5-flash"}`
		if strings.HasSuffix(r.URL.Path, ":generateContent") { // a non-stream call: one JSON body
			w.Header().Set("Content-Type", "application/json")
			bw.WriteString(answer)
			return
		}
		bw.WriteString("data: " + answer + "\r\n\r\n")
	}
}

// TestAbuseBounded drives the real binary with hostile traffic (issue 18)
// and holds it to fixed bounds on peak RSS, /metrics, the ledger and the
// log.
func TestAbuseBounded(t *testing.T) {
	dir, bin := buildBinary(t)
	gem := httptest.NewServer(http.HandlerFunc(abuseGemini))
	defer gem.Close()
	addr := freeAddr(t)
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "service.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LISTEN_ADDR="+addr, "DATA_DIR="+data, "GOOGLE_API_KEY=abuse-test-key-123",
		"GOOGLE_API_KEY_FILE=", "GOOGLE_GEMINI_BASE_URL="+gem.URL, "OLLAMA_HOST=127.0.0.1:1", "LLM_FALLBACK=none",
		"LLM_RETRIES=0", "CACHE_ENABLED=false", "MLFLOW_TRACKING_URI=", "SHUTDOWN_TIMEOUT=5s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://" + addr
	waitUp(t, base)
	for _, row := range abuseRows() {
		t.Run(row.name, func(t *testing.T) {
			row.run(t, base)
			rss := vmHWM(t, cmd.Process.Pid)
			metrics := scrapeSize(t, base)
			logSize := fileSize(t, logPath)
			t.Logf("peak RSS %d MB, /metrics %d KB, log %d KB", rss>>20, metrics>>10, logSize>>10)
			if rss > abuseMaxRSS || metrics > abuseMaxMetrics || logSize > abuseMaxLog {
				t.Errorf("past the bounds: peak RSS %d (max %d), /metrics %d (max %d), log %d (max %d)",
					rss, abuseMaxRSS, metrics, abuseMaxMetrics, logSize, abuseMaxLog)
			}
		})
	}
	// A clean stop flushes the ledger; then its size is final.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("service exit: %v", err)
	}
	ledger := dirSize(t, data)
	t.Logf("ledger %d KB", ledger>>10)
	if ledger > abuseMaxLedger {
		t.Errorf("ledger is %d bytes (max %d)", ledger, abuseMaxLedger)
	}
	checkAbortedBilled(t, data)
}

// abortAfter streams a 40-chunk answer as user and hangs up after n
// content events, as a caller dodging its budget would.
func abortAfter(t *testing.T, base, user string, n int) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/chat", strings.NewReader(`{"prompt":"count","model":"google/counting","stream":true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-ID", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for seen := 0; seen < n && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "event: delta") {
			seen++
		}
	}
	resp.Body.Close()
}

// checkAbortedBilled: every aborted stream is in the ledger with the
// usage Gemini reported on its last chunk before the hang-up, not 0.
func checkAbortedBilled(t *testing.T, data string) {
	t.Helper()
	db, err := store.Open(context.Background(), store.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT input_tokens, output_tokens, cost_usd FROM usage_events WHERE user_id LIKE 'abuser-%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var in, out int
		var usd float64
		if err := rows.Scan(&in, &out, &usd); err != nil {
			t.Fatal(err)
		}
		n++
		if in == 0 || out < 30 || usd <= 0 {
			t.Errorf("aborted stream billed input %d, output %d, $%g; want what was reported so far", in, out, usd)
		}
	}
	if n != 5 {
		t.Errorf("%d ledger rows for 5 aborted streams", n)
	}
}

// buildBinary builds the service into a temporary directory and returns
// both; with -short the test is skipped instead.
func buildBinary(t *testing.T) (dir, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "llm-connector")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir, bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitUp polls /health until the service answers (bounded).
func waitUp(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the service did not come up")
}

// vmHWM is the peak resident set of pid, from /proc/<pid>/status.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

func scrapeSize(t *testing.T, base string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	return n
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
