package mlflow

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
	"github.com/llm-connector/llm-connector/internal/track"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startFake(t testing.TB, opt fakemlflow.Options) *fakemlflow.Server {
	t.Helper()
	f, err := fakemlflow.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// testConfig points a tracker at f with fast backoff and a fresh spool.
func testConfig(t testing.TB, f *fakemlflow.Server) Config {
	t.Helper()
	return Config{
		TrackingURI: f.URL(),
		Mode:        ModeRuns,
		SpoolDir:    t.TempDir(),
		Workers:     4,
		MinBackoff:  5 * time.Millisecond,
		MaxBackoff:  100 * time.Millisecond,
		Logger:      quiet(),
	}
}

func openTracker(t testing.TB, cfg Config) *Tracker {
	t.Helper()
	tr, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		tr.Close(ctx)
	})
	return tr
}

// waitDrained waits (bounded) until the tracker's backlog is empty.
func waitDrained(t testing.TB, tr *Tracker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := fakemlflow.Wait(ctx, func() bool { return tr.Stats().Backlog == 0 }); err != nil {
		t.Fatalf("backlog not drained: %+v", tr.Stats())
	}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := fakemlflow.Wait(ctx, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var t0 = time.Date(2026, 11, 25, 23, 29, 59, 28_000_000, time.UTC)

func sampleCall(i int) track.Call {
	temp := 0.7
	return track.Call{
		ID:          fmt.Sprintf("req-%04d", i),
		User:        "alice",
		Endpoint:    "/chat",
		Provider:    "gemini",
		Model:       "gemini-2.5-flash",
		Temperature: &temp,
		MaxTokens:   256,
		System:      "You are terse.",
		Prompt:      fmt.Sprintf("Hello number %d, who are you?", i),
		Response:    fmt.Sprintf("I am a test model (%d).", i),
		Usage:       llm.Usage{InputTokens: 12, OutputTokens: 7, ThinkingTokens: 3, TotalTokens: 22},
		CostUSD:     0.00042,
		CostKnown:   true,
		Start:       t0.Add(time.Duration(i) * time.Millisecond),
		Duration:    812500 * time.Microsecond,
		Attempts:    2,
		Success:     true,
	}
}

func recordN(t testing.TB, tr *Tracker, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := tr.Record(context.Background(), sampleCall(i)); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
}

func expID(t testing.TB, f *fakemlflow.Server) string {
	t.Helper()
	id, ok := f.ExperimentID("llm-connector")
	if !ok {
		t.Fatal("experiment llm-connector not created")
	}
	return id
}
