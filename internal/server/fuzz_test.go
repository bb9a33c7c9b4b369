package server

import (
	"net/http"
	"testing"
)

func FuzzDecodeChat(f *testing.F) {
	for _, s := range []string{`{"prompt":"hi"}`, `{"prompt":"a","max_tokens":5,"temperature":0.2,"context":"c"}`,
		`[]`, `{"prompt":1}`, `{"prompt":"x","max_tokens":-3}`, `null`, "{\"prompt\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, rerr := DecodeChat(body)
		if rerr != nil {
			if rerr.status < 400 || rerr.status > 499 || rerr.detail == nil {
				t.Fatalf("bad error %d %v", rerr.status, rerr.detail)
			}
			return
		}
		if req.Prompt == nil || *req.Prompt == "" {
			t.Fatal("accepted without a prompt")
		}
		if m := req.maxTokens(); m < 1 || m > maxTokensLimit {
			t.Fatalf("accepted max_tokens %d", m)
		}
		if tp := req.temperature(); tp < 0 || tp > maxTemperature {
			t.Fatalf("accepted temperature %g", tp)
		}
	})
}

func FuzzDecodeOpenAI(f *testing.F) {
	for _, s := range []string{`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stop":["x"],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto"}`,
		`{"model":"m","messages":[{"role":"tool","content":"r"}]}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, req, fail := decodeOA(body)
		if fail != nil {
			if fail.status != http.StatusBadRequest || fail.err.Message == "" {
				t.Fatalf("bad error %+v", fail)
			}
			return
		}
		if len(req.Messages) == 0 || req.MaxTokens < 1 {
			t.Fatalf("accepted %+v", req)
		}
	})
}
