package ollama

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// waitLimit bounds waits for events that must happen; it only turns a hang
// into a failure and is not a performance assertion.
const waitLimit = 30 * time.Second

func TestConformance(t *testing.T) {
	llmtest.RunConformance(t, func(t *testing.T) (llm.Provider, llmtest.Scripter, string) {
		f := fakeollama.New(t)
		return newClient(t, f.URL), f, "tiny"
	})
}

func userRequest(model string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}}}
}

// TestDecodeRecorded decodes streams recorded from the real server.
func TestDecodeRecorded(t *testing.T) {
	tests := []struct {
		file   string
		deltas int
		want   llm.Response
	}{
		{"07-chat-stream.ndjson", 10, llm.Response{Text: fakeollama.TinyAnswer, FinishReason: "stop", Model: "tiny", Provider: "ollama",
			Usage: llm.Usage{InputTokens: 27, OutputTokens: 11, TotalTokens: 38}}},
		{"08-chat-stream-numpredict3.ndjson", 3, llm.Response{Text: " the quick brown", FinishReason: "length", Model: "tiny", Provider: "ollama",
			Usage: llm.Usage{InputTokens: 15, OutputTokens: 3, TotalTokens: 18}}},
		{"27-tools-chat-stream.ndjson", 0, llm.Response{FinishReason: "tool_calls", Model: "tiny", Provider: "ollama",
			ToolCalls: []llm.ToolCall{{ID: "call_7q38jkad", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			Usage:     llm.Usage{InputTokens: 50, OutputTokens: 5, TotalTokens: 55}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var chunks []llm.Chunk
			err = decodeStream(f, func(c llm.Chunk, err error) bool {
				chunks = append(chunks, c)
				return true
			})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := llm.Response{}
			deltas := 0
			for i, c := range chunks {
				got.Add(c)
				if c.Delta != "" {
					deltas++
				}
				if (c.Usage != nil) != (i == len(chunks)-1) {
					t.Errorf("chunk %d of %d has usage %v: usage belongs on the last chunk only", i, len(chunks), c.Usage)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if deltas != tt.deltas {
				t.Errorf("%d deltas, want %d", deltas, tt.deltas)
			}
		})
	}
}

// TestStreamFaults plays each fault of the fake through the adapter.
func TestStreamFaults(t *testing.T) {
	words := []string{" the", " quick", " brown"}
	tests := []struct {
		name     string
		reply    fakeollama.Reply
		kind     llm.Kind
		partial  string
		contains string
	}{
		{"cut before first byte", fakeollama.Reply{Deltas: words, Fault: fakeollama.FaultCutBeforeFirstByte},
			llm.KindUnavailable, "", "connection to the Ollama server"},
		{"cut after two deltas", fakeollama.Reply{Deltas: words, Fault: fakeollama.FaultCutAfter, After: 2},
			llm.KindUpstream, " the quick", "cut"},
		{"cut before done", fakeollama.Reply{Deltas: words, Fault: fakeollama.FaultCutAfter, After: 3},
			llm.KindUpstream, " the quick brown", "cut"},
		{"malformed line", fakeollama.Reply{Deltas: words, Fault: fakeollama.FaultMalformedAfter, After: 1},
			llm.KindUpstream, " the", "decode"},
		{"in-band error line", fakeollama.Reply{Deltas: words, Fault: fakeollama.FaultErrorLineAfter, After: 2, ErrorText: "an error was encountered while running the model"},
			llm.KindUpstream, " the quick", "an error was encountered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeollama.New(t)
			f.Enqueue(tt.reply)
			r, err := llm.Collect(newClient(t, f.URL).Stream(context.Background(), userRequest("tiny")))
			if llm.KindOf(err) != tt.kind {
				t.Fatalf("err = %v (kind %v), want %v", err, llm.KindOf(err), tt.kind)
			}
			if !llm.Retryable(err) {
				t.Errorf("err %v is not retryable", err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %q, want it to mention %q", err, tt.contains)
			}
			if r.Text != tt.partial {
				t.Errorf("partial text = %q, want %q", r.Text, tt.partial)
			}
		})
	}
}

func TestStreamEndsWithoutDone(t *testing.T) {
	// A server that ends the body cleanly without a done line.
	_, err := collectLines(t, `{"model":"tiny","created_at":"2026-11-25T23:52:09Z","message":{"role":"assistant","content":" the"},"done":false}`+"\n")
	if llm.KindOf(err) != llm.KindUpstream || !strings.Contains(err.Error(), "stream ended before done") {
		t.Errorf("err = %v (kind %v), want upstream_error \"stream ended before done\"", err, llm.KindOf(err))
	}
}

func TestStreamLineTooLong(t *testing.T) {
	long := `{"model":"tiny","message":{"role":"assistant","content":"` + strings.Repeat("x", maxLine) + `"},"done":false}` + "\n"
	_, err := collectLines(t, long)
	if llm.KindOf(err) != llm.KindUpstream || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("err = %v (kind %v), want upstream_error about the line length", err, llm.KindOf(err))
	}
}

func TestStreamSkipsEmptyLines(t *testing.T) {
	r, err := collectLines(t, "\n"+
		`{"model":"tiny","created_at":"2026-11-25T23:52:09Z","message":{"role":"assistant","content":"","thinking":"hm"},"done":false}`+"\n\n"+
		`{"model":"tiny","created_at":"2026-11-25T23:52:09Z","message":{"role":"assistant","content":"ok"},"done":false}`+"\r\n"+
		`{"model":"tiny","created_at":"2026-11-25T23:52:09Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":1}`)
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	if r.Text != "ok" || r.Usage.OutputTokens != 1 || r.Usage.InputTokens != 0 {
		t.Errorf("response = %+v", r)
	}
}

func collectLines(t *testing.T, body string) (*llm.Response, error) {
	t.Helper()
	var r llm.Response
	err := decodeStream(strings.NewReader(body), func(c llm.Chunk, err error) bool {
		r.Add(c)
		return true
	})
	return &r, err
}

func TestStreamTrickle(t *testing.T) {
	f := fakeollama.New(t)
	f.Enqueue(fakeollama.Reply{Deltas: fakeollama.TinyWords, EvalCount: 11, PromptEvalCount: 15, Delay: 2 * time.Millisecond})
	n := 0
	var last llm.Chunk
	for c, err := range newClient(t, f.URL).Stream(context.Background(), userRequest("tiny")) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		n++
		last = c
	}
	if n != len(fakeollama.TinyWords)+1 || last.Usage == nil || last.Usage.Total() != 26 {
		t.Errorf("%d chunks, last %+v", n, last)
	}
}

// TestBreakCancelsUpstream breaks out of an endless stream and checks
// that the server saw its client go away.
func TestBreakCancelsUpstream(t *testing.T) {
	f := fakeollama.New(t)
	f.Enqueue(fakeollama.Reply{Deltas: []string{" tock", " tick"}, Endless: true})
	n := 0
	for _, err := range newClient(t, f.URL).Stream(context.Background(), userRequest("tiny")) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if n++; n == 5 {
			break
		}
	}
	waitCanceled(t, f)
}

func TestStallCanceledByContext(t *testing.T) {
	tests := []struct {
		name  string
		reply fakeollama.Reply
		kind  llm.Kind
		text  string
	}{
		{"before first byte", fakeollama.Reply{Deltas: []string{"a"}, Fault: fakeollama.FaultStallBeforeFirst}, llm.KindCanceled, ""},
		{"mid-stream", fakeollama.Reply{Deltas: []string{"a", "b"}, Fault: fakeollama.FaultStallAfter, After: 1}, llm.KindCanceled, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeollama.New(t)
			f.Enqueue(tt.reply)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Cancel once the fake has the request and (for mid-stream)
			// the first delta has arrived.
			go func() {
				for len(f.Requests()) == 0 {
					time.Sleep(time.Millisecond)
				}
				if tt.text == "" {
					cancel()
				}
			}()
			var text string
			var err error
			for c, e := range newClient(t, f.URL).Stream(ctx, userRequest("tiny")) {
				if e != nil {
					err = e
					break
				}
				text += c.Delta
				if text == tt.text {
					cancel()
				}
			}
			if llm.KindOf(err) != tt.kind {
				t.Fatalf("err = %v (kind %v), want %v", err, llm.KindOf(err), tt.kind)
			}
			if text != tt.text {
				t.Errorf("text = %q, want %q", text, tt.text)
			}
			waitCanceled(t, f)
		})
	}
}

func TestStallTimeout(t *testing.T) {
	f := fakeollama.New(t)
	f.Enqueue(fakeollama.Reply{Deltas: []string{"a"}, Fault: fakeollama.FaultStallBeforeFirst})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := llm.Collect(newClient(t, f.URL).Stream(ctx, userRequest("tiny")))
	if llm.KindOf(err) != llm.KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v (kind %v), want timeout", err, llm.KindOf(err))
	}
}

func TestStallReleased(t *testing.T) {
	f := fakeollama.New(t)
	f.Enqueue(fakeollama.Reply{Deltas: []string{"a", "b"}, Fault: fakeollama.FaultStallAfter, After: 1, EvalCount: 2})
	text := ""
	for c, err := range newClient(t, f.URL).Stream(context.Background(), userRequest("tiny")) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		text += c.Delta
		if text == "a" {
			f.Release()
		}
	}
	if text != "ab" || f.CanceledCount() != 0 {
		t.Errorf("text %q, canceled %d", text, f.CanceledCount())
	}
}

func TestStreamStartsNothingUntilIterated(t *testing.T) {
	f := fakeollama.New(t)
	seq := newClient(t, f.URL).Stream(context.Background(), userRequest("tiny"))
	if n := len(f.Requests()); n != 0 {
		t.Fatalf("%d requests before iterating", n)
	}
	r, err := llm.Collect(seq)
	if err != nil || r.Text != fakeollama.TinyAnswer {
		t.Fatalf("collect: %q, %v", r.Text, err)
	}
}

// TestRequestOnTheWire checks what the fake received for a full request.
func TestRequestOnTheWire(t *testing.T) {
	f := fakeollama.New(t)
	c, err := New(Config{Host: f.URL, KeepAlive: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	req := llmtest.ConformanceRequest("tiny")
	req.Stop = []string{"fox"}
	r, err := llm.Collect(c.Stream(context.Background(), req))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != " the quick brown " || r.FinishReason != llm.FinishStop {
		t.Errorf("response = %+v", r)
	}
	got := f.Requests()[0]
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	want := `{"model":"tiny","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello"}],"stream":true,` +
		`"keep_alive":"10m","options":{"num_predict":64,"temperature":0.2,"stop":["fox"]}}`
	if diff := cmp.Diff(want, string(got.Body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func waitCanceled(t *testing.T, f *fakeollama.Server) {
	t.Helper()
	select {
	case <-f.Canceled():
	case <-time.After(waitLimit):
		t.Fatal("the fake never saw the client go away")
	}
}
