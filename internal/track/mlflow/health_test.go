package mlflow

import (
	"context"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
	"github.com/llm-connector/llm-connector/internal/track"
)

// Health is degraded from the first failed delivery and ok again, with the
// error gone, at the first success; and only the probe can resume shipping
// here: the backoff after the outage is an hour.
func TestHealthTransitionsAndProbeResumes(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	cfg := testConfig(t, f)
	cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	cfg.ProbeInterval = 10 * time.Millisecond
	tr := openTracker(t, cfg)

	recordN(t, tr, 0, 5)
	waitDrained(t, tr)
	if st := tr.Stats(); st.Failing || st.LastError != "" {
		t.Fatalf("healthy start: %+v", st)
	}
	f.Down()
	recordN(t, tr, 5, 10)
	eventually(t, "failing", func() bool { return tr.Stats().Failing })
	if st := tr.Stats(); st.LastError == "" || st.Backlog == 0 {
		t.Fatalf("while down: %+v", st)
	}
	if err := f.Up(); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, tr)
	st := tr.Stats()
	if st.Failing || st.LastError != "" || !st.LastErrorTime.IsZero() || st.Shipped != 10 {
		t.Fatalf("after recovery: %+v", st)
	}
	if n := len(f.Runs(expID(t, f))); n != 10 {
		t.Fatalf("runs = %d, want 10", n)
	}
}

// With nothing waiting, a good probe alone clears a failure.
func TestProbeClearsFailureWithEmptyBacklog(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	cfg := testConfig(t, f)
	cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	cfg.ProbeInterval = 10 * time.Millisecond
	tr := openTracker(t, cfg)
	f.FailNext(1)
	recordN(t, tr, 0, 1)
	waitDrained(t, tr)
	eventually(t, "healthy", func() bool { st := tr.Stats(); return !st.Failing && st.LastError == "" })
	if st := tr.Stats(); st.Failures == 0 {
		t.Fatalf("the failure was not counted: %+v", st)
	}
}

// A record whose content was withheld (MLFLOW_LOG_CONTENT=none) says so
// in MLflow instead of showing an empty prompt.
func TestWithheldContentSaysSo(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	tr := openTracker(t, testConfig(t, f))
	c := sampleCall(1)
	c.System, c.Prompt, c.Response, c.Content = "", "", "", track.ContentNone
	if err := tr.Record(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, tr)
	runs := f.Runs(expID(t, f))
	if len(runs) != 1 {
		t.Fatalf("runs = %d", len(runs))
	}
	for _, name := range []string{PromptArtifact, ResponseArtifact} {
		if b, _ := f.Artifact(runs[0].ID, name); string(b) != track.NotLogged {
			t.Errorf("%s = %q, want %q", name, b, track.NotLogged)
		}
	}
}

func TestRateMeter(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	var m rateMeter
	for i := range 100 { // 100 in the first second
		m.add(base.Add(time.Duration(i) * 5 * time.Millisecond))
	}
	if r := m.rate(base.Add(900 * time.Millisecond)); r != 100 {
		t.Errorf("first second: %v, want 100", r)
	}
	if r := m.rate(base.Add(1500 * time.Millisecond)); r != 50 { // EWMA of 100 and the start
		t.Errorf("after one second: %v, want 50", r)
	}
	if r := m.rate(base.Add(6 * time.Second)); r > 3 {
		t.Errorf("five idle seconds later: %v, want it near 0", r)
	}
}

// Auto mode makes per-interaction runs only while interactions arrive
// slowly; past RunsMaxRate the window runs carry them alone.
func TestAutoModeSkipsRunsAtHighRates(t *testing.T) {
	f := startFake(t, fakemlflow.Options{})
	cfg := testConfig(t, f)
	cfg.Mode, cfg.RunsMaxRate = ModeAuto, 5
	tr := openTracker(t, cfg)
	recordN(t, tr, 0, 50) // 50 at once: far past 5/s
	if st := tr.Stats(); st.Skipped < 40 {
		t.Fatalf("skipped %d runs of 50, want most: %+v", st.Skipped, st)
	}
}
