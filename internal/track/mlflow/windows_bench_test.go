package mlflow

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/track"
)

// BenchmarkWindowEncode is the shipper's own CPU per interaction: the
// step metrics and table of a full window of 1,000, encoded as sent.
func BenchmarkWindowEncode(b *testing.B) {
	calls := make([]track.Call, 1000)
	for i := range calls {
		calls[i] = windowCall(i)
		calls[i].Prompt, calls[i].Response = strings.Repeat("p", 200), strings.Repeat("r", 400)
	}
	b.ReportAllocs()
	for b.Loop() {
		ms := stepMetrics(calls, FullStepMetrics)
		for lo := 0; lo < len(ms); lo += maxMetricsPerCall {
			if _, err := json.Marshal(logBatchReq{RunID: "r", Metrics: ms[lo:min(lo+maxMetricsPerCall, len(ms))]}); err != nil {
				b.Fatal(err)
			}
		}
		windowTable(calls, defaultMaxCell, nil)
		windowSummary(calls, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/interaction")
}
