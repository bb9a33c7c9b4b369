package spool

import (
	"strconv"
	"time"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
)

// appendCall appends c as JSON without reflection: byte for byte what
// json.Marshal(c) writes (same field order, omitempty, HTML-safe string
// escaping, ES6 float format, RFC 3339 times), which the tests check over
// a table and a fuzz target. It reports false for what json.Marshal
// refuses (NaN or infinite floats, years outside [0,9999], zone offsets
// of 24 hours or more); the caller then uses json.Marshal for its error.
// A field added to track.Call, track.Attempt or llm.Usage must be added
// here too (TestAppendCallKnowsEveryField fails until it is).
func appendCall(b []byte, c *track.Call) ([]byte, bool) {
	ok := true
	b = append(b, `{"id":`...)
	b = jsonscan.AppendString(b, c.ID)
	b = optString(b, `,"user":`, c.User)
	b = optString(b, `,"key_id":`, c.KeyID)
	b = optString(b, `,"team":`, c.Team)
	b = append(b, `,"endpoint":`...)
	b = jsonscan.AppendString(b, c.Endpoint)
	b = optString(b, `,"requested_model":`, c.RequestedModel)
	b = optString(b, `,"provider":`, c.Provider)
	b = optString(b, `,"model":`, c.Model)
	if c.Temperature != nil {
		b = append(b, `,"temperature":`...)
		b, ok = jsonscan.AppendFloat(b, *c.Temperature)
	}
	b = optInt(b, `,"max_tokens":`, int64(c.MaxTokens))
	b = optString(b, `,"system":`, c.System)
	b = append(b, `,"prompt":`...)
	b = jsonscan.AppendString(b, c.Prompt)
	b = append(b, `,"response":`...)
	b = jsonscan.AppendString(b, c.Response)
	b = appendUsage(append(b, `,"usage":`...), &c.Usage)
	b = append(b, `,"cost_usd":`...)
	b, okCost := jsonscan.AppendFloat(b, c.CostUSD)
	b = append(b, `,"cost_known":`...)
	b = strconv.AppendBool(b, c.CostKnown)
	b = optString(b, `,"price_version":`, c.PriceVersion)
	b = append(b, `,"start":`...)
	b, okStart := appendTime(b, c.Start)
	b = append(b, `,"duration_ns":`...)
	b = strconv.AppendInt(b, int64(c.Duration), 10)
	b = optInt(b, `,"ttft_ns":`, int64(c.TTFT))
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(c.Attempts), 10)
	b = optBool(b, `,"fallback":true`, c.Fallback)
	b = optBool(b, `,"cached":true`, c.Cached)
	b = optBool(b, `,"streamed":true`, c.Streamed)
	b = append(b, `,"success":`...)
	b = strconv.AppendBool(b, c.Success)
	b = optString(b, `,"error_kind":`, c.ErrorKind)
	b = optString(b, `,"error_message":`, c.ErrorMessage)
	b = optString(b, `,"content":`, c.Content)
	okTries := true
	if len(c.Tries) > 0 {
		b = append(b, `,"tries":[`...)
		for i := range c.Tries {
			if i > 0 {
				b = append(b, ',')
			}
			var okTry bool
			b, okTry = appendAttempt(b, &c.Tries[i])
			okTries = okTries && okTry
		}
		b = append(b, ']')
	}
	return append(b, '}'), ok && okCost && okStart && okTries
}

func appendUsage(b []byte, u *llm.Usage) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.InputTokens), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
	b = optInt(b, `,"thinking_tokens":`, int64(u.ThinkingTokens))
	b = optInt(b, `,"cached_input_tokens":`, int64(u.CachedInputTokens))
	b = optInt(b, `,"tool_use_input_tokens":`, int64(u.ToolUseInputTokens))
	b = optInt(b, `,"cache_write_tokens":`, int64(u.CacheWriteTokens))
	b = optInt(b, `,"cache_write_1h_tokens":`, int64(u.CacheWrite1hTokens))
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	return append(b, '}')
}

func appendAttempt(b []byte, a *track.Attempt) ([]byte, bool) {
	b = append(b, '{')
	b = optString(b, `"provider":`, a.Provider)
	if a.Model != "" {
		if a.Provider != "" {
			b = append(b, ',')
		}
		b = append(b, `"model":`...)
		b = jsonscan.AppendString(b, a.Model)
	}
	if a.Provider != "" || a.Model != "" {
		b = append(b, ',')
	}
	b = append(b, `"start":`...)
	b, ok := appendTime(b, a.Start)
	b = append(b, `,"duration_ns":`...)
	b = strconv.AppendInt(b, int64(a.Duration), 10)
	b = optString(b, `,"error_kind":`, a.ErrorKind)
	b = optString(b, `,"error_message":`, a.ErrorMessage)
	return append(b, '}'), ok
}

func optString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return jsonscan.AppendString(append(b, key...), v)
}

func optInt(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), v, 10)
}

func optBool(b []byte, keyTrue string, v bool) []byte {
	if !v {
		return b
	}
	return append(b, keyTrue...)
}

// appendTime appends t as time.Time.MarshalJSON does, and reports false
// where MarshalJSON fails.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	ok := b[n0+len("9999")] == '-' // the year is exactly 4 digits wide
	if ok && b[len(b)-1] != 'Z' {
		c := b[len(b)-len("Z07:00")]
		hh := 10*int(b[len(b)-len("07:00")]-'0') + int(b[len(b)-len("7:00")]-'0')
		ok = (c < '0' || c > '9') && hh < 24
	}
	return append(b, '"'), ok
}
