package fakemlflow

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkCalibrated measures what the calibrated fake accepts, at a tenth
// of the real cost (figures scaled back): interactions/s at concurrency 4
// and the core time per interaction.
func BenchmarkCalibrated(b *testing.B) {
	const scale = 0.1
	for _, c := range []struct {
		name string
		per  int // interactions per sequence
		seq  func(b *testing.B, s *Server, exp string) []call
	}{
		{"run-per-interaction", 1, func(b *testing.B, s *Server, exp string) []call {
			return runPerInteraction(exp, createRun(b, s, exp), true)[1:]
		}},
		{"otlp-1-span", 1, func(b *testing.B, s *Server, exp string) []call {
			return []call{{"POST", otlpPath, string(otlpTraces(b, 1))}}
		}},
		{"window-1000", 1000, func(b *testing.B, s *Server, exp string) []call {
			return window(exp, createRun(b, s, exp))[1:]
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := Start(Options{Cost: Calibrated().Scale(scale)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			exp := s.CreateExperiment("llm-connector", "")
			start, busy0 := time.Now(), s.Busy()
			var wg sync.WaitGroup
			work := make(chan struct{})
			for range 4 {
				wg.Go(func() {
					for range work {
						for _, k := range c.seq(b, s, exp) {
							if err := send(s, exp, k); err != nil {
								b.Error(err)
							}
						}
					}
				})
			}
			for b.Loop() {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			n := float64(b.N * c.per)
			b.ReportMetric(n/time.Since(start).Seconds()*scale, "interactions/s")
			b.ReportMetric(float64(s.Busy()-busy0)/scale/1e6/n, "core-ms/interaction")
		})
	}
}

// send makes one call from any goroutine; OTLP bodies get their headers.
func send(s *Server, exp string, k call) error {
	req, err := http.NewRequest(k.method, s.URL()+k.path, strings.NewReader(k.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if k.path == otlpPath {
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("x-mlflow-experiment-id", exp)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", k.method, k.path, resp.StatusCode, b)
	}
	return nil
}
