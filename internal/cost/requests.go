package cost

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadCursor is a request-listing cursor this ledger did not hand out.
var ErrBadCursor = errors.New("cost: bad cursor")

// ErrNoRequest is a request id the ledger does not hold.
var ErrNoRequest = errors.New("cost: no such request")

// MaxPage is the most rows one page of the request listing holds.
const MaxPage = 200

// RequestQuery selects ledger rows, newest first.
type RequestQuery struct {
	User, KeyID, Model string
	// Status is "ok", "error" (anything but ok) or one error kind.
	Status string
	// From and To bound the start time (both included; zero: open).
	From, To time.Time
	// Cursor is the previous page's Next; "" starts at the newest.
	Cursor string
	Limit  int // default 50, at most MaxPage
}

// RequestRow is one interaction as the ledger keeps it: no prompt, no
// answer (the ledger never stores content).
type RequestRow struct {
	ID                string  `json:"id"`
	Time              string  `json:"time"` // start, RFC 3339 with milliseconds
	User              string  `json:"user"`
	KeyID             string  `json:"key_id"`
	Team              string  `json:"team"`
	Endpoint          string  `json:"endpoint"`
	Provider          string  `json:"provider"`
	Model             string  `json:"model"`
	Status            string  `json:"status"`
	ErrorMessage      string  `json:"error_message,omitempty"`
	InputTokens       int64   `json:"input_tokens"`
	OutputTokens      int64   `json:"output_tokens"`
	ThinkingTokens    int64   `json:"thinking_tokens"`
	CachedInputTokens int64   `json:"cached_input_tokens"`
	CostUSD           float64 `json:"cost_usd"`
	CostKnown         bool    `json:"cost_known"`
	PriceVersion      string  `json:"price_version"`
	LatencyMS         int64   `json:"latency_ms"`
	TTFTMS            int64   `json:"ttft_ms"`
	CacheHit          bool    `json:"cache_hit"`
	Fallback          bool    `json:"fallback"`
	Attempts          int64   `json:"attempts"`
}

// RequestPage is one page of the listing; Next is "" on the last page.
type RequestPage struct {
	Rows []RequestRow `json:"rows"`
	Next string       `json:"next,omitempty"`
}

const requestColumns = `request_id, ts, user_id, key_id, team, endpoint, provider, model, status, error_message,
	input_tokens, output_tokens, thinking_tokens, cached_input_tokens, cost_usd, cost_known, price_version,
	latency_ms, ttft_ms, cache_hit, fallback, attempts`

func scanRequest(sc interface{ Scan(...any) error }) (RequestRow, error) {
	var r RequestRow
	var ts, known, hit, fb int64
	err := sc.Scan(&r.ID, &ts, &r.User, &r.KeyID, &r.Team, &r.Endpoint, &r.Provider, &r.Model, &r.Status,
		&r.ErrorMessage, &r.InputTokens, &r.OutputTokens, &r.ThinkingTokens, &r.CachedInputTokens, &r.CostUSD,
		&known, &r.PriceVersion, &r.LatencyMS, &r.TTFTMS, &hit, &fb, &r.Attempts)
	r.Time = time.UnixMilli(ts).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	r.CostKnown, r.CacheHit, r.Fallback = known != 0, hit != 0, fb != 0
	return r, err
}

// encodeCursor and decodeCursor carry the last row's (ts, id): the
// keyset of the listing's order.
func encodeCursor(ts int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(ts, 10) + "." + id))
}

func decodeCursor(c string) (int64, string, error) {
	if len(c) > 2*MaxField {
		return 0, "", ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	tsText, id, ok := strings.Cut(string(b), ".")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if !ok || err != nil {
		return 0, "", ErrBadCursor
	}
	return ts, id, nil
}

// Requests lists ledger rows newest first, by keyset pagination on
// (start time, request id): a page costs the same however deep it is.
// Every filter has an index that ends in (ts, request_id).
func (l *Ledger) Requests(ctx context.Context, q RequestQuery) (RequestPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxPage)
	query, args, err := requestsQuery(q)
	if err != nil {
		return RequestPage{}, err
	}
	rows, err := l.db.QueryContext(ctx, l.db.Rebind(query), append(args, limit+1)...)
	if err != nil {
		return RequestPage{}, fmt.Errorf("cost: requests: %w", err)
	}
	defer rows.Close()
	page := RequestPage{Rows: []RequestRow{}}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return RequestPage{}, fmt.Errorf("cost: requests: scan: %w", err)
		}
		page.Rows = append(page.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return RequestPage{}, fmt.Errorf("cost: requests: %w", err)
	}
	if len(page.Rows) > limit {
		page.Rows = page.Rows[:limit]
		last := page.Rows[limit-1]
		t, _ := time.Parse(time.RFC3339, last.Time)
		page.Next = encodeCursor(t.UnixMilli(), last.ID)
	}
	return page, nil
}

// requestsQuery is the listing's SELECT for q; its last placeholder is
// the limit, which args leave out.
func requestsQuery(q RequestQuery) (string, []any, error) {
	where, args := []string{"1=1"}, []any{}
	for _, f := range []struct{ col, v string }{{"user_id", q.User}, {"key_id", q.KeyID}, {"model", q.Model}} {
		if f.v != "" {
			where, args = append(where, f.col+" = ?"), append(args, f.v)
		}
	}
	switch q.Status {
	case "":
	case "error":
		where = append(where, "(status < 'ok' OR status > 'ok')")
	default:
		where, args = append(where, "status = ?"), append(args, q.Status)
	}
	if !q.From.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		where, args = append(where, "ts <= ?"), append(args, q.To.UnixMilli())
	}
	if q.Cursor != "" {
		ts, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return "", nil, err
		}
		// ts <= gives the index its range; the OR breaks ties by id.
		where, args = append(where, "ts <= ? AND (ts < ? OR request_id < ?)"), append(args, ts, ts, id)
	}
	return "SELECT " + requestColumns + " FROM usage_events WHERE " + strings.Join(where, " AND ") +
		" ORDER BY ts DESC, request_id DESC LIMIT ?", args, nil
}

// Request returns one ledger row; user, when set, must own it.
func (l *Ledger) Request(ctx context.Context, id, user string) (RequestRow, error) {
	r, err := scanRequest(l.db.QueryRowContext(ctx, l.db.Rebind("SELECT "+requestColumns+
		" FROM usage_events WHERE request_id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && user != "" && r.User != user) {
		return RequestRow{}, ErrNoRequest
	}
	if err != nil {
		return RequestRow{}, fmt.Errorf("cost: request: %w", err)
	}
	return r, nil
}
