package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// target is one column of the report: an endpoint of a measured process.
type target struct {
	name   string
	floor  bool
	proc   *proc
	path   string // non-stream request path
	spath  string // stream request path ("" = path)
	body   []byte
	sbody  []byte // the same request with streaming on
	client *http.Client
	// floorName names the floor column a service column is compared with.
	floorName string
	// drain, when set, waits until the process has finished work queued
	// by the slice (tracking records shipped), so that its CPU is charged
	// to the slice that caused it.
	drain func(ctx context.Context) error
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// fire returns the request function of the target.
func (t *target) fire(stream bool) shot {
	url, body := "http://"+t.proc.addr+t.path, t.body
	if stream {
		body = t.sbody
		if t.spath != "" {
			url = "http://" + t.proc.addr + t.spath
		}
	}
	return func(ctx context.Context) (time.Time, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return time.Time{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := t.client.Do(req)
		if err != nil {
			return time.Time{}, err
		}
		defer resp.Body.Close()
		body, first, err := readFirstToken(resp.Body)
		if err != nil {
			return first, err
		}
		if resp.StatusCode != http.StatusOK {
			return first, fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
		}
		return first, nil
	}
}

// firstToken is the answer's text as every fake upstream streams it
// (answerText): the first time it shows in a body is the time to first
// token. The first body byte would not do: a bare proxy passes on
// OpenAI's role chunk (no text) at once, where the service writes
// nothing before the first content (a failure before it is still an
// HTTP error, and another target may answer).
const firstToken = "tick"

// readFirstToken reads the whole body and returns it with the time
// firstToken first arrived (the time of the first byte if it never did).
func readFirstToken(r io.Reader) ([]byte, time.Time, error) {
	var body []byte
	var first, firstByte time.Time
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			now := time.Now()
			if firstByte.IsZero() {
				firstByte = now
			}
			from := max(len(body)-len(firstToken)+1, 0)
			body = append(body, buf[:n]...)
			if first.IsZero() && bytes.Contains(body[from:], []byte(firstToken)) {
				first = now
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return body, cmp.Or(first, firstByte, time.Now()), fmt.Errorf("read body: %w", err)
		}
	}
	if firstByte.IsZero() {
		return body, time.Now(), errors.New("read first byte: empty body")
	}
	return body, cmp.Or(first, firstByte), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var prompt = "Say hello to the benchmark in three words."

func openAIBody(model string, stream, upstreamShape bool) []byte {
	m := map[string]any{
		"model":      model,
		"messages":   []map[string]string{{"role": "user", "content": prompt}},
		"max_tokens": 64,
	}
	if stream {
		m["stream"] = true
		if upstreamShape { // what the service itself sends upstream
			m["stream_options"] = map[string]bool{"include_usage": true}
		}
	}
	return mustJSON(m)
}

// anthropicBody is /v1/messages asking the OpenAI upstream.
func anthropicBody(stream bool) []byte {
	m := map[string]any{"model": "openai/gpt-4o-mini", "max_tokens": 64,
		"messages": []map[string]string{{"role": "user", "content": prompt}}}
	if stream {
		m["stream"] = true
	}
	return mustJSON(m)
}

// responsesBody is /v1/responses asking the OpenAI upstream.
func responsesBody(stream bool) []byte {
	m := map[string]any{"model": "openai/gpt-4o-mini", "max_output_tokens": 64, "input": prompt}
	if stream {
		m["stream"] = true
	}
	return mustJSON(m)
}

func chatBody(stream bool) []byte {
	m := map[string]any{"prompt": prompt, "max_tokens": 64}
	if stream {
		m["stream"] = true
	}
	return mustJSON(m)
}

// geminiBody is what the service's Gemini adapter sends upstream.
func geminiBody() []byte {
	return mustJSON(map[string]any{
		"contents":         []map[string]any{{"role": "user", "parts": []map[string]string{{"text": prompt}}}},
		"generationConfig": map[string]any{"maxOutputTokens": 64},
	})
}

// The two calls of the Gemini adapter: a stream, and a collected
// (non-stream) request.
const (
	geminiStreamPath = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
	geminiPath       = "/v1beta/models/gemini-2.5-flash:generateContent"
)

// trackingBacklog reads the tracking backlog from the service's /health.
func trackingBacklog(ctx context.Context, addr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	var h struct {
		Components struct {
			Tracking struct {
				Backlog int `json:"backlog"`
			} `json:"tracking"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, fmt.Errorf("health: %w", err)
	}
	return h.Components.Tracking.Backlog, nil
}

// drainTracking waits until the service has shipped every record.
func drainTracking(addr string, limit time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		for {
			n, err := trackingBacklog(ctx, addr)
			if err == nil && n == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("tracking backlog %d after %s (last error: %v)", n, limit, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
