package mlflow

import (
	"context"
	"log/slog"
	"time"

	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// Queue is the durable store a shipper drains: the file spool
// (internal/track/spool) on one machine, or the PostgreSQL queue
// (internal/track/pgqueue) shared by many instances.
type Queue interface {
	// Record appends c; it never blocks on the network.
	Record(ctx context.Context, c track.Call) error
	// Next blocks until an entry is ready or ctx ends.
	Next(ctx context.Context) (spool.Entry, error)
	// Ack marks an entry delivered: it is never handed out again.
	Ack(seq uint64) error
	// Release hands an entry out again at retryAt (zero: now).
	Release(seq uint64, retryAt time.Time)
	// Group durably records (fsynced or committed before it returns) that
	// seqs form one delivery group called name. Entries handed out
	// afterwards, also after a restart or by another instance, carry
	// Group == name and GroupSize == len(seqs).
	Group(ctx context.Context, name string, seqs []uint64) error
	// Sync waits until every record appended before the call is durable.
	Sync(ctx context.Context) error
	Stats() spool.Stats
	Close() error
}

// shipDeps is what every shipper needs from the tracker.
type shipDeps struct {
	cl         *client
	experiment func(ctx context.Context) (string, error)
	// forgetExperiment drops the cached experiment id (it was deleted).
	forgetExperiment func()
	secrets          []string
	log              *slog.Logger
	// report is told the outcome of every delivery attempt: nil is a
	// success (health goes back to ok and last_error is cleared).
	report func(err error)
	// wait returns when shipping may go on (the shared backoff gate).
	wait func(ctx context.Context) error
	// put writes an artifact under a run's or trace's artifact URI the way
	// the server expects for its scheme (proxy or S3).
	put func(ctx context.Context, uri, name string, data []byte) error
	now func() time.Time
}
