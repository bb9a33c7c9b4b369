package mlflow

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
)

const helperEnv = "MLFLOW_TRACKER_HELPER"

// TestHelperProcess is the "service" of TestKilledWithBacklog: it records
// interactions, reports which are acknowledged (fsynced), keeps recording
// and shipping, and waits to be killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestKilledWithBacklog")
	}
	mode := Mode(os.Getenv("HELPER_MODE"))
	if mode == "" {
		mode = ModeRuns
	}
	workers, _ := strconv.Atoi(os.Getenv("HELPER_WORKERS"))
	tr, err := Open(Config{
		Mode: mode, TrackingURI: os.Getenv("HELPER_URI"), SpoolDir: os.Getenv("HELPER_DIR"), Workers: max(workers, 4),
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: quiet(),
		Window: helperWindow(),
	})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := range 200 {
		c := sampleCall(i)
		c.ID = fmt.Sprintf("acked-%03d", i)
		if err := tr.Record(ctx, c); err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
	}
	if err := tr.Sync(ctx); err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("ACKED 200")
	for i := 0; ; i++ { // unacknowledged extras until the kill
		c := sampleCall(i)
		c.ID = fmt.Sprintf("extra-%05d", i)
		tr.Record(ctx, c)
		time.Sleep(time.Millisecond)
	}
}

// TestKilledWithBacklog kills the service with SIGKILL while it ships a
// backlog to a slow MLflow; after a restart on the same spool every
// acknowledged interaction is in MLflow exactly once, and no interaction
// at all is there twice.
func TestKilledWithBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	f := startFake(t, fakemlflow.Options{})
	f.Slow(5 * time.Millisecond)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_URI="+f.URL(), "HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ACKED 200" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	eventually(t, "shipping under way", func() bool {
		return f.Calls()["POST /api/2.0/mlflow/runs/create"] >= 20
	})
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	exp := expID(t, f)
	before := len(f.Runs(exp))
	var open int
	for _, r := range f.Runs(exp) {
		if r.Status == "RUNNING" {
			open++ // created, not finished: the replay must find it
		}
	}
	if before >= 200 {
		t.Fatalf("helper shipped everything (%d runs) before the kill; no backlog to test", before)
	}

	f.Slow(0)
	cfg := testConfig(t, f)
	cfg.SpoolDir = dir
	tr := openTracker(t, cfg)
	waitDrained(t, tr)

	count := map[string]int{}
	for _, r := range f.Runs(exp) {
		count[r.Tags[TagInteractionID]]++
		if r.Status != "FINISHED" {
			t.Errorf("run %s left %s", r.Tags[TagInteractionID], r.Status)
		}
	}
	for i := range 200 {
		if id := fmt.Sprintf("acked-%03d", i); count[id] != 1 {
			t.Errorf("%s arrived %d times, want 1", id, count[id])
		}
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
	}
	t.Logf("runs before kill %d (%d unfinished), after restart %d (extras %d), searches %d",
		before, open, len(f.Runs(exp)), len(count)-200, f.Calls()["POST /api/2.0/mlflow/runs/search"])
}
