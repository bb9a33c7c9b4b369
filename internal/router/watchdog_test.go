package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	fp "github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

// TestWatchdogRearm covers the timer that re-arms itself instead of a
// Stop and Reset per chunk: a timer due while the caller holds a chunk,
// a timer due after progress, an idle clock started by the first
// content, no idle limit. hold is how long the caller keeps a chunk
// (the fake clock moves on meanwhile).
func TestWatchdogRearm(t *testing.T) {
	var clk *fakeClock
	tests := []struct {
		name    string
		policy  func(*Policy)
		steps   []fp.Step
		hold    map[string]time.Duration
		text    string
		wantMsg string // "" for a clean end
	}{
		{
			name:  "a timer due while the caller holds a chunk does not cancel",
			steps: []fp.Step{fp.Text("a"), advance(&clk, 25*time.Second), fp.Text("b"), advance(&clk, 25*time.Second), fp.Text("c")},
			hold:  map[string]time.Duration{"a": 40 * time.Second},
			text:  "abc",
		},
		{
			name:    "the idle limit counts from when the caller let go",
			steps:   []fp.Step{fp.Text("a"), advance(&clk, 31*time.Second), fp.Hang()},
			hold:    map[string]time.Duration{"a": 40 * time.Second},
			text:    "a",
			wantMsg: "stream stalled for 30s",
		},
		{
			name:    "re-armed for the time left, a stall is still caught",
			steps:   []fp.Step{fp.Text("a"), advance(&clk, 25*time.Second), fp.Text("b"), advance(&clk, 29*time.Second), advance(&clk, 2*time.Second), fp.Hang()},
			text:    "ab",
			wantMsg: "stream stalled for 30s",
		},
		{
			name:    "without a first-token limit the idle clock starts at the first content",
			policy:  func(p *Policy) { p.TTFT = 0 },
			steps:   []fp.Step{advance(&clk, 100*time.Second), fp.Text("a"), advance(&clk, 29*time.Second), fp.Text("b"), advance(&clk, 31*time.Second), fp.Hang()},
			text:    "ab",
			wantMsg: "stream stalled for 30s",
		},
		{
			name:   "without an idle limit nothing stalls after the first content",
			policy: func(p *Policy) { p.Idle = 0 },
			steps:  []fp.Step{fp.Text("a"), advance(&clk, 45*time.Second), fp.Text("b")},
			text:   "ab",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy()
			p.Retries = 0
			p.Deadline = time.Hour
			if tt.policy != nil {
				tt.policy(&p)
			}
			r, c := newTestRouter(t, p, nil, gemini(fp.New("google", tt.steps)))
			clk = c
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang fails the test
			defer cancel()
			var text strings.Builder
			var err error
			for ch, e := range r.Stream(ctx, testRequest()) {
				if e != nil {
					err = e
					break
				}
				text.WriteString(ch.Delta)
				c.Advance(tt.hold[ch.Delta])
			}
			if text.String() != tt.text {
				t.Errorf("text %q, want %q", text.String(), tt.text)
			}
			switch {
			case tt.wantMsg == "" && err != nil:
				t.Errorf("err = %v, want a clean end", err)
			case tt.wantMsg != "" && (llm.KindOf(err) != llm.KindTimeout || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Errorf("err = %v, want a timeout %q", err, tt.wantMsg)
			}
		})
	}
}

// The real clock: the timer comes due while the caller holds a chunk
// (longer than the idle limit) and lapses; the stream goes on, and a
// stall after the caller let go is still caught. Only outcomes are
// checked, never durations (the hold is 3 idle limits, the stall
// unbounded).
func TestWatchdogRealClockHeld(t *testing.T) {
	p := DefaultPolicy()
	p.Retries = 0
	p.TTFT, p.Idle = 100*time.Millisecond, 100*time.Millisecond
	r := New([]Target{gemini(fp.New("google", []fp.Step{fp.Text("a"), fp.Text("b"), fp.Hang()}))}, p, nil)
	var text strings.Builder
	var err error
	for ch, e := range r.Stream(context.Background(), testRequest()) {
		if e != nil {
			err = e
			break
		}
		text.WriteString(ch.Delta)
		if ch.Delta == "a" {
			time.Sleep(3 * p.Idle)
		}
	}
	if text.String() != "ab" || llm.KindOf(err) != llm.KindTimeout || !strings.Contains(err.Error(), "stream stalled for 100ms") {
		t.Fatalf("text %q, err %v; want ab, then a stall", text.String(), err)
	}
}
