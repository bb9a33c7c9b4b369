package fakegemini_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

func post(t *testing.T, srv *fakegemini.Server, path, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const stream = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"

func TestValidation(t *testing.T) {
	const ok = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	tests := []struct {
		name   string
		path   string
		key    string // "-" sends none; "" sends the right one
		body   string
		status int
		want   string
	}{
		{"valid", stream, "", ok, 200, `"finishReason":"STOP"`},
		{"no key", stream, "-", ok, 403, "PERMISSION_DENIED"},
		{"wrong key", stream, "nope", ok, 400, "API_KEY_INVALID"},
		{"unknown model", "/v1beta/models/nope:streamGenerateContent?alt=sse", "", ok, 404, "models/nope is not found for API version v1beta"},
		{"unknown action", "/v1beta/models/gemini-2.5-flash:explode", "", ok, 404, "NOT_FOUND"},
		{"no contents", stream, "", `{"contents":[]}`, 400, "contents is not specified"},
		{"bad role", stream, "", `{"contents":[{"role":"assistant","parts":[{"text":"hi"}]}]}`, 400, "Please use a valid role: user, model."},
		{"empty parts", stream, "", `{"contents":[{"role":"user","parts":[]}]}`, 400, "contents.parts must not be empty"},
		{"empty part", stream, "", `{"contents":[{"role":"user","parts":[{}]}]}`, 400, "required oneof field 'data'"},
		{"unknown field", stream, "", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxTokens":5}}`, 400, "Invalid JSON payload received"},
		{"not JSON", stream, "", `{`, 400, "INVALID_ARGUMENT"},
		{"pro cannot turn thinking off", "/v1beta/models/gemini-2.5-pro:generateContent", "",
			`{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}`, 400, "only works in thinking mode"},
		{"budget and level together", "/v1beta/models/gemini-3-flash-preview:generateContent", "",
			`{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":512,"thinkingLevel":"low"}}}`, 400, "not supported together"},
		{"level on 2.5", "/v1beta/models/gemini-2.5-flash:generateContent", "",
			`{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"low"}}}`, 400, "not supported for this model"},
		{"minimal on 3 pro", "/v1beta/models/gemini-3-pro-preview:generateContent", "",
			`{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"minimal"}}}`, 400, "MINIMAL is not supported"},
		{"unknown level", "/v1beta/models/gemini-3-flash-preview:generateContent", "",
			`{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"max"}}}`, 400, "Invalid value at"},
		{"output limit", stream, "", `{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":70000}}`, 400, "maxOutputTokens value of 70000"},
		{"function response needs a name", stream, "",
			`{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"","response":{}}}]}]}`, 400, "Name cannot be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakegemini.New(t)
			key := tt.key
			switch key {
			case "":
				key = srv.Key
			case "-":
				key = ""
			}
			status, body := post(t, srv, tt.path, key, tt.body)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %s; want %d containing %q", status, body, tt.status, tt.want)
			}
			if tt.status != 200 && !json.Valid([]byte(body)) {
				t.Errorf("error body is not JSON: %s", body)
			}
		})
	}
}

func TestSSEFraming(t *testing.T) {
	srv := fakegemini.New(t)
	srv.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 2, CandidatesTokenCount: 4}, "a", "b"))
	_, body := post(t, srv, stream, srv.Key, `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	events := strings.Split(strings.TrimSuffix(body, "\r\n\r\n"), "\r\n\r\n")
	if len(events) != 2 || strings.Contains(body, "event:") || strings.Contains(body, "[DONE]") || strings.Count(body, "\n") != 4 {
		t.Fatalf("body %q", body)
	}
	var usage []int
	for _, ev := range events {
		data, ok := strings.CutPrefix(ev, "data: ")
		var r fakegemini.Response
		if !ok || json.Unmarshal([]byte(data), &r) != nil || r.UsageMetadata == nil || r.ResponseID == "" || r.ModelVersion != "gemini-2.5-flash" {
			t.Fatalf("event %q", ev)
		}
		usage = append(usage, r.UsageMetadata.CandidatesTokenCount)
	}
	if usage[0] != 2 || usage[1] != 4 || !strings.Contains(events[1], `"finishReason":"STOP"`) || strings.Contains(events[0], "finishReason") {
		t.Errorf("usage snapshots %v, events %q", usage, events)
	}
}

func TestJSONArrayWithoutSSE(t *testing.T) {
	srv := fakegemini.New(t)
	srv.Enqueue(fakegemini.TextReply(fakegemini.Usage{PromptTokenCount: 2, CandidatesTokenCount: 2}, "a", "b"))
	_, body := post(t, srv, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", srv.Key, `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	var rs []fakegemini.Response
	if err := json.Unmarshal([]byte(body), &rs); err != nil || len(rs) != 2 {
		t.Fatalf("body %q: %v", body, err)
	}
}

func TestRecordsAndCancellation(t *testing.T) {
	srv := fakegemini.New(t)
	srv.Enqueue(fakegemini.Reply{Deltas: []string{"a"}, Fault: fakegemini.FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+stream, strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
	req.Header.Set("x-goog-api-key", srv.Key)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	// Cancel once the fake has the request; it hangs until then.
	for len(srv.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if !srv.WaitCanceled(wctx, 1) || srv.Canceled() != 1 {
		t.Fatalf("canceled = %d", srv.Canceled())
	}
	r := srv.Last(t)
	if r.Model != "models/gemini-2.5-flash" || r.Action != "streamGenerateContent" || r.Body == nil || *r.Body.Contents[0].Parts[0].Text != "hi" {
		t.Errorf("recorded %+v", r)
	}
}
