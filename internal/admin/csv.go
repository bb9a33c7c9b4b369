package admin

import (
	"encoding/csv"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cost"
)

// wantsCSV reports whether the client asked for text/csv.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

func writeCSV(w http.ResponseWriter, records [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	encodeCSV(w, records)
}

func encodeCSV(w io.Writer, records [][]string) error {
	cw := csv.NewWriter(w)
	for _, rec := range records {
		for i, v := range rec {
			rec[i] = csvSafe(v)
		}
	}
	cw.WriteAll(records)
	return cw.Error()
}

// csvSafe defuses cells a spreadsheet would run as a formula: user names
// come from callers.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "'" + v
		}
	}
	return v
}

var usageHeader = []string{"day", "user", "key_id", "provider", "model", "requests", "errors", "input_tokens",
	"output_tokens", "thinking_tokens", "cached_input_tokens", "cost_usd", "cost_unknown",
	"cache_write_tokens", "cache_write_1h_tokens", "team"}

func usageCSV(rows []cost.UsageRow) [][]string {
	out := [][]string{append([]string(nil), usageHeader...)}
	for _, r := range rows {
		out = append(out, []string{r.Day, r.User, r.KeyID, r.Provider, r.Model, i64(r.Requests), i64(r.Errors),
			i64(r.InputTokens), i64(r.OutputTokens), i64(r.ThinkingTokens), i64(r.CachedInputTokens),
			strconv.FormatFloat(r.CostUSD, 'f', -1, 64), i64(r.CostUnknown),
			i64(r.CacheWriteTokens), i64(r.CacheWrite1hTokens), r.Team})
	}
	return out
}

func keysCSV(keys []auth.Key) [][]string {
	out := [][]string{{"id", "prefix", "user", "team", "name", "models", "rpm", "tpm", "daily_usd", "monthly_usd",
		"revoked", "created_at", "revoked_at"}}
	for _, k := range keys {
		revokedAt := ""
		if k.RevokedAt != nil {
			revokedAt = k.RevokedAt.Format(time.RFC3339)
		}
		out = append(out, []string{k.ID, k.Prefix, k.User, k.Team, k.Name, strings.Join(k.Models, ";"),
			strconv.Itoa(k.RPM), strconv.Itoa(k.TPM), strconv.FormatFloat(k.DailyUSD, 'f', -1, 64),
			strconv.FormatFloat(k.MonthlyUSD, 'f', -1, 64), strconv.FormatBool(k.Revoked),
			k.CreatedAt.Format(time.RFC3339), revokedAt})
	}
	return out
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }
