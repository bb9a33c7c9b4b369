// Package track defines the record of one finished interaction and the
// Sink contract that MLflow, metrics and the cost ledger implement, the
// way log/slog defines Record and Handler together.
package track

import (
	"context"
	"errors"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Call is one interaction, streamed or not, successful or not. It is
// JSON-encoded into the durable spool, so fields only ever get added.
type Call struct {
	ID       string `json:"id"` // the request ID; the idempotency key downstream
	User     string `json:"user,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	Team     string `json:"team,omitempty"`
	Endpoint string `json:"endpoint"` // "/chat", "/v1/chat/completions"

	RequestedModel string   `json:"requested_model,omitempty"`
	Provider       string   `json:"provider,omitempty"` // who answered (or failed last)
	Model          string   `json:"model,omitempty"`
	Temperature    *float64 `json:"temperature,omitempty"`
	MaxTokens      int      `json:"max_tokens,omitempty"`

	// System and Prompt are the input as the user sent it; Response is the
	// answer (partial when a stream failed). They go to artifacts only.
	System   string `json:"system,omitempty"`
	Prompt   string `json:"prompt"`
	Response string `json:"response"`

	Usage        llm.Usage `json:"usage"`
	CostUSD      float64   `json:"cost_usd"`
	CostKnown    bool      `json:"cost_known"`
	PriceVersion string    `json:"price_version,omitempty"`

	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	TTFT     time.Duration `json:"ttft_ns,omitempty"` // streams: time to first content

	Attempts int  `json:"attempts"` // upstream tries, all targets
	Fallback bool `json:"fallback,omitempty"`
	Cached   bool `json:"cached,omitempty"`
	Streamed bool `json:"streamed,omitempty"`

	Success      bool   `json:"success"`
	ErrorKind    string `json:"error_kind,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"` // public text, no secrets

	// Content says what MLFLOW_LOG_CONTENT did to System, Prompt and
	// Response: "" (kept in full), ContentRedacted or ContentNone (not
	// logged; show "content not logged", not an empty prompt).
	Content string `json:"content,omitempty"`

	// Tries are the upstream attempts in order (retries and fallbacks);
	// empty for a cache hit and in records written before they existed.
	Tries []Attempt `json:"tries,omitempty"`
}

// Attempt is one upstream try of a call.
type Attempt struct {
	Provider     string        `json:"provider,omitempty"`
	Model        string        `json:"model,omitempty"`
	Start        time.Time     `json:"start"`
	Duration     time.Duration `json:"duration_ns"`
	ErrorKind    string        `json:"error_kind,omitempty"`    // "" for the attempt that answered
	ErrorMessage string        `json:"error_message,omitempty"` // public text, no secrets
}

// The values of Call.Content, and what a viewer shows for withheld content.
const (
	ContentRedacted = "redacted"
	ContentNone     = "none"
	NotLogged       = "(content not logged: MLFLOW_LOG_CONTENT=none)"
)

// Sink receives one record per finished call. Record must not block on
// the network: slow backends queue durably and return at once.
type Sink interface {
	Record(ctx context.Context, c Call) error
}

// ErrDropped is returned by a sink that had to drop a record.
var ErrDropped = errors.New("track: record dropped")

// Multi fans a record out to every sink and joins their errors.
type Multi []Sink

// Record implements Sink.
func (m Multi) Record(ctx context.Context, c Call) error {
	var errs []error
	for _, s := range m {
		if err := s.Record(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, c Call) error

// Record implements Sink.
func (f SinkFunc) Record(ctx context.Context, c Call) error { return f(ctx, c) }
