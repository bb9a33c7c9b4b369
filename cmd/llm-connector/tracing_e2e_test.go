package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestTracingEndToEnd: a streamed /chat that retries Gemini and falls
// back to Ollama, with a caller traceparent, exports one server span and
// three attempt spans in the caller's trace to an OTLP/HTTP collector.
func TestTracingEndToEnd(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20") // export soon, not at exit
	var (
		mu    sync.Mutex
		spans []*tracepb.Span
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &msg); err != nil {
			t.Errorf("collector: %v", err)
		}
		mu.Lock()
		for _, rs := range msg.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		mu.Unlock()
	}))
	defer collector.Close()

	r := newRig(t, pGoogle, true, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL})
	r.script(t, pGoogle, []step{{fault: cutBefore}, {fault: cutBefore}})
	r.script(t, pOllama, []step{clean})

	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", r.url+"/chat", strings.NewReader(`{"prompt":"hi","stream":true}`))
	req.Header.Set("traceparent", "00-"+tid+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "five") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}

	deadline := time.Now().Add(waitBound)
	for {
		mu.Lock()
		n := len(spans)
		mu.Unlock()
		if n >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var server *tracepb.Span
	var attempts []*tracepb.Span
	for _, s := range spans {
		if hex.EncodeToString(s.TraceId) != tid {
			t.Errorf("span %q in trace %x", s.Name, s.TraceId)
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			attempts = append(attempts, s)
		}
	}
	if server == nil || server.Name != "POST /chat" {
		t.Fatalf("no POST /chat server span in %v", spans)
	}
	var providers []string
	for _, a := range attempts {
		if string(a.ParentSpanId) != string(server.SpanId) {
			t.Errorf("attempt %q parent %x, want %x", a.Name, a.ParentSpanId, server.SpanId)
		}
		for _, kv := range a.Attributes {
			if kv.Key == "gen_ai.provider.name" {
				providers = append(providers, kv.Value.GetStringValue())
			}
		}
	}
	if strings.Join(providers, ",") != "gcp.gemini,gcp.gemini,ollama" {
		t.Errorf("attempt providers %v", providers)
	}
	var got []string
	for _, q := range r.oll.Requests() {
		got = append(got, q.Header.Get("traceparent"))
	}
	if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "00-"+tid+"-") {
		t.Errorf("ollama saw traceparent %q", got)
	}
	t.Logf("spans: %d; server attrs %v", len(spans), server.Attributes)
}
