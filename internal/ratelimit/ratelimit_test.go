package ratelimit

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHeaders(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want http.Header
	}{
		{
			name: "allowed, both limits",
			d: Decision{Allowed: true,
				Requests: State{Limit: 60, Remaining: 59, Reset: time.Second},
				Tokens:   State{Limit: 150000, Remaining: 149000, Reset: 400*time.Millisecond + 123*time.Microsecond}},
			want: http.Header{
				"X-Ratelimit-Limit-Requests":     {"60"},
				"X-Ratelimit-Remaining-Requests": {"59"},
				"X-Ratelimit-Reset-Requests":     {"1s"},
				"X-Ratelimit-Limit-Tokens":       {"150000"},
				"X-Ratelimit-Remaining-Tokens":   {"149000"},
				"X-Ratelimit-Reset-Tokens":       {"400ms"},
			},
		},
		{
			name: "rejected on requests, tokens unlimited",
			d: Decision{Limit: LimitRequests, RetryAfter: 1500 * time.Millisecond,
				Requests: State{Limit: 10, Remaining: 0, Reset: 6 * time.Minute}},
			want: http.Header{
				"X-Ratelimit-Limit-Requests":     {"10"},
				"X-Ratelimit-Remaining-Requests": {"0"},
				"X-Ratelimit-Reset-Requests":     {"6m0s"},
				"Retry-After":                    {"2"},
				"Retry-After-Ms":                 {"1500"},
			},
		},
		{
			name: "a sub-second wait still says one second",
			d:    Decision{Limit: LimitTokens, RetryAfter: 10 * time.Millisecond, Tokens: State{Limit: 100, Reset: 10 * time.Microsecond}},
			want: http.Header{
				"X-Ratelimit-Limit-Tokens":     {"100"},
				"X-Ratelimit-Remaining-Tokens": {"0"},
				"X-Ratelimit-Reset-Tokens":     {"1ms"},
				"Retry-After":                  {"1"},
				"Retry-After-Ms":               {"10"},
			},
		},
		{name: "unlimited", d: Decision{Allowed: true}, want: http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			Headers(h, tt.d)
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Fatalf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatReset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "-1s"},
		{time.Microsecond, "1ms"},
		{12 * time.Millisecond, "12ms"},
		{1500*time.Millisecond + 400*time.Microsecond, "1.5s"},
		{6 * time.Minute, "6m0s"},
	}
	for _, tt := range tests {
		if got := FormatReset(tt.d); got != tt.want {
			t.Errorf("FormatReset(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestHeadersFromMemoryDecision(t *testing.T) {
	clk := newClock()
	m := NewMemoryClock(clk.Now)
	l := Limits{RPM: 60, TPM: 6000}
	d, _ := m.Admit(t.Context(), "k", l, 1200)
	h := http.Header{}
	Headers(h, d)
	want := http.Header{
		"X-Ratelimit-Limit-Requests":     {"60"},
		"X-Ratelimit-Remaining-Requests": {"59"},
		"X-Ratelimit-Reset-Requests":     {"1s"},
		"X-Ratelimit-Limit-Tokens":       {"6000"},
		"X-Ratelimit-Remaining-Tokens":   {"4800"},
		"X-Ratelimit-Reset-Tokens":       {"12s"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Fatalf("headers (-want +got):\n%s", diff)
	}
}
