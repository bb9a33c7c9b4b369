package fakeserver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestQueue(t *testing.T) {
	var q Queue[string]
	if v, ok := q.Pop(); ok || v != "" {
		t.Fatalf("empty Pop = %q, %v", v, ok)
	}
	q.Push("a", "b")
	q.Push("c")
	var got []string
	for v, ok := q.Pop(); ok; v, ok = q.Pop() {
		got = append(got, v)
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("popped %q", got)
	}
}

func TestLog(t *testing.T) {
	var l Log[Request]
	if _, ok := l.Last(); ok {
		t.Fatal("Last of an empty log is ok")
	}
	first := l.Add(Request{Path: "/a"})
	second := l.Add(Request{Path: "/b"})
	l.Update(first, func(r *Request) { r.Method = "POST" })
	all := l.All()
	all[0].Path = "changed" // a copy: the log keeps its entries
	if last, _ := l.Last(); first != 0 || second != 1 || last.Path != "/b" {
		t.Errorf("indices %d %d, last %+v", first, second, last)
	}
	if got := l.All(); got[0].Path != "/a" || got[0].Method != "POST" {
		t.Errorf("entries %+v", got)
	}
}

func TestRequestDecode(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/x?q=1", strings.NewReader(`{"model":"m"}`))
	r.Header.Set("X-Key", "k")
	rec := Record(r, ReadBody(r))
	r.Header.Set("X-Key", "changed") // Record cloned the header
	var body struct{ Model string }
	if err := rec.Decode(&body); err != nil || body.Model != "m" || rec.Path != "/v1/x" || rec.Method != "POST" || rec.Header.Get("X-Key") != "k" {
		t.Errorf("recorded %+v, decoded %+v, %v", rec, body, err)
	}
}

func TestCancels(t *testing.T) {
	var c Cancels
	done := make(chan bool)
	go func() { done <- c.Wait(context.Background(), 2) }()
	c.Note()
	c.Note()
	if !<-done {
		t.Fatal("Wait(2) after two notes = false")
	}
	for i := range 2 {
		select {
		case <-c.C():
		default:
			t.Fatalf("C delivered %d values, want 2", i)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c.Wait(ctx, 3) || !c.Wait(ctx, 2) || c.Count() != 2 {
		t.Errorf("Wait on an ended context: count %d", c.Count())
	}
}

func TestGate(t *testing.T) {
	var g Gate
	select {
	case <-g.C():
		t.Fatal("a new gate is open")
	default:
	}
	g.Open()
	g.Open()
	<-g.C()
}

// call returns a Call on a recorder whose request context is ctx.
func call(ctx context.Context, c *Cancels, stop <-chan struct{}) (*Call, *httptest.ResponseRecorder) {
	w := httptest.NewRecorder()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", nil)
	return NewCall(w, r, c, stop), w
}

func TestCallWaits(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	closed := make(chan struct{})
	close(closed)
	tests := []struct {
		name     string
		ctx      context.Context
		stop     <-chan struct{}
		wait     func(*Call) bool
		want     bool
		canceled int
	}{
		{"sleep 0, client there", context.Background(), nil, func(c *Call) bool { return c.Sleep(0) }, true, 0},
		{"sleep 0, client gone", ended, nil, func(c *Call) bool { return c.Sleep(0) }, false, 1},
		{"sleep, client gone", ended, nil, func(c *Call) bool { return c.Sleep(1 << 40) }, false, 1},
		{"sleep, fake stopped", context.Background(), closed, func(c *Call) bool { return c.Sleep(1 << 40) }, false, 0},
		{"hold, released", context.Background(), nil, func(c *Call) bool { return c.Hold(closed) }, true, 0},
		{"hold, client gone", ended, nil, func(c *Call) bool { return c.Hold(nil) }, false, 1},
		{"hold, fake stopped", context.Background(), closed, func(c *Call) bool { return c.Hold(nil) }, false, 0},
		{"gone twice counts once", ended, nil, func(c *Call) bool { c.Hold(nil); return c.Sleep(0) }, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cancels Cancels
			c, _ := call(tt.ctx, &cancels, tt.stop)
			if got := tt.wait(c); got != tt.want || cancels.Count() != tt.canceled {
				t.Errorf("got %v with %d canceled, want %v with %d", got, cancels.Count(), tt.want, tt.canceled)
			}
		})
	}
	c, _ := call(ended, nil, nil) // nil Cancels: nothing to count
	if c.Hold(nil) {
		t.Error("Hold with the client gone = true")
	}
}

func TestEventFrame(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Data: []byte(`{"a":1}`)}, "data: {\"a\":1}\n\n"},
		{Event{Data: []byte("[DONE]")}, "data: [DONE]\n\n"},
		{Event{Name: "ping", Data: []byte(`{"type":"ping"}`)}, "event: ping\ndata: {\"type\":\"ping\"}\n\n"},
	}
	for _, tt := range tests {
		if got := string(tt.ev.Frame()); got != tt.want {
			t.Errorf("Frame() = %q, want %q", got, tt.want)
		}
	}
}

func TestStream(t *testing.T) {
	events := []Event{{Data: []byte("start")}, {Data: []byte("a"), Delta: true}, {Data: []byte("b"), Delta: true}, {Data: []byte("end")}}
	tests := []struct {
		name  string
		after int
		fault bool
		want  string
	}{
		{"whole", 0, false, "data: start\n\ndata: a\n\ndata: b\n\ndata: end\n\n"},
		{"fault after 0 plays after the first event", 0, true, "data: start\n\nFAULT"},
		{"fault after 1", 1, true, "data: start\n\ndata: a\n\nFAULT"},
		{"fault after the last delta", 2, true, "data: start\n\ndata: a\n\ndata: b\n\nFAULT"},
		{"fault after more than sent", 3, true, "data: start\n\ndata: a\n\ndata: b\n\ndata: end\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := call(context.Background(), nil, nil)
			var fault func()
			if tt.fault {
				fault = func() { c.Send([]byte("FAULT")) }
			}
			c.Stream(events, 0, tt.after, fault)
			if got := w.Body.String(); got != tt.want || w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream; charset=utf-8" {
				t.Errorf("%d %q: %q, want %q", w.Code, w.Header().Get("Content-Type"), got, tt.want)
			}
		})
	}
}

// TestCut checks that the client sees the connection close: before any
// byte (no response at all) and mid-body (the body ends early).
func TestCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := NewCall(w, r, nil, nil)
		if r.URL.Path == "/mid" {
			w.Header().Set("Content-Type", "text/plain")
			c.Send([]byte("partial"))
		}
		c.Cut()
		t.Error("Cut returned")
	}))
	defer srv.Close()
	if resp, err := http.Get(srv.URL + "/before"); err == nil {
		resp.Body.Close()
		t.Fatalf("cut before the first byte: got %s", resp.Status)
	}
	resp, err := http.Get(srv.URL + "/mid")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil || string(body) != "partial" {
		t.Errorf("cut mid-body: %q, %v", body, err)
	}
}

func TestFragments(t *testing.T) {
	tests := []struct {
		s    string
		want []string
	}{
		{"", []string{""}},
		{"abc", []string{"abc"}},
		{"abcdefgh", []string{"abcdefgh"}},
		{`{"city":"Paris"}`, []string{`{"city":`, `"Paris"}`}},
		{"abcdefghi", []string{"abcdefgh", "i"}},
	}
	for _, tt := range tests {
		if got := Fragments(tt.s, 8); !slices.Equal(got, tt.want) {
			t.Errorf("Fragments(%q) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestWriteRaw(t *testing.T) {
	w := httptest.NewRecorder()
	WriteRaw(w, http.StatusServiceUnavailable, http.Header{"Retry-After": {"3"}}, "busy")
	if w.Code != 503 || w.Body.String() != "busy" || w.Header().Get("Retry-After") != "3" {
		t.Errorf("%d %q %v", w.Code, w.Body, w.Header())
	}
}
