package mlflow

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/llm-connector/llm-connector/internal/redact"
	"github.com/llm-connector/llm-connector/internal/track"
)

// Tag keys the tracker sets. TagInteractionID carries the request ID and
// makes replays idempotent: the shipper looks a run up by it before
// creating one.
const (
	TagInteractionID = "llm_connector.interaction_id"
	TagSourceName    = "mlflow.source.name"
	TagRunName       = "mlflow.runName"
	TagUser          = "mlflow.user"
	TagErrorKind     = "error_kind"
	TagErrorMessage  = "error_message"
)

// Artifact file names.
const (
	PromptArtifact   = "prompt.txt"
	ResponseArtifact = "response.txt"
)

// MLflow limits (shared/reference/mlflow.md §1). Tag values are cut at the
// older servers' 5000 so no server truncates silently.
const (
	maxKeyLen      = 250
	maxParamValue  = 6000
	maxTagValue    = 5000
	maxErrorMsgLen = 1000
	maxRunName     = 250
)

// keyChars reports whether k has only the characters the server allows
// in keys: `^[/\p{L}\p{N}_.\- ]*$` (Python's Unicode \w and "/.- "),
// checked without a regexp (it was 3 % of the process's CPU while
// shipping 1000 records/s).
func keyChars(k string) bool {
	for _, r := range k {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_.- ", r)):
		case r >= utf8.RuneSelf && r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsNumber(r)):
		default:
			return false
		}
	}
	return true
}

// validKey applies the server's rules for metric, param and tag keys.
func validKey(k string) bool {
	if k == "" || len(k) > maxKeyLen || !keyChars(k) || strings.HasPrefix(k, "/") {
		return false
	}
	for _, p := range strings.Split(k, "/") {
		if p == ".." || p == "." {
			return false
		}
	}
	return true
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// runData is what one record becomes: params, metrics and tags, all
// validated, plus the run's identity fields.
type runData struct {
	name    string
	user    string
	startMS int64
	endMS   int64
	status  string
	params  []kv
	metrics []metric
	tags    []kv // logged with log-batch
	create  []kv // set at runs/create
}

func buildRun(c track.Call, source string, secrets []string) runData {
	d := runData{
		startMS: c.Start.UnixMilli(),
		endMS:   c.Start.Add(c.Duration).UnixMilli(),
		status:  "FINISHED",
		user:    c.User,
	}
	if !c.Success {
		d.status = "FAILED"
	}
	d.name = truncateRunes("chat-"+firstNonEmpty(c.Model, c.RequestedModel, "unknown")+"-"+c.ID, maxRunName)
	d.create = []kv{{TagInteractionID, c.ID}, {TagSourceName, source}, {TagRunName, d.name}}
	if c.User != "" {
		d.create = append(d.create, kv{TagUser, c.User})
	}

	add := func(dst *[]kv, k, v string, limit int) {
		if v != "" && validKey(k) {
			*dst = append(*dst, kv{k, truncateRunes(v, limit)})
		}
	}
	add(&d.params, "provider", c.Provider, maxParamValue)
	add(&d.params, "model", c.Model, maxParamValue)
	if c.Temperature != nil {
		add(&d.params, "temperature", strconv.FormatFloat(*c.Temperature, 'g', -1, 64), maxParamValue)
	}
	if c.MaxTokens > 0 {
		add(&d.params, "max_tokens", strconv.Itoa(c.MaxTokens), maxParamValue)
	}
	if c.RequestedModel != "" && c.RequestedModel != c.Model {
		add(&d.params, "requested_model", c.RequestedModel, maxParamValue)
	}
	if c.Fallback {
		add(&d.params, "fallback", "true", maxParamValue)
	}

	add(&d.tags, "endpoint", c.Endpoint, maxTagValue)
	add(&d.tags, "team", c.Team, maxTagValue)
	add(&d.tags, "streamed", strconv.FormatBool(c.Streamed), maxTagValue)
	add(&d.tags, "cached", strconv.FormatBool(c.Cached), maxTagValue)
	add(&d.tags, "price_version", c.PriceVersion, maxTagValue)
	if !c.Success {
		add(&d.tags, TagErrorKind, firstNonEmpty(c.ErrorKind, "unknown"), maxTagValue)
		add(&d.tags, TagErrorMessage, truncateRunes(Redact(c.ErrorMessage, secrets...), maxErrorMsgLen), maxTagValue)
	}

	m := func(k string, v float64) {
		if validKey(k) && !math.IsNaN(v) && !math.IsInf(v, 0) {
			d.metrics = append(d.metrics, metric{Key: k, Value: v, Timestamp: d.endMS})
		}
	}
	u := c.Usage
	m("tokens_used", float64(u.Total()))
	m("prompt_tokens", float64(u.InputTokens))
	m("completion_tokens", float64(u.OutputTokens))
	m("thinking_tokens", float64(u.ThinkingTokens))
	m("cached_input_tokens", float64(u.CachedInputTokens))
	m("latency_ms", float64(c.Duration.Microseconds())/1000)
	m("success", b2f(c.Success))
	m("retry_count", float64(max(c.Attempts-1, 0)))
	if c.TTFT > 0 {
		m("ttft_ms", float64(c.TTFT.Microseconds())/1000)
	}
	if c.CostKnown {
		m("cost_usd", c.CostUSD)
	}
	return d
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// promptText is the prompt artifact: the system context, then the prompt.
func promptText(c track.Call) string {
	if c.System == "" {
		return c.Prompt
	}
	return "[system]\n" + c.System + "\n\n[user]\n" + c.Prompt
}

// Redact removes known secrets (and any piece of one of 8 bytes or more)
// and anything shaped like an API key or credential from s: Authorization
// values, Basic and Bearer credentials, URL passwords, key=value secrets.
// It runs over every error message before it is logged to MLflow or
// shown in Stats. The rules live in internal/redact.
func Redact(s string, secrets ...string) string {
	return redact.String(s, secrets...)
}
