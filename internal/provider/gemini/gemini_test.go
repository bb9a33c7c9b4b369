package gemini_test

import (
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
)

// newTest returns a client pointed at a fresh fake.
func newTest(t *testing.T) (*gemini.Client, *fakegemini.Server) {
	t.Helper()
	srv := fakegemini.New(t)
	c := gemini.New(gemini.Config{BaseURL: srv.URL, APIKey: srv.Key, HTTPClient: srv.Client()})
	return c, srv
}

func TestConformance(t *testing.T) {
	llmtest.RunConformance(t, func(t *testing.T) (llm.Provider, llmtest.Scripter, string) {
		c, srv := newTest(t)
		return c, srv, "gemini-2.5-flash"
	})
}

func TestConformanceLF(t *testing.T) {
	llmtest.RunConformance(t, func(t *testing.T) (llm.Provider, llmtest.Scripter, string) {
		c, srv := newTest(t)
		srv.LF = true
		return c, srv, "models/gemini-2.5-flash"
	})
}
