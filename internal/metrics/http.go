package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpKey labels one HTTP series. code 0 is the overflow series.
type httpKey struct {
	route string
	code  int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func (m *Metrics) newHTTPSeries(k httpKey) *httpSeries {
	code := Other
	if k.code > 0 {
		code = strconv.Itoa(k.code)
	}
	return &httpSeries{
		requests: m.httpReqs.WithLabelValues(k.route, code),
		duration: m.httpDur.WithLabelValues(k.route),
	}
}

// ObserveHTTP records one HTTP request. route is the ServeMux pattern
// that matched ("POST /chat"), "" when none did; never the raw path.
func (m *Metrics) ObserveHTTP(route string, code int, d time.Duration) {
	if code < 100 || code > 599 {
		code = 0
	}
	s := m.http.get(httpKey{m.routes.get(route), code})
	s.requests.Inc()
	s.duration.Observe(d.Seconds())
}

// Middleware records requests served by next, which must be (or end in)
// an http.ServeMux: the route label is the request's Pattern, set by the
// mux during routing. Requests that no pattern matched count as
// "unmatched".
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			m.ObserveHTTP(r.Pattern, sw.code, time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status code; Flush and Unwrap keep SSE and
// http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote && code >= 200 { // 1xx are interim answers
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	s.wrote = true
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
