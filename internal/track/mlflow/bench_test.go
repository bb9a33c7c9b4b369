package mlflow

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// BenchmarkRecord is Tracker.Record on the request path, with a typical
// record (short prompt and answer, ~800 bytes of JSON) and MLflow down, so
// the number is the spool append alone.
func BenchmarkRecord(b *testing.B) {
	tr := openDownTracker(b, "")
	c := sampleCall(1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := tr.Record(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDrain measures how fast the shipper empties a backlog into the
// fake over loopback, by worker count, in runs mode (runs/create +
// log-batch + 2 artifact PUTs + runs/update per record). "fresh": records
// spooled while MLflow was down in this process; "replay": records found
// in the spool at start, each looked up with runs/search first.
func BenchmarkDrain(b *testing.B) {
	for _, kind := range []string{"fresh", "replay"} {
		for _, workers := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("%s/workers=%d", kind, workers), func(b *testing.B) {
				benchDrain(b, kind == "replay", workers)
			})
		}
	}
}

func benchDrain(b *testing.B, replay bool, workers int) {
	f := startFake(b, fakemlflow.Options{})
	f.CreateExperiment("llm-connector", "")
	cfg := testConfig(b, f)
	cfg.Workers = workers
	cfg.SpoolMaxBytes = 4 << 30
	cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	var tr *Tracker
	var err error
	if replay {
		sp, err := spool.Open(spool.Options{Dir: cfg.SpoolDir, MaxBytes: cfg.SpoolMaxBytes, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		fill(b, sp.Record)
		sp.Close()
	} else {
		f.Down()
		if tr, err = Open(cfg); err != nil {
			b.Fatal(err)
		}
		fill(b, tr.Record)
	}
	b.ResetTimer()
	start := time.Now()
	if replay {
		if tr, err = Open(cfg); err != nil {
			b.Fatal(err)
		}
	} else if err := f.Up(); err != nil {
		b.Fatal(err)
	}
	for tr.Stats().Backlog > 0 {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	tr.Close(context.Background())
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}

func fill(b *testing.B, record func(context.Context, track.Call) error) {
	for i := range b.N {
		c := sampleCall(i)
		c.ID = fmt.Sprintf("drain-%d", i)
		if err := record(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordDown is Tracker.Record in the service's default mode
// (auto: windows channel, runs and traces as admitted) with MLflow
// refusing connections for the whole run. Besides ns/op (the request
// path) it reports cpu-ns/op: the process's CPU time (user + system, every
// goroutine: shippers reading the spool back, the flusher's fsyncs, GC)
// per record, which is what the outage costs the service, and how many
// records the window shipper holds decoded in memory at the end.
func BenchmarkRecordDown(b *testing.B) {
	tr := openDownTracker(b, ModeAuto)
	calls := make([]track.Call, 1024)
	for i := range calls {
		calls[i] = sampleCall(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	i := 0
	for b.Loop() {
		if err := tr.Record(ctx, calls[i%len(calls)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(tr.windowShip.Stats().Held), "held") // read back and decoded, in memory
}

// processCPU is the process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openDownTracker opens a tracker (mode "" is the test default) whose
// MLflow refuses every call, with room to spool every record of the run;
// it is closed, without waiting for the backlog, when b ends.
func openDownTracker(b *testing.B, mode Mode) *Tracker {
	f := startFake(b, fakemlflow.Options{})
	f.Down()
	cfg := testConfig(b, f)
	if mode != "" {
		cfg.Mode = mode
	}
	cfg.SpoolMaxBytes = 4 << 30
	cfg.MaxBackoff = time.Second
	tr, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		tr.Close(ctx)
	})
	return tr
}
