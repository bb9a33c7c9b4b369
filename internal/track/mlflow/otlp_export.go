package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	collpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// shipOTLP is the MLflow 3.6+ path. Re-sending an export adds the trace's
// token usage again on the server (mlflow.md §6), so a trace is exported
// again only when no earlier export can have reached the server: after a
// dial failure at once, after a timeout, EOF or 5xx only once a lookup
// (GET /api/3.0/mlflow/traces/{id}, RecheckDelay later) shows its spans
// are not there.
func (s *traceShipper) shipOTLP(ctx context.Context, batch []spool.Entry, exp string) {
	var ready []spool.Entry
	for i, e := range batch {
		ok, err := s.prepare(ctx, e, exp)
		if err != nil {
			if ctx.Err() == nil {
				s.fail(err)
			}
			if retryable(err) || ctx.Err() != nil { // the server is struggling: stop here
				s.release(ready, nil, time.Time{})
				s.release(batch[i:], err, time.Time{})
				return
			}
			s.release(batch[i:i+1], err, time.Time{})
			continue
		}
		if ok {
			ready = append(ready, e)
		}
	}
	s.export(ctx, ready, exp)
}

// prepare looks up a trace that may have landed and starts it with
// StartTraceV3 when it gets metadata. send false means it is done.
func (s *traceShipper) prepare(ctx context.Context, e spool.Entry, exp string) (send bool, err error) {
	p := s.progress(e)
	id, _, _ := traceIDs(e.Call.ID)
	if p.maybeSent {
		s.st.lookedUp.Add(1)
		info, err := getTrace(ctx, s.d.cl, id)
		if err != nil {
			return false, err
		}
		if info != nil && s.landed(info, e.Call) {
			s.st.found.Add(1)
			s.ack(e)
			s.delivered(1)
			return false, nil
		}
		p.maybeSent = false
		p.metaDone = p.metaDone || info != nil
	}
	if s.wantsMeta(e.Call) && !p.metaDone {
		if err := s.startMeta(ctx, e, exp, id); err != nil {
			return false, err
		}
		p.metaDone = true
	}
	return true, nil
}

// startMeta is StartTraceV3 without token usage (the spans bring it). A
// 500 on a replay is the server's "already exists": confirmed by a
// lookup, it counts as done.
func (s *traceShipper) startMeta(ctx context.Context, e spool.Entry, exp, id string) error {
	s.st.metadata.Add(1)
	c := e.Call // the body keeps previews only: cut the content first, cheaply
	c.System, c.Prompt, c.Response = clip(c.System, 4<<10), clip(c.Prompt, 4<<10), clip(c.Response, 4<<10)
	body := startTraceBodyUsage(c, exp, "", s.opt.Source, s.d.secrets, false)
	err := s.d.cl.call(ctx, http.MethodPost, "/api/3.0/mlflow/traces", nil, body, nil)
	if err == nil || !isCode(err, "INTERNAL_ERROR") {
		return err
	}
	info, gerr := getTrace(ctx, s.d.cl, id)
	if gerr != nil || info == nil {
		return err
	}
	return nil
}

// export sends ready in requests of at most MaxRequestBytes.
func (s *traceShipper) export(ctx context.Context, ready []spool.Entry, exp string) {
	var chunk []spool.Entry
	var rs []*tracepb.ResourceSpans
	size := 0
	for i, e := range ready {
		r, n := s.build(e)
		if len(chunk) > 0 && (size+n > s.opt.MaxRequestBytes || s.progress(e).solo || s.progress(chunk[0]).solo) {
			if !s.post(ctx, chunk, rs, exp) {
				s.release(ready[i:], nil, time.Time{}) // never sent
				return
			}
			chunk, rs, size = nil, nil, 0
		}
		chunk, rs, size = append(chunk, e), append(rs, r), size+n
	}
	if len(chunk) > 0 {
		s.post(ctx, chunk, rs, exp)
	}
}

// build is e's trace, its messages cut until it fits one request.
func (s *traceShipper) build(e spool.Entry) (*tracepb.ResourceSpans, int) {
	limit := s.opt.MaxMessageBytes
	for {
		b := spanBuilder{source: s.opt.Source, secrets: s.d.secrets, limit: limit}
		r := b.resourceSpans(e.Call)
		n := proto.Size(r) + 8 // + the field tag and length in the request
		if n <= s.opt.MaxRequestBytes || limit <= 64 {
			s.st.truncated.Add(uint64(b.cuts))
			return r, n
		}
		limit /= 4
	}
}

// post exports one request and settles its entries; it reports whether
// the next request may follow.
func (s *traceShipper) post(ctx context.Context, chunk []spool.Entry, rs []*tracepb.ResourceSpans, exp string) bool {
	body, err := proto.Marshal(&collpb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil { // strings are made valid first: not expected, but never let it block others
		s.refused(chunk)
		s.fail(fmt.Errorf("mlflow: otlp: encode: %w", err))
		s.release(chunk, &permanentError{err}, time.Time{})
		return false
	}
	for _, e := range chunk {
		if p := s.progress(e); p.dialFail {
			s.st.resent.Add(1)
			p.dialFail = false
		}
	}
	s.st.requests.Add(1)
	err = s.d.cl.postOTLP(ctx, exp, body, s.d.log)
	switch {
	case err == nil:
		for _, e := range chunk {
			s.ack(e)
		}
		s.delivered(len(chunk))
		return true
	case notSent(err):
		for _, e := range chunk {
			s.progress(e).dialFail = true
		}
		s.release(chunk, err, time.Time{})
	case !retryable(err): // refused before processing (400, 413, 422)
		s.refused(chunk)
		s.release(chunk, err, time.Time{})
	default: // timeout, EOF, 5xx, a cancelled request: it may have landed
		for _, e := range chunk {
			s.progress(e).maybeSent = true
		}
		s.release(chunk, nil, s.d.now().Add(s.opt.RecheckDelay))
	}
	if ctx.Err() == nil {
		s.fail(err)
	}
	return false
}

// refused marks the traces of a refused multi-trace request to go alone
// next time, so that one the server cannot take delays only itself.
func (s *traceShipper) refused(chunk []spool.Entry) {
	if len(chunk) < 2 {
		return
	}
	for _, e := range chunk {
		s.progress(e).solo = true
	}
}

// postOTLP is POST /v1/traces with an ExportTraceServiceRequest. The
// answer is parsed defensively: real servers label a JSON body
// ({"partialSuccess": null}) as protobuf, and validation errors come in
// FastAPI's {"detail": …} shape.
func (c *client) postOTLP(ctx context.Context, expID string, body []byte, log *slog.Logger) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("mlflow: otlp: %w", err)
	}
	c.auth(req)
	req.Header.Set("User-Agent", "llm-connector")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("x-mlflow-experiment-id", expID)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("mlflow: otlp: %w", scrubURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("mlflow: otlp: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return apiError("otlp", resp.StatusCode, b)
	}
	if n, msg := rejectedSpans(b); n > 0 {
		log.Warn("mlflow: otlp: the server rejected spans", "rejected", n, "message", shorten(msg, 200))
	}
	return nil
}

// rejectedSpans reads partial_success from a protobuf or JSON answer;
// an answer that is neither counts as full success.
func rejectedSpans(b []byte) (int64, string) {
	if len(b) == 0 {
		return 0, ""
	}
	var pr collpb.ExportTraceServiceResponse
	if err := proto.Unmarshal(b, &pr); err == nil && !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		ps := pr.GetPartialSuccess()
		return ps.GetRejectedSpans(), ps.GetErrorMessage()
	}
	var jr struct {
		PartialSuccess *struct {
			RejectedSpans json.Number `json:"rejectedSpans"`
			ErrorMessage  string      `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	if json.Unmarshal(b, &jr) != nil || jr.PartialSuccess == nil {
		return 0, ""
	}
	n, _ := jr.PartialSuccess.RejectedSpans.Int64()
	return n, jr.PartialSuccess.ErrorMessage
}
