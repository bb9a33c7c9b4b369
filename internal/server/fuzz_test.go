package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
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
		`{"model":"m","messages":[{"role":"tool","content":"r"}]}`, `{}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"a b","parameters":[1]}}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`,
		`{"model":"m","messages":"hi"}`} {
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
		if len(req.Messages) == 0 || req.MaxTokens < 1 || req.MaxTokens > maxTokensLimit {
			t.Fatalf("accepted %+v", req)
		}
		declared := map[string]bool{}
		for _, tool := range req.Tools {
			if !validToolName(tool.Name) {
				t.Fatalf("accepted tool name %q", tool.Name)
			}
			declared[tool.Name] = true
		}
		switch req.ToolChoice {
		case "", "auto", "none", "required":
		default:
			if !declared[req.ToolChoice] {
				t.Fatalf("accepted tool_choice %q naming no declared tool", req.ToolChoice)
			}
		}
	})
}

// FuzzJSONError: whatever net/http's canned error says, the rewrite is
// a complete HTTP answer with a JSON body of the stated length.
func FuzzJSONError(f *testing.F) {
	f.Add([]byte("HTTP/1.1 400 Bad Request: malformed MIME header line: Bad Header: x"), []byte("400 Bad Request: malformed MIME header line: Bad Header: x"))
	f.Add([]byte("HTTP/1.1 431 Request Header Fields Too Large"), []byte("431 Request Header Fields Too Large"))
	f.Fuzz(func(t *testing.T, status, text []byte) {
		if bytes.IndexByte(status, '\n') >= 0 {
			return // never a canned status line
		}
		out := jsonError(status, text)
		head, body, ok := bytes.Cut(out, []byte("\r\n\r\n"))
		if !ok || !bytes.Contains(head, []byte("Content-Length: "+strconv.Itoa(len(body)))) {
			t.Fatalf("incomplete answer %q", out)
		}
		if !json.Valid(body) {
			t.Fatalf("body %q is not JSON", body)
		}
	})
}

func FuzzDecodeAnthropic(f *testing.F) {
	for _, s := range []string{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","max_tokens":3000,"thinking":{"type":"enabled","budget_tokens":2048},"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}]}`,
		`{"model":"m","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r"}]}]}`,
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}`,
		`{"model":"m","messages":[]}`, `{}`, `[]`, `{"model":"m","max_tokens":-1}`} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		_, req, fail := DecodeAnthropic(body, count)
		if fail != nil {
			if fail.status != http.StatusBadRequest || fail.typ != "invalid_request_error" || fail.msg == "" {
				t.Fatalf("bad error %+v", fail)
			}
			return
		}
		if req.Model == "" || len(req.Messages) > anMaxMessages || len(req.Tools) > anMaxTools || len(req.Stop) > anMaxStops {
			t.Fatalf("accepted %+v", req)
		}
		if !count && (req.MaxTokens < 1 || req.MaxTokens > maxTokensLimit) {
			t.Fatalf("accepted max_tokens %d", req.MaxTokens)
		}
		images := 0
		for _, m := range req.Messages {
			images += len(m.Images)
			for _, im := range m.Images {
				if len(im.Data) > anMaxImageBytes || (im.URL == "") == (len(im.Data) == 0) {
					t.Fatalf("accepted image %d bytes url %q", len(im.Data), im.URL)
				}
			}
		}
		if images > anMaxImages || len(req.User) > anMaxUserID {
			t.Fatalf("accepted %d images, user %d bytes", images, len(req.User))
		}
	})
}
