package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics through Handler and parses the text format.
func scrape(t *testing.T, m *Metrics) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", rec.Code)
	}
	body := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// find returns the metric of family name whose labels include want.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("family %s missing", name)
	}
outer:
	for _, mt := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range mt.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue outer
			}
		}
		return mt
	}
	t.Fatalf("%s%v: no such series", name, want)
	return nil
}

func labelValues(fams map[string]*dto.MetricFamily, name, label string) map[string]bool {
	out := map[string]bool{}
	for _, mt := range fams[name].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] = true
			}
		}
	}
	return out
}

func TestRecord(t *testing.T) {
	m := New(WithCache(true))
	ctx := context.Background()
	calls := []track.Call{
		{ // a streamed success after one retry, answered by the fallback
			Endpoint: "/chat", Provider: "google", Model: "gemini-2.5-flash",
			Usage:   llm.Usage{InputTokens: 10, OutputTokens: 20, ThinkingTokens: 5, CachedInputTokens: 4},
			CostUSD: 0.25, CostKnown: true, Duration: 2 * time.Second, TTFT: 300 * time.Millisecond,
			Attempts: 2, Fallback: true, Streamed: true, Success: true,
		},
		{ // a cache hit: no tokens, no cost
			Endpoint: "/chat", Provider: "google", Model: "gemini-2.5-flash", Cached: true,
			Usage: llm.Usage{InputTokens: 999}, CostKnown: true, Duration: time.Millisecond, Success: true,
		},
		{ // an unpriced failure
			Endpoint: "/v1/chat/completions", RequestedModel: "openai/gpt-x", Provider: "openai", Model: "gpt-x",
			Duration: time.Second, Attempts: 3, ErrorKind: "unavailable",
			ErrorMessage: "upstream down, key sk-secret-123",
		},
		{ // refused before any upstream call
			Endpoint: "/chat", ErrorKind: "rate_limited", Duration: time.Millisecond,
		},
	}
	for _, c := range calls {
		if err := m.Record(ctx, c); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	fams, body := scrape(t, m)
	tok := func(typ string) *dto.Histogram {
		return find(t, fams, "gen_ai_client_token_usage", map[string]string{
			"gen_ai_provider_name": "google", "gen_ai_request_model": "default",
			"gen_ai_response_model": "gemini-2.5-flash", "gen_ai_token_type": typ, "gen_ai_operation_name": "chat",
		}).GetHistogram()
	}
	for typ, want := range map[string]float64{"input": 10, "output": 20, "thinking": 5, "cached_input": 4} {
		if h := tok(typ); h.GetSampleCount() != 1 || h.GetSampleSum() != want {
			t.Errorf("tokens %s: count %d sum %v, want 1 and %v", typ, h.GetSampleCount(), h.GetSampleSum(), want)
		}
	}
	counters := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"llm_connector_cost_usd_total", map[string]string{"provider": "google", "model": "gemini-2.5-flash"}, 0.25},
		{"llm_connector_cost_unknown_total", nil, 1},
		{"llm_connector_retries_total", nil, 1 + 2},
		{"llm_connector_fallbacks_total", nil, 1},
		{"llm_connector_cache_requests_total", map[string]string{"result": "hit"}, 1},
		{"llm_connector_cache_requests_total", map[string]string{"result": "miss"}, 2},
		{"llm_connector_calls_total", map[string]string{"provider": "google", "outcome": "success"}, 2},
		{"llm_connector_calls_total", map[string]string{"provider": "openai", "outcome": "unavailable"}, 1},
		{"llm_connector_calls_total", map[string]string{"provider": "none", "model": "none", "outcome": "rate_limited"}, 1},
	}
	for _, c := range counters {
		if got := find(t, fams, c.name, c.labels).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	ttft := find(t, fams, "gen_ai_server_time_to_first_token_seconds", map[string]string{"gen_ai_provider_name": "google"}).GetHistogram()
	if ttft.GetSampleCount() != 1 || ttft.GetSampleSum() != 0.3 {
		t.Errorf("ttft: count %d sum %v, want 1 and 0.3", ttft.GetSampleCount(), ttft.GetSampleSum())
	}
	dur := find(t, fams, "gen_ai_client_operation_duration_seconds", map[string]string{"gen_ai_provider_name": "openai", "error_type": "unavailable"}).GetHistogram()
	if dur.GetSampleCount() != 1 || dur.GetSampleSum() != 1 {
		t.Errorf("error duration: count %d sum %v, want 1 and 1", dur.GetSampleCount(), dur.GetSampleSum())
	}
	if strings.Contains(body, "sk-secret") {
		t.Error("an error message (with a secret) leaked into the metrics")
	}
}

func TestCardinalityCap(t *testing.T) {
	m := New()
	for i := range MaxModels + 20 {
		c := track.Call{Provider: "openai", Model: fmt.Sprintf("model-%d", i), RequestedModel: fmt.Sprintf("openai/model-%d", i),
			Attempts: 1, Success: true, Usage: llm.Usage{InputTokens: 1}}
		if err := m.Record(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range MaxProviders + 5 {
		m.ObserveAttempts([]llm.Attempt{{Provider: fmt.Sprintf("p%d", i)}})
		m.ObserveHTTP(fmt.Sprintf("GET /x%d", i*7), 200, time.Millisecond)
	}
	m.ObserveHTTP("GET /long", 200, time.Millisecond)
	long := strings.Repeat("m", maxValueLen+1)
	if got := m.models.get(long); got != Other {
		t.Errorf("a %d-byte value maps to %q, want %q", len(long), got, Other)
	}
	if got := m.models.get("\xff\xfe"); got != Other {
		t.Errorf("invalid UTF-8 maps to %q, want %q", got, Other)
	}
	fams, _ := scrape(t, m)
	checks := []struct{ family, label string }{
		{"gen_ai_client_token_usage", "gen_ai_response_model"},
		{"gen_ai_client_token_usage", "gen_ai_request_model"},
		{"llm_connector_upstream_attempts_total", "provider"},
	}
	for _, c := range checks {
		vals := labelValues(fams, c.family, c.label)
		if !vals[Other] {
			t.Errorf("%s{%s}: no %q value past the cap", c.family, c.label, Other)
		}
		if len(vals) > MaxModels+1 {
			t.Errorf("%s{%s}: %d distinct values, cap %d", c.family, c.label, len(vals), MaxModels)
		}
	}
	// "openai" took one provider slot in Record.
	if n := len(labelValues(fams, "llm_connector_upstream_attempts_total", "provider")); n != MaxProviders {
		t.Errorf("providers: %d distinct values, want %d (cap - 1 + other)", n, MaxProviders)
	}
	// 1 series per model/request pair below the cap; all later ones share "other".
	if got := find(t, fams, "gen_ai_client_token_usage", map[string]string{"gen_ai_response_model": Other, "gen_ai_token_type": "input"}).GetHistogram().GetSampleCount(); got != 20 {
		t.Errorf("overflow series count = %d, want 20", got)
	}
}

func TestChildrenOverflow(t *testing.T) {
	built := 0
	c := newChildren(2, "over", func(k string) string { built++; return "v:" + k })
	for _, k := range []string{"a", "b", "c", "d", "a"} {
		c.get(k)
	}
	if got := c.get("z"); got != "v:over" {
		t.Errorf("past the cap: got %q, want the overflow child", got)
	}
	if built != 3 {
		t.Errorf("built %d children, want 3 (a, b, overflow)", built)
	}
}

func TestHTTP(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	})
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	for _, r := range []struct{ method, path string }{
		{"POST", "/chat"}, {"GET", "/items/1"}, {"GET", "/items/2"}, {"GET", "/nowhere"},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	m.ObserveHTTP("GET /health", 200, 5*time.Millisecond)
	m.ObserveHTTP("GET /health", 999, time.Millisecond)
	fams, _ := scrape(t, m)
	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"POST /chat", "429", 1},
		{"GET /items/{id}", "200", 2},
		{"unmatched", "404", 1},
		{"GET /health", "200", 1},
		{"GET /health", Other, 1},
	} {
		got := find(t, fams, "llm_connector_http_requests_total", map[string]string{"route": c.route, "code": c.code}).GetCounter().GetValue()
		if got != c.want {
			t.Errorf("requests{route=%q,code=%q} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
	if vals := labelValues(fams, "llm_connector_http_requests_total", "route"); vals["/items/1"] || vals["/nowhere"] {
		t.Errorf("raw paths leaked into the route label: %v", vals)
	}
	h := find(t, fams, "llm_connector_http_request_duration_seconds", map[string]string{"route": "GET /health"}).GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 0.006 {
		t.Errorf("duration{GET /health}: count %d sum %v, want 2 and 0.006", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestMiddlewareKeepsFlusher(t *testing.T) {
	m := New()
	flushed := false
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err == nil {
			flushed = true
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if !flushed {
		t.Error("the wrapped writer lost http.Flusher")
	}
}

func TestCallbacksAndOthers(t *testing.T) {
	m := New()
	fams, _ := scrape(t, m)
	if _, ok := fams["llm_connector_breaker_state"]; ok {
		t.Error("breaker series before RegisterBreakers")
	}
	m.RegisterBreakers(func() []BreakerHealth {
		return []BreakerHealth{{"google/gemini-2.5-flash", "closed"}, {"ollama/llama3", "open"}, {"openai/gpt", "half_open"}, {"ollama/llama3", "open"}}
	})
	m.RegisterTracking(func() TrackingStats {
		return TrackingStats{Backlog: 7, OldestAge: 1500 * time.Millisecond, Dropped: 2, ShipErrors: 3, Shipped: 40}
	})
	m.ObserveOverhead(200 * time.Microsecond)
	m.RateLimited("tokens")
	m.RateLimited("tokens")
	m.ObserveAttempts([]llm.Attempt{
		{Provider: "google", Err: &llm.Error{Kind: llm.KindUnavailable}},
		{Provider: "ollama"},
	})
	fams, _ = scrape(t, m)
	gauges := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"llm_connector_breaker_state", map[string]string{"target": "google/gemini-2.5-flash"}, BreakerClosed},
		{"llm_connector_breaker_state", map[string]string{"target": "ollama/llama3"}, BreakerOpen},
		{"llm_connector_breaker_state", map[string]string{"target": "openai/gpt"}, BreakerHalfOpen},
		{"llm_connector_tracking_backlog", nil, 7},
		{"llm_connector_tracking_oldest_age_seconds", nil, 1.5},
	}
	for _, g := range gauges {
		if got := find(t, fams, g.name, g.labels).GetGauge().GetValue(); got != g.want {
			t.Errorf("%s%v = %v, want %v", g.name, g.labels, got, g.want)
		}
	}
	counters := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"llm_connector_tracking_dropped_total", nil, 2},
		{"llm_connector_tracking_ship_errors_total", nil, 3},
		{"llm_connector_tracking_shipped_total", nil, 40},
		{"llm_connector_rate_limited_total", map[string]string{"limit": "tokens"}, 2},
		{"llm_connector_upstream_attempts_total", map[string]string{"provider": "google", "outcome": "unavailable"}, 1},
		{"llm_connector_upstream_attempts_total", map[string]string{"provider": "ollama", "outcome": "success"}, 1},
	}
	for _, c := range counters {
		if got := find(t, fams, c.name, c.labels).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if h := find(t, fams, "llm_connector_overhead_seconds", nil).GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 0.0002 {
		t.Errorf("overhead: count %d sum %v, want 1 and 0.0002", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("runtime series %s missing", name)
		}
	}
}

func TestPrivateRegistry(t *testing.T) {
	a, b := New(), New() // two instances must not collide (no global registry)
	a.RateLimited("requests")
	fams, _ := scrape(t, b)
	if _, ok := fams["llm_connector_rate_limited_total"]; ok {
		t.Error("one instance's series showed up in another's")
	}
}

func TestConcurrentRecord(t *testing.T) {
	m := New(WithCache(true))
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				_ = m.Record(context.Background(), track.Call{Provider: "p", Model: fmt.Sprintf("m%d", (g*200+i)%100), Attempts: 1, Success: true})
				m.ObserveHTTP("POST /chat", 200+i%3, time.Millisecond)
			}
		}()
	}
	for range 4 {
		<-done
	}
	fams, _ := scrape(t, m)
	var total uint64
	for _, mt := range fams["gen_ai_client_operation_duration_seconds"].GetMetric() {
		total += mt.GetHistogram().GetSampleCount()
	}
	if total != 800 {
		t.Errorf("recorded %d durations, want 800", total)
	}
}

var sampleCall = track.Call{
	ID: "req-1", Endpoint: "/chat", Provider: "google", Model: "gemini-2.5-flash",
	Usage:   llm.Usage{InputTokens: 12, OutputTokens: 40, ThinkingTokens: 100},
	CostUSD: 0.0001, CostKnown: true, Duration: 800 * time.Millisecond, TTFT: 200 * time.Millisecond,
	Attempts: 1, Streamed: true, Success: true,
}

func BenchmarkRecord(b *testing.B) {
	m := New(WithCache(true))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = m.Record(ctx, sampleCall)
		}
	})
}

func BenchmarkRecordError(b *testing.B) {
	m := New()
	ctx := context.Background()
	c := sampleCall
	c.Success, c.ErrorKind, c.Attempts = false, "unavailable", 3
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Record(ctx, c)
	}
}

func BenchmarkObserveHTTP(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveHTTP("POST /chat", 200, 3*time.Millisecond)
		}
	})
}

func BenchmarkObserveOverhead(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveOverhead(150 * time.Microsecond)
	}
}

func BenchmarkMiddleware(b *testing.B) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat", func(w http.ResponseWriter, r *http.Request) {})
	h := m.Middleware(mux)
	req := httptest.NewRequest(http.MethodPost, "/chat", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// TestConfiguredModelsKeepTheirLabels is issue 18 item 1 at the label
// caps: caller-chosen names that came first took every model slot, and a
// configured model's series became "other".
func TestConfiguredModelsKeepTheirLabels(t *testing.T) {
	m := New(WithModels("google/gemini-2.5-flash", "fast"))
	for i := range 10 * MaxModels {
		m.models.get(fmt.Sprintf("made-up-%d", i))
		m.requested.get(fmt.Sprintf("google/made-up-%d", i))
	}
	for _, c := range []struct {
		set  *capped
		name string
	}{{m.models, "gemini-2.5-flash"}, {m.requested, "google/gemini-2.5-flash"}, {m.requested, "fast"}} {
		if got := c.set.get(c.name); got != c.name {
			t.Errorf("%q maps to %q after the made-up names", c.name, got)
		}
	}
	if got := m.models.get("made-up-99999"); got != Other {
		t.Errorf("a new made-up name maps to %q, want %q", got, Other)
	}
}
