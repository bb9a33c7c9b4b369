package pgqueue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// testDB opens a fresh PostgreSQL schema; it skips (outside CI) when no
// server answers.
func testDB(t testing.TB) (*store.DB, store.Config) {
	t.Helper()
	b, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("postgres unreachable")
	}
	return b.Open(t), b.Config
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openQ(t testing.TB, db *store.DB, opt Options) *Queue {
	t.Helper()
	if opt.Channel == "" {
		opt.Channel = "windows"
	}
	if opt.Logger == nil {
		opt.Logger = quiet()
	}
	q, err := Open(context.Background(), db, opt)
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func call(prefix string, i int) track.Call {
	return track.Call{ID: fmt.Sprintf("%s-%05d", prefix, i), Endpoint: "/chat", Provider: "gemini",
		Model: "gemini-2.5-flash", Prompt: "hello", Response: "hi", Success: true, Start: time.Unix(1700000000, 0)}
}

func record(t testing.TB, q *Queue, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := q.Record(context.Background(), call(prefix, i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func syncQ(t testing.TB, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// next takes one entry, failing the test if none comes within 30 s.
func next(t testing.TB, q *Queue) spool.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := q.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return e
}

// rows counts the channel's rows in the table.
func rows(t testing.TB, db *store.DB, channel string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM llmc_track_queue WHERE channel = $1`, channel).Scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
