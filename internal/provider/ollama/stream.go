package ollama

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"sync"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/upstream"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// maxLine bounds one NDJSON line, as Ollama's own client does (8 MB).
const maxLine = 8 << 20

// Stream sends req to POST /api/chat with "stream": true and yields one
// chunk per NDJSON line that carries text or tool calls, then a final
// chunk with the finish reason and usage. A collected request
// (llm.Request.Collect) sends "stream": false: Ollama's one JSON object
// is the done line with the whole message, read by the same decoder. Nothing is sent until the
// sequence is iterated; breaking out of the loop closes the connection,
// which makes Ollama stop generating.
func (c *Client) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if err := c.checkImages(ctx, req); err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		resp, err := c.send(ctx, req)
		if err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		defer resp.Body.Close()
		if err := decodeStream(llm.ReadsReported(ctx, resp.Body), yield); err != nil {
			if ce := contextError(ctx, err); ce != nil {
				err = ce
			}
			yield(llm.Chunk{}, err)
		}
	}
}

func (c *Client) send(ctx context.Context, req *llm.Request) (*http.Response, error) {
	w, err := toWire(req, c.keepAlive)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, llm.Errorf(llm.KindInvalid, providerName, "encode request: %v", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.chatURL, bytes.NewReader(body))
	if err != nil {
		// The cause (a Go parse error naming the address) is for logs only.
		return nil, &llm.Error{Kind: llm.KindInternal, Provider: providerName,
			Message: "cannot build the request to Ollama: check OLLAMA_HOST", Err: fmt.Errorf("build request: %w", err)}
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.Collect {
		hreq.Header.Set("Accept", "application/json")
	} else {
		hreq.Header.Set("Accept", "application/x-ndjson")
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(resp, req.Model, time.Now())
	}
	return resp, nil
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// decodeStream reads NDJSON answer lines from r and yields chunks. It
// returns nil after the done line (or when yield asks to stop) and an
// error when the stream is cut, garbled or reports an error in band; the
// chunks decoded before a failure have been yielded.
func decodeStream(r io.Reader, yield func(llm.Chunk, error) bool) error {
	sc := bufio.NewScanner(sse.LimitReader(r, sse.MaxStream)) // the whole answer is bounded too
	// Lines are decoded into fresh values (json.Unmarshal copies), so the
	// buffer can go back to the pool when the stream ends.
	buf := linePool.Get().(*[]byte)
	defer linePool.Put(buf)
	sc.Buffer((*buf)[:0], maxLine)
	calls := 0
	for sc.Scan() {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var line chatLine
		if err := json.Unmarshal(b, &line); err != nil {
			if errors.Is(sc.Err(), sse.ErrTooLarge) { // the last line, cut by the bound
				return upstreamError("%v", sc.Err())
			}
			return upstreamError("decode stream line: %v", err)
		}
		if line.Error != "" {
			return upstreamError("error in stream: %s", clean(line.Error))
		}
		c := llm.Chunk{Delta: line.Message.Content, Model: line.Model, Provider: providerName}
		c.ToolCalls = fromWireToolCalls(line.Message.ToolCalls, calls)
		calls += len(c.ToolCalls)
		if line.Done {
			c.FinishReason = finishReason(line.DoneReason, calls > 0)
			c.Usage = &llm.Usage{InputTokens: line.PromptEvalCount, OutputTokens: line.EvalCount,
				TotalTokens: line.PromptEvalCount + line.EvalCount}
			if yield(c, nil) {
				upstream.DrainEnd(r) // Ollama ends the body right after the done line
			}
			return nil
		}
		if !c.HasContent() {
			continue // e.g. a thinking-only line
		}
		if !yield(c, nil) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return upstreamError("stream line longer than %d bytes", maxLine)
		}
		if errors.Is(err, sse.ErrTooLarge) {
			return upstreamError("%v", err)
		}
		return &llm.Error{Kind: llm.KindUpstream, Provider: providerName, StatusCode: http.StatusOK,
			Message: "stream cut before done", Err: errors.Join(errors.New("ollama: read stream"), err)}
	}
	return upstreamError("stream ended before done")
}
