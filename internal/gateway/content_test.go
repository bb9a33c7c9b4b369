package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/track"
	"github.com/llm-connector/llm-connector/internal/track/content"
	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// The private items a caller sends and a model echoes.
const (
	rawEmail = "ana.garcia@example.com"
	rawKey   = "sk-proj-AbCdEf0123456789GhIjKlMnOp"
	rawCard  = "4111 1111 1111 1111"
)

func privateInput(keyID string) *Input {
	in := input("")
	in.Who = Identity{User: "ana", KeyID: keyID}
	in.Req.System = "You help " + rawEmail
	in.Req.Messages = []llm.Message{{Role: llm.RoleUser, Content: "I am " + rawEmail + ", my key is " + rawKey}}
	return in
}

func privateAnswer() []fakeprovider.Step {
	return append([]fakeprovider.Step{fakeprovider.Text("Charged card " + rawCard + " for " + rawEmail)}, answer()...)
}

// TestGatewayCleansRecordBeforeSinks: in redacted mode the sink gets the
// content masked, in none mode no content and the mark; a per-key entry
// overrides the global mode both ways. Usage, cost and metadata stay.
func TestGatewayCleansRecordBeforeSinks(t *testing.T) {
	policy := &content.Policy{Default: content.Redacted,
		ByCaller: map[string]content.Mode{"k-none": content.None, "k-full": content.Full}}
	tests := []struct {
		name, keyID  string
		wantContent  string
		wantRawKept  bool
		wantNoPrompt bool
	}{
		{name: "global redacted", keyID: "k-other", wantContent: track.ContentRedacted},
		{name: "key set to none", keyID: "k-none", wantContent: track.ContentNone, wantNoPrompt: true},
		{name: "key set to full overrides the global mode", keyID: "k-full", wantRawKept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fakeprovider.New("google")
			p.SetDefault(privateAnswer()...)
			var mu sync.Mutex
			var calls []track.Call
			g := &Gateway{Routes: oneRoute{p}, Pricer: flatPrice{}, Clean: policy.Clean,
				Sink: track.SinkFunc(func(_ context.Context, c track.Call) error {
					mu.Lock()
					defer mu.Unlock()
					calls = append(calls, c)
					return nil
				})}
			res, err := run(t, g, privateInput(tt.keyID))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Response.Text, rawCard) {
				t.Errorf("the caller's answer was changed: %q", res.Response.Text)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != 1 {
				t.Fatalf("%d records, want 1", len(calls))
			}
			c := calls[0]
			if c.Content != tt.wantContent || c.Usage.TotalTokens != 5 || c.CostUSD != 0.005 || c.KeyID != tt.keyID {
				t.Errorf("record content=%q usage=%+v cost=%v key=%q", c.Content, c.Usage, c.CostUSD, c.KeyID)
			}
			text := c.System + "\n" + c.Prompt + "\n" + c.Response
			for _, raw := range []string{rawEmail, rawKey, rawCard} {
				if strings.Contains(text, raw) != tt.wantRawKept {
					t.Errorf("record holds %q = %v, want %v:\n%s", raw, !tt.wantRawKept, tt.wantRawKept, text)
				}
			}
			switch {
			case tt.wantNoPrompt:
				if c.System != "" || c.Prompt != "" || c.Response != "" {
					t.Errorf("none kept content: %q", text)
				}
			case !tt.wantRawKept:
				for _, ph := range []string{"[email]", "[secret]", "[card]"} {
					if !strings.Contains(text, ph) {
						t.Errorf("redacted record lacks %s:\n%s", ph, text)
					}
				}
			}
		})
	}
}

// TestGatewayContentNeverReachesSpoolFiles runs the gateway with a real
// spool as its sink and greps every file the spool wrote, and the
// gateway's log, for the raw e-mail address and key.
func TestGatewayContentNeverReachesSpoolFiles(t *testing.T) {
	for _, mode := range []content.Mode{content.Redacted, content.None} {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			sp, err := spool.Open(spool.Options{Dir: dir, SyncInterval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			var logs bytes.Buffer
			p := fakeprovider.New("google")
			p.SetDefault(privateAnswer()...)
			policy := &content.Policy{Default: mode}
			g := &Gateway{Routes: oneRoute{p}, Clean: policy.Clean, Sink: sp,
				Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			for i := range 3 {
				in := privateInput("k1")
				in.RequestID = "r" + string(rune('0'+i))
				if _, err := run(t, g, in); err != nil {
					t.Fatal(err)
				}
			}
			if err := sp.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st := sp.Stats(); st.Backlog != 3 {
				t.Fatalf("spool holds %d records, want 3", st.Backlog)
			}
			disk := llmtest.ReadTree(t, dir)
			if !strings.Contains(disk, `"content":"`+string(mode)+`"`) {
				t.Errorf("spool records lack the content mark %q:\n%s", mode, disk)
			}
			for _, raw := range []string{rawEmail, rawKey, rawCard, "ana.garcia"} {
				if strings.Contains(disk, raw) {
					t.Errorf("spool files hold %q", raw)
				}
				if strings.Contains(logs.String(), raw) {
					t.Errorf("log holds %q", raw)
				}
			}
		})
	}
}
