package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/track"
)

// TestImagePolicyBeforeRouting: the default policy inlines a data URL
// before the provider sees the request, and refuses what it must
// (here a URL, fetching being off) with KindInvalid, recorded, the
// reservation settled, and no upstream call.
func TestImagePolicyBeforeRouting(t *testing.T) {
	const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	p := fakeprovider.New("google", []fakeprovider.Step{fakeprovider.Text("a dot"), fakeprovider.Chunk(llm.Chunk{FinishReason: "stop"})})
	var recorded []track.Call
	lim := &fixedLimiter{adm: Admission{Allowed: true}}
	g := &Gateway{Routes: oneRoute{p}, Limiter: lim,
		Sink: track.SinkFunc(func(_ context.Context, c track.Call) error { recorded = append(recorded, c); return nil })}
	ask := func(url string) error {
		req := &llm.Request{Model: "gemini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "what?", Images: []llm.Image{{URL: url}}}}}
		_, seq, err := g.Chat(context.Background(), &Input{Endpoint: "/v1/chat/completions", LimitKey: "k", Req: req})
		if err != nil {
			return err
		}
		_, err = llm.Collect(seq)
		return err
	}
	if err := ask("data:image/png;base64," + png); err != nil {
		t.Fatal(err)
	}
	sent := p.Calls()[0].Request.Messages[0].Images[0]
	if sent.MIMEType != "image/png" || len(sent.Data) == 0 || sent.URL != "" {
		t.Errorf("the provider got %+v, want inline PNG bytes", sent)
	}
	err := ask("https://example.com/cat.png")
	if llm.KindOf(err) != llm.KindInvalid || !strings.Contains(err.Error(), "IMAGE_FETCH") {
		t.Fatalf("err = %v, want invalid naming IMAGE_FETCH", err)
	}
	if n := p.NumCalls(); n != 1 {
		t.Errorf("%d upstream calls, want 1 (the refused request made none)", n)
	}
	if len(recorded) != 2 || recorded[1].Success || recorded[1].ErrorKind != "invalid_request" {
		t.Errorf("records %+v", recorded)
	}
	// (reserved, actual) pairs: the refused request's reservation is returned.
	if got := lim.reconciled; len(got) != 4 || got[3] != 0 {
		t.Errorf("reconciled %v, want two settlements, the last with 0 used", got)
	}
}
