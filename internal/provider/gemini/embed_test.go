package gemini_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
)

// TestEmbed: batchEmbedContents against the fake, which checks the
// wire rules: batches of at most 100 in input order, outputDimensionality
// and taskType on every request, errors classified.
func TestEmbed(t *testing.T) {
	srv := fakegemini.New(t)
	c := gemini.New(gemini.Config{BaseURL: srv.URL, APIKey: srv.Key, HTTPClient: srv.Client()})
	inputs := make([]string, 150)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("text %d", i)
	}
	resp, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "gemini-embedding-001", Inputs: inputs,
		Dimensions: 16, TaskType: "RETRIEVAL_DOCUMENT"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vectors) != 150 || resp.Provider != "google" || resp.Model != "gemini-embedding-001" || resp.Usage.InputTokens == 0 {
		t.Fatalf("%d vectors, %+v", len(resp.Vectors), resp.Usage)
	}
	for i, v := range resp.Vectors {
		if want := llmtest.Vector(inputs[i], 16); fmt.Sprint(v) != fmt.Sprint(want) {
			t.Fatalf("vector %d out of order or wrong", i)
		}
	}
	got := srv.Embeddings()
	if batches := len(srv.Requests()); batches != 2 || len(got) != 150 || *got[0].OutputDimensionality != 16 || got[149].TaskType != "RETRIEVAL_DOCUMENT" {
		t.Errorf("%d calls, %d requests: %+v", batches, len(got), got[0])
	}
	for _, tc := range []struct {
		name  string
		model string
		reply *fakegemini.Reply
		kind  llm.Kind
		msg   string
	}{
		{name: "unknown model", model: "gemini-2.5-flash", kind: llm.KindNotFound, msg: "not supported for batchEmbedContents"},
		{name: "rate limited", model: "gemini-embedding-001", reply: &fakegemini.Reply{Status: 429}, kind: llm.KindRateLimited},
		{name: "overloaded", model: "gemini-embedding-001", reply: &fakegemini.Reply{Status: 503}, kind: llm.KindUnavailable},
		{name: "bad model name", model: "a/b", kind: llm.KindInvalid},
	} {
		if tc.reply != nil {
			srv.EnqueueEmbed(*tc.reply)
		}
		_, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: tc.model, Inputs: []string{"x"}})
		if llm.KindOf(err) != tc.kind || !strings.Contains(llm.PublicMessage(err), tc.msg) || strings.Contains(fmt.Sprint(err), srv.Key) {
			t.Errorf("%s: %v (%v)", tc.name, err, llm.KindOf(err))
		}
	}
}
