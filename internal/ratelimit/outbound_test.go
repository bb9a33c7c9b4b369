package ratelimit

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// fakeProvider answers every call with chunks, or fails with err before
// answering.
type fakeProvider struct {
	calls  atomic.Int64
	usage  *llm.Usage
	err    error
	midErr error // fails after the first content chunk
}

func (f *fakeProvider) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		f.calls.Add(1)
		if f.err != nil {
			yield(llm.Chunk{}, f.err)
			return
		}
		if !yield(llm.Chunk{Delta: "hello"}, nil) {
			return
		}
		if f.midErr != nil {
			yield(llm.Chunk{}, f.midErr)
			return
		}
		yield(llm.Chunk{FinishReason: llm.FinishStop, Usage: f.usage}, nil)
	}
}

// newOutbound wraps p with a fake-clock Memory budget; its sleeps advance
// the clock and are recorded.
func newOutbound(t *testing.T, p llm.Provider, cfg OutboundConfig) (*outbound, *Memory, *[]time.Duration) {
	t.Helper()
	clk := newClock()
	m := NewMemoryClock(clk.Now)
	o := Outbound(p, m, cfg).(*outbound)
	var slept []time.Duration
	o.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		clk.Advance(d)
		return ctx.Err()
	}
	return o, m, &slept
}

var req = &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, MaxTokens: 100}

func TestOutboundFailFast(t *testing.T) {
	fp := &fakeProvider{usage: &llm.Usage{InputTokens: 5, OutputTokens: 5}}
	o, _, slept := newOutbound(t, fp, OutboundConfig{Name: "gemini", Limits: Limits{RPM: 1}, Mode: FailFast})
	if _, err := llm.Collect(o.Stream(t.Context(), req)); err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, err := llm.Collect(o.Stream(t.Context(), req))
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindRateLimited || le.Provider != "gemini" || le.RetryAfter != time.Minute {
		t.Fatalf("second call: %#v, want KindRateLimited from gemini with RetryAfter 1m", err)
	}
	if !llm.Retryable(err) || !strings.Contains(err.Error(), "requests") {
		t.Fatalf("error %q should be retryable and name the limit", err)
	}
	if fp.calls.Load() != 1 || len(*slept) != 0 {
		t.Fatalf("provider called %d times, slept %v; want 1 call, no sleep", fp.calls.Load(), *slept)
	}
}

func TestOutboundQueue(t *testing.T) {
	fp := &fakeProvider{usage: &llm.Usage{InputTokens: 5, OutputTokens: 5}}
	o, _, slept := newOutbound(t, fp, OutboundConfig{Name: "gemini", Limits: Limits{RPM: 2}, Mode: Queue})
	for i := range 3 {
		if _, err := llm.Collect(o.Stream(t.Context(), req)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if fp.calls.Load() != 3 || len(*slept) != 1 || (*slept)[0] != 30*time.Second {
		t.Fatalf("provider called %d times, slept %v; want 3 calls and one 30s wait", fp.calls.Load(), *slept)
	}
}

func TestOutboundQueueRespectsDeadline(t *testing.T) {
	fp := &fakeProvider{}
	o, _, slept := newOutbound(t, fp, OutboundConfig{Name: "gemini", Limits: Limits{RPM: 1}, Mode: Queue})
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	llm.Collect(o.Stream(ctx, req))
	short, cancel2 := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel2()
	_, err := llm.Collect(o.Stream(short, req))
	if llm.KindOf(err) != llm.KindRateLimited || llm.RetryAfter(err) != time.Minute {
		t.Fatalf("wait beyond the deadline: %v, want KindRateLimited at once", err)
	}
	if len(*slept) != 0 || fp.calls.Load() != 1 {
		t.Fatalf("slept %v, %d calls; want no wait, 1 call", *slept, fp.calls.Load())
	}
}

func TestOutboundReconcile(t *testing.T) {
	l := Limits{TPM: 10_000}
	tests := []struct {
		name          string
		p             *fakeProvider
		wantRemaining int
	}{
		{"usage replaces the estimate", &fakeProvider{usage: &llm.Usage{InputTokens: 300, OutputTokens: 200}}, 9500},
		{"failure before any content refunds", &fakeProvider{err: llm.Errorf(llm.KindUnavailable, "p", "down")}, 10_000},
		{"cut mid-stream without usage keeps the estimate", &fakeProvider{midErr: errors.New("cut")}, 10_000 - EstimateTokens(req)},
		{"no usage reported keeps the estimate", &fakeProvider{}, 10_000 - EstimateTokens(req)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, m, _ := newOutbound(t, tt.p, OutboundConfig{Name: "p", Limits: l, PerModel: true})
			llm.Collect(o.Stream(t.Context(), req))
			d, _ := m.Admit(t.Context(), "outbound:p/m", l, 0)
			if d.Tokens.Remaining != tt.wantRemaining {
				t.Fatalf("remaining tokens %d, want %d", d.Tokens.Remaining, tt.wantRemaining)
			}
		})
	}
}

func TestOutboundBreakReconciles(t *testing.T) {
	l := Limits{TPM: 10_000}
	fp := &fakeProvider{usage: &llm.Usage{TotalTokens: 1000}}
	o, m, _ := newOutbound(t, fp, OutboundConfig{Name: "p", Limits: l})
	for c, err := range o.Stream(t.Context(), req) {
		if err != nil {
			t.Fatal(err)
		}
		if c.Usage != nil {
			break
		}
	}
	d, _ := m.Admit(t.Context(), "outbound:p", l, 0)
	if d.Tokens.Remaining != 9000 {
		t.Fatalf("remaining %d, want 9000", d.Tokens.Remaining)
	}
}

func TestOutboundUnlimitedIsTransparent(t *testing.T) {
	fp := &fakeProvider{}
	if got := Outbound(fp, NewMemory(), OutboundConfig{Name: "p"}); got != llm.Provider(fp) {
		t.Fatalf("unlimited Outbound returned a wrapper %T", got)
	}
}

func TestOutboundLimiterError(t *testing.T) {
	srvDown := WithFallback(failing{}, nil, FailClosed, nil)
	o := Outbound(&fakeProvider{}, srvDown, OutboundConfig{Name: "p", Limits: Limits{RPM: 1}})
	_, err := llm.Collect(o.Stream(t.Context(), req))
	if llm.KindOf(err) != llm.KindUnavailable || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("limiter down: %v (kind %v), want KindUnavailable", err, llm.KindOf(err))
	}
}

// failing is a Limiter whose backend is always down.
type failing struct{}

func (failing) Admit(context.Context, string, Limits, int) (Decision, error) {
	return Decision{}, errors.New("connection refused")
}

func (failing) Reconcile(context.Context, string, Limits, int, int) error {
	return errors.New("connection refused")
}

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		name string
		req  *llm.Request
		want int
	}{
		{"empty, default output", &llm.Request{}, DefaultOutputEstimate},
		{"max tokens", &llm.Request{MaxTokens: 50}, 50},
		{"system and a message", &llm.Request{System: strings.Repeat("a", 40), MaxTokens: 10,
			Messages: []llm.Message{{Content: strings.Repeat("b", 24)}}}, (40+24+16)/4 + 10},
		{"tool calls and tools count", &llm.Request{MaxTokens: 1,
			Messages: []llm.Message{{ToolCalls: []llm.ToolCall{{Name: "f", Arguments: `{"x":1}`}}}},
			Tools:    []llm.Tool{{Name: "f", Description: "d", Parameters: []byte(`{}`)}}}, (16+1+7+1+1+2+3)/4 + 1},
	}
	for _, tt := range tests {
		if got := EstimateTokens(tt.req); got != tt.want {
			t.Errorf("%s: EstimateTokens = %d, want %d", tt.name, got, tt.want)
		}
	}
}
