package fakegemini

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// exchange is one request being answered.
type exchange struct {
	*fakeserver.Call
	w   http.ResponseWriter
	eol string // "\r\n\r\n" or "\n\n", one style per stream
}

// play answers with rep: an error, a unary body, an SSE stream, or the
// JSON array that streamGenerateContent sends without alt=sse.
func (x *exchange) play(rep Reply, model string, stream, sse bool) {
	switch rep.Fault {
	case FaultReset:
		x.Cut()
	case FaultHang:
		if !x.Hold(rep.Release) {
			return
		}
	}
	if rep.Status != 0 && rep.Status != http.StatusOK {
		writeError(x.w, errorStatus(rep), rep.Header)
		return
	}
	chunks := rep.chunks(model, "fake-"+randomHex(6))
	switch {
	case !stream:
		x.unary(rep, chunks)
	case sse:
		x.stream(rep, chunks, x.event, "")
	default:
		x.stream(rep, chunks, x.element, "]")
	}
}

func errorStatus(rep Reply) *Status {
	if rep.Error != nil {
		return rep.Error
	}
	return &Status{Code: rep.Status, Status: rpcStatus(rep.Status), Message: http.StatusText(rep.Status)}
}

func (x *exchange) unary(rep Reply, chunks []Response) {
	switch rep.Fault {
	case FaultCut:
		x.Cut()
	case FaultStall:
		if !x.Hold(rep.Release) {
			return
		}
	case FaultMalformed:
		x.w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = x.w.Write([]byte(`{"candidates": [{"content": {"parts": [{"text": "Hel`))
		return
	case FaultInBandError:
		writeError(x.w, errorStatus(Reply{Status: 500, Error: rep.Error}), nil)
		return
	}
	// The model takes as long to write the answer either way: the one
	// body comes when the stream's last chunk would have.
	if !x.pause(rep.Delay * time.Duration(len(chunks))) {
		return
	}
	writeJSON(x.w, http.StatusOK, unary(chunks))
}

// stream writes chunks with write, injecting rep's fault before chunk
// rep.After (after the last chunk when After is past the end), then
// writes tail.
func (x *exchange) stream(rep Reply, chunks []Response, write func(i int, v any) error, tail string) {
	h := x.w.Header()
	if tail == "" {
		h.Set("Content-Type", "text/event-stream")
	} else {
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	h.Set("Vary", "Origin, X-Origin, Referer")
	h.Set("X-Content-Type-Options", "nosniff")
	x.w.WriteHeader(http.StatusOK)
	_ = x.Flush()
	for i := 0; i <= len(chunks); i++ {
		if i == min(rep.After, len(chunks)) && !x.fault(rep, i, write) {
			return
		}
		if i == len(chunks) {
			break
		}
		if !x.pause(rep.Delay) || write(i, chunks[i]) != nil {
			x.Gone()
			return
		}
	}
	if tail != "" {
		_, _ = x.w.Write([]byte(tail))
	}
}

// fault plays rep.Fault at position i; false ends the answer.
func (x *exchange) fault(rep Reply, i int, write func(int, any) error) bool {
	switch rep.Fault {
	case FaultCut:
		x.Cut()
	case FaultStall:
		return x.Hold(rep.Release)
	case FaultMalformed:
		_ = x.Write([]byte(`data: {"candidates": [{"content": {"parts": [{"text": "Hel` + x.eol))
		return false
	case FaultInBandError:
		_ = write(i, errorBody{Error: errorStatus(Reply{Status: 500, Error: rep.Error})})
		return false
	}
	return true
}

// event writes one data-only SSE event: "data: <json>" and a blank line.
func (x *exchange) event(_ int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return x.Write(append(append([]byte("data: "), b...), x.eol...))
}

// element writes one element of the JSON array form.
func (x *exchange) element(i int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sep := []byte(",\r\n")
	if i == 0 {
		sep = []byte("[")
	}
	return x.Write(append(sep, b...))
}

// pause waits d before a chunk (a trickle); false if the client went
// away or the fake stopped.
func (x *exchange) pause(d time.Duration) bool { return d <= 0 || x.Sleep(d) }
