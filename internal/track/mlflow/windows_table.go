package mlflow

import (
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
	"github.com/llm-connector/llm-connector/internal/track"
)

// Step metrics: each interaction of a window becomes one step (its index
// in the window) of these metrics, timestamped with its start.
//
// What they cost (mlflow.md §6 and the calibrated fake: ~0.22 ms of server
// CPU per metric value, ~15 ms per log-batch call, ~30 ms per runs/create,
// ~25 ms per runs/update): per 1,000 interactions each step metric is
// 1,000 values = 220 ms plus one 15 ms call. Modelled from the calls the
// shipper makes (TestWindowServerCostModel), a window of 1,000 costs the
// server ~1.6 s with the full set (7 metrics: one server takes ~600
// interactions/s), ~0.84 s with the core set (3 metrics: 1,000/s fits,
// with ~16 % left for the table upload) and ~0.13 s with none (table and
// summary only, to catch up from far behind). So the shipper uses the
// full set while it keeps up, the core set when more than BehindWindows
// windows wait and none past FarBehind; the set used is the run's tag
// llm_connector.step_metrics, and the table always has every column.
var (
	FullStepMetrics = []string{"latency_ms", "ttft_ms", "input_tokens", "output_tokens", "thinking_tokens", "cost_usd", "success"}
	CoreStepMetrics = []string{"latency_ms", "total_tokens", "cost_usd"}
)

// Tags and names of a window run.
const (
	TagWindowID       = "llm_connector.window_id"
	TagWindowRoute    = "llm_connector.route"
	TagStepMetrics    = "llm_connector.step_metrics"
	TagLoggedArts     = "mlflow.loggedArtifacts"
	WindowTable       = "interactions.json"
	windowTableTag    = `[{"path":"interactions.json","type":"table"}]`
	truncatedMark     = "…[truncated]"
	defaultMaxCell    = 4 << 10
	maxMetricsPerCall = 1000
)

// stepValue returns interaction c's value of step metric key; ok is false
// when c has none (no TTFT for a non-streamed call, unknown cost).
func stepValue(c track.Call, key string) (float64, bool) {
	u := c.Usage
	switch key {
	case "latency_ms":
		return float64(c.Duration.Microseconds()) / 1000, true
	case "ttft_ms":
		return float64(c.TTFT.Microseconds()) / 1000, c.TTFT > 0
	case "input_tokens":
		return float64(u.InputTokens), true
	case "output_tokens":
		return float64(u.OutputTokens), true
	case "thinking_tokens":
		return float64(u.ThinkingTokens), true
	case "cached_input_tokens":
		return float64(u.CachedInputTokens), true
	case "total_tokens":
		return float64(u.Total()), true
	case "cost_usd":
		return c.CostUSD, c.CostKnown
	case "success":
		return b2f(c.Success), true
	case "retry_count":
		return float64(max(c.Attempts-1, 0)), true
	}
	return 0, false
}

// knownStepMetric reports whether stepValue knows key.
func knownStepMetric(key string) bool {
	switch key {
	case "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "thinking_tokens", "cached_input_tokens",
		"total_tokens", "cost_usd", "success", "retry_count":
		return true
	}
	return false
}

// stepMetrics is the step series of a window, in (key, step) order.
func stepMetrics(calls []track.Call, keys []string) []metric {
	out := make([]metric, 0, len(calls)*len(keys))
	for _, k := range keys {
		for i, c := range calls {
			v, ok := stepValue(c, k)
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			out = append(out, metric{Key: k, Value: v, Timestamp: c.Start.UnixMilli(), Step: int64(i)})
		}
	}
	return out
}

// windowSummary is the metrics logged when a window closes (step 0,
// timestamped with the window's end).
func windowSummary(calls []track.Call, endMS int64) []metric {
	var errs, in, out, total int
	var cost float64
	lat := make([]float64, 0, len(calls))
	for _, c := range calls {
		if !c.Success {
			errs++
		}
		in += c.Usage.InputTokens
		out += c.Usage.OutputTokens
		total += c.Usage.Total()
		if c.CostKnown {
			cost += c.CostUSD
		}
		lat = append(lat, float64(c.Duration.Microseconds())/1000)
	}
	sort.Float64s(lat)
	n := float64(len(calls))
	ms := []metric{
		{Key: "count", Value: n},
		{Key: "error_count", Value: float64(errs)},
		{Key: "error_rate", Value: float64(errs) / max(n, 1)},
		{Key: "latency_p50_ms", Value: quantile(lat, 0.50)},
		{Key: "latency_p95_ms", Value: quantile(lat, 0.95)},
		{Key: "input_tokens_sum", Value: float64(in)},
		{Key: "output_tokens_sum", Value: float64(out)},
		{Key: "total_tokens_sum", Value: float64(total)},
		{Key: "cost_usd_sum", Value: cost},
	}
	for i := range ms {
		ms[i].Timestamp = endMS
	}
	return ms
}

// quantile is the nearest-rank quantile of sorted values (0 if none).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// windowColumns are the table's columns, in order.
var windowColumns = []string{"request_id", "time", "user", "endpoint", "provider", "model", "temperature", "max_tokens",
	"prompt", "response", "input_tokens", "output_tokens", "thinking_tokens", "total_tokens", "cost_usd",
	"latency_ms", "ttft_ms", "success", "error"}

// windowTable renders the interactions in mlflow.log_table's format
// (pandas orient="split"): {"columns": [...], "data": [[...], ...]}.
// Prompt and response are cut to maxCell bytes each, with a marker. It is
// encoded by hand: encoding/json over [][]any cost 22 µs per row, most
// of the shipper's CPU (BenchmarkWindowEncode).
func windowTable(calls []track.Call, maxCell int, secrets []string) []byte {
	b := make([]byte, 0, len(calls)*(2*min(maxCell, 1024)+400)+256)
	b = append(b, `{"columns":[`...)
	for i, c := range windowColumns {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, c)
	}
	b = append(b, `],"data":[`...)
	for i, c := range calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTableRow(b, c, maxCell, secrets)
	}
	return append(b, "]}"...)
}

func appendTableRow(b []byte, c track.Call, maxCell int, secrets []string) []byte {
	str := func(s string) { b = jsonscan.AppendString(append(b, ','), s) }
	num := func(v float64, ok bool) {
		b = append(b, ',')
		if ok {
			b, ok = jsonscan.AppendFloat(b, v)
		}
		if !ok {
			b = append(b, "null"...)
		}
	}
	b = jsonscan.AppendString(append(b, '['), c.ID)
	str(c.Start.UTC().Format(time.RFC3339Nano))
	str(c.User)
	str(c.Endpoint)
	str(c.Provider)
	str(c.Model)
	if c.Temperature != nil {
		num(*c.Temperature, true)
	} else {
		num(0, false)
	}
	num(float64(c.MaxTokens), c.MaxTokens > 0)
	str(cutCell(promptText(c), maxCell))
	str(cutCell(c.Response, maxCell))
	u := c.Usage
	num(float64(u.InputTokens), true)
	num(float64(u.OutputTokens), true)
	num(float64(u.ThinkingTokens), true)
	num(float64(u.Total()), true)
	num(c.CostUSD, c.CostKnown)
	num(float64(c.Duration.Microseconds())/1000, true)
	num(float64(c.TTFT.Microseconds())/1000, c.TTFT > 0)
	b = strconv.AppendBool(append(b, ','), c.Success)
	if c.Success {
		b = append(b, ",null"...)
	} else {
		str(truncateRunes(firstNonEmpty(c.ErrorKind, "unknown")+": "+Redact(c.ErrorMessage, secrets...), maxErrorMsgLen))
	}
	return append(b, ']')
}

// cutCell cuts s to at most n bytes on a rune boundary, marking the cut.
func cutCell(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len(truncatedMark)-16, 0) // room for the marker and " <n> bytes"
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark + " " + strconv.Itoa(len(s)) + " bytes"
}
