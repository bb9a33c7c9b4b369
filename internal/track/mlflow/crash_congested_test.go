package mlflow

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
)

// helperWindow is the helper process's window shape: small windows, so a
// kill finds several in every state.
func helperWindow() WindowOptions {
	return WindowOptions{Size: 25, MaxAge: 100 * time.Millisecond, SweepEvery: -1}
}

// TestKilledWhileCongested is issue 12's exactly-once proof: the service
// is SIGKILLed while it ships to a congested server (calibrated cost, 16
// requests admitted at once, each processed to the end even after its
// client died), then restarted on the same spool. Whatever the server
// still processes from the dead process's queue, every acknowledged
// interaction ends up in MLflow exactly once, with no RUNNING orphan left.
func TestKilledWhileCongested(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	trials := 3
	if os.Getenv("MLFLOW_CRASH_TRIALS") != "" {
		fmt.Sscan(os.Getenv("MLFLOW_CRASH_TRIALS"), &trials)
	}
	for _, mode := range []Mode{ModeRuns, ModeWindows} {
		for trial := range trials {
			t.Run(fmt.Sprintf("%s/%d", mode, trial), func(t *testing.T) { killWhileCongested(t, mode, trial) })
		}
	}
}

func killWhileCongested(t *testing.T, mode Mode, trial int) {
	f := startFake(t, fakemlflow.Options{Cost: fakemlflow.Calibrated().Scale(0.05), Workers: 16})
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_URI="+f.URL(), "HELPER_DIR="+dir,
		"HELPER_MODE="+string(mode), "HELPER_WORKERS=16")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "ACKED 200" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	// Kill at a different point in each trial, with requests queued.
	creates := 3 + 4*trial
	eventually(t, "shipping under way, requests queued", func() bool {
		admitted, _ := f.Queue()
		return f.Calls()["POST /api/2.0/mlflow/runs/create"] >= creates && admitted > 0
	})
	cmd.Process.Kill()
	cmd.Wait()
	admitted, waiting := f.Queue()
	cfg := testConfig(t, f)
	cfg.Mode, cfg.SpoolDir, cfg.Workers = mode, dir, 16
	cfg.Window, cfg.RecheckAfter = helperWindow(), 50*time.Millisecond
	cfg.Window.SweepEvery, cfg.Window.SweepAge = 20*time.Millisecond, time.Millisecond
	tr := openTracker(t, cfg)
	waitDrained(t, tr)
	// Let the server finish the dead process's queue, then the re-checks.
	eventually(t, "server idle and no orphan", func() bool {
		a, w := f.Queue()
		return a == 0 && w == 0 && orphans(f) == 0
	})
	count := landedIDs(t, f, mode)
	for i := range 200 {
		if id := fmt.Sprintf("acked-%03d", i); count[id] != 1 {
			t.Errorf("%s landed %d times, want 1", id, count[id])
		}
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("%s landed %d times", id, n)
		}
	}
	t.Logf("%s trial %d: queued at the kill %d+%d, deleted duplicates %d", mode, trial, admitted, waiting, f.Count().DeletedRuns)
}

// orphans counts active RUNNING runs.
func orphans(f *fakemlflow.Server) int {
	n := 0
	for _, r := range f.RunsByTag(TagSourceName, "llm-connector") {
		if r.LifecycleStage != "deleted" && r.Status == "RUNNING" {
			n++
		}
	}
	return n
}

// landedIDs counts each interaction in the active runs: per-interaction
// runs by tag, window runs by their interactions.json rows.
func landedIDs(t *testing.T, f *fakemlflow.Server, mode Mode) map[string]int {
	count := map[string]int{}
	for _, r := range f.RunsByTag(TagSourceName, "llm-connector") {
		if r.LifecycleStage == "deleted" {
			continue
		}
		if mode == ModeRuns {
			count[r.Tags[TagInteractionID]]++
			continue
		}
		rows, ok := f.TableColumn(r.ID, WindowTable, "request_id")
		if !ok {
			t.Errorf("window run %s has no table", r.ID)
			continue
		}
		for _, id := range rows {
			count[id]++
		}
	}
	return count
}

// A replayed interaction with a duplicate run beside its own (the orphan
// of a killed process's queued create) ends with one active run, and a
// duplicate that the server creates after the first re-check is deleted
// by the deferred one.
func TestReplayDeletesDuplicateRuns(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	exp := f.CreateExperiment("llm-connector", "")
	c := sampleCall(7)
	first := f.CreateRunForTest(exp, map[string]string{TagInteractionID: c.ID, TagSourceName: "llm-connector"})
	f.CreateRunForTest(exp, map[string]string{TagInteractionID: c.ID, TagSourceName: "llm-connector"})
	cfg := testConfig(t, f)
	cfg.RecheckAfter = 20 * time.Millisecond
	spoolRecords(t, cfg.SpoolDir, c)
	tr := openTracker(t, cfg)
	waitDrained(t, tr)
	eventually(t, "one active run", func() bool { return f.TagValues(TagInteractionID)[c.ID] == 1 })
	late := f.CreateRunForTest(exp, map[string]string{TagInteractionID: c.ID, TagSourceName: "llm-connector"})
	eventually(t, "the late duplicate deleted", func() bool { return f.TagValues(TagInteractionID)[c.ID] == 1 })
	for _, r := range f.RunsByTag(TagInteractionID, c.ID) {
		switch {
		case r.ID == first && (r.LifecycleStage == "deleted" || r.Status != "FINISHED"):
			t.Errorf("the adopted run %s is %s/%s", r.ID, r.LifecycleStage, r.Status)
		case r.ID == late && r.LifecycleStage != "deleted":
			t.Errorf("the late duplicate %s is still %s", r.ID, r.LifecycleStage)
		}
	}
}
