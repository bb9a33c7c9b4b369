package cost

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
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
	ID                string `json:"id"`
	Time              string `json:"time"` // start, RFC 3339 with milliseconds
	User              string `json:"user"`
	KeyID             string `json:"key_id"`
	Team              string `json:"team"`
	Endpoint          string `json:"endpoint"`
	Provider          string `json:"provider"`
	Model             string `json:"model"`
	Status            string `json:"status"`
	ErrorMessage      string `json:"error_message,omitempty"`
	InputTokens       int64  `json:"input_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	ThinkingTokens    int64  `json:"thinking_tokens"`
	CachedInputTokens int64  `json:"cached_input_tokens"`
	// CacheWriteTokens and CacheWrite1hTokens are prompt tokens written
	// to the provider's cache (5-minute and 1-hour entries).
	CacheWriteTokens   int64   `json:"cache_write_tokens,omitempty"`
	CacheWrite1hTokens int64   `json:"cache_write_1h_tokens,omitempty"`
	CostUSD            float64 `json:"cost_usd"`
	CostKnown          bool    `json:"cost_known"`
	PriceVersion       string  `json:"price_version"`
	LatencyMS          int64   `json:"latency_ms"`
	TTFTMS             int64   `json:"ttft_ms"`
	CacheHit           bool    `json:"cache_hit"`
	Fallback           bool    `json:"fallback"`
	Attempts           int64   `json:"attempts"`

	ts int64 // start, unix milliseconds: the listing's order
}

// RequestPage is one page of the listing; Next is "" on the last page.
type RequestPage struct {
	Rows []RequestRow `json:"rows"`
	Next string       `json:"next,omitempty"`
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

// segmentsPerQuery is how many segments one query of the listing reads:
// at most 8 × 64 rows of bounded fields held at once (MaxField).
const segmentsPerQuery = 8

// listing is a RequestQuery made ready: the row filter and the segment
// walk's SQL.
type listing struct {
	q        RequestQuery
	limit    int
	lo, hi   int64 // the start window, both included
	cursor   bool
	cts      int64
	cid      string
	keys     []segmentKey // the segments must hold all of these
	walk     string       // the segment query; its last arguments are the position
	walkArgs []any
}

// newListing checks q and builds its walk.
func newListing(q RequestQuery) (*listing, error) {
	ls := &listing{q: q, limit: min(cmp.Or(max(q.Limit, 0), 50), MaxPage), lo: math.MinInt64, hi: math.MaxInt64}
	if !q.From.IsZero() {
		ls.lo = q.From.UnixMilli()
	}
	if !q.To.IsZero() {
		ls.hi = q.To.UnixMilli()
	}
	if q.Cursor != "" {
		ts, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		ls.cursor, ls.cts, ls.cid, ls.hi = true, ts, id, min(ls.hi, ts)
	}
	ls.keys = listingKeys(q)
	ls.build()
	return ls, nil
}

// listingKeys are the segment keys q's rows are under, the walk's first:
// for errors of a user, key or model, the key that names both.
func listingKeys(q RequestQuery) []segmentKey {
	var keys []segmentKey
	errors := q.Status != "" && q.Status != "ok"
	for _, d := range []struct{ plain, err, value string }{{keyUser, keyErrUser, q.User},
		{keyKey, keyErrKey, q.KeyID}, {keyModel, keyErrModel, q.Model}} {
		switch {
		case d.value == "":
		case errors && len(keys) == 0:
			keys = append(keys, segmentKey{d.err, d.value})
		default:
			keys = append(keys, segmentKey{d.plain, d.value})
		}
	}
	switch {
	case q.Status == "error" && len(keys) == 0:
		keys = append(keys, segmentKey{keyErr, "1"})
	case q.Status != "" && q.Status != "error":
		keys = append(keys, segmentKey{keyStatus, q.Status})
	}
	return keys
}

// top is where the walk starts: a segment's rows are within one span
// (segmentSpanMS), so one whose last start is over a span above the
// window holds none of it.
func (ls *listing) top() int64 {
	if ls.hi > math.MaxInt64-segmentSpanMS {
		return math.MaxInt64
	}
	return ls.hi + segmentSpanMS
}

// build writes the walk: segments newest first by (ts_max, id) that may
// hold a row of the window, read through usage_segment_keys when a
// filter names a value (only the segments holding it), else through
// usage_segments_ts_max. As in the listing, "ts_max <= ?" gives the
// index its range and the OR breaks ties by id.
func (ls *listing) build() {
	tsMax, id := "s.ts_max", "s.id"
	from, where := "usage_segments s", []string{}
	if len(ls.keys) > 0 {
		tsMax, id = "k.ts_max", "k.segment"
		from = "usage_segment_keys k JOIN usage_segments s ON s.id = k.segment"
		where = append(where, "k.dim = ? AND k.value = ?")
		ls.walkArgs = append(ls.walkArgs, ls.keys[0].dim, ls.keys[0].value)
		for _, k := range ls.keys[1:] {
			where = append(where, "EXISTS (SELECT 1 FROM usage_segment_keys k2 WHERE k2.dim = ? AND k2.value = ?"+
				" AND k2.ts_max = k.ts_max AND k2.segment = k.segment)")
			ls.walkArgs = append(ls.walkArgs, k.dim, k.value)
		}
	}
	where = append(where, tsMax+" >= ?", "s.ts_min <= ?")
	ls.walkArgs = append(ls.walkArgs, ls.lo, ls.hi)
	ls.walk = "SELECT s.id, s.ts_max, s.data FROM " + from + " WHERE " + strings.Join(where, " AND ") +
		" AND " + tsMax + " <= ? AND (" + tsMax + " < ? OR " + id + " < ?)" +
		" ORDER BY " + tsMax + " DESC, " + id + " DESC LIMIT " + strconv.Itoa(segmentsPerQuery)
}

// match says whether a segment's row belongs on the page.
func (ls *listing) match(r *RequestRow) bool {
	q := ls.q
	switch {
	case r.ts < ls.lo || r.ts > ls.hi,
		ls.cursor && r.ts == ls.cts && r.ID >= ls.cid,
		q.User != "" && r.User != q.User, q.KeyID != "" && r.KeyID != q.KeyID, q.Model != "" && r.Model != q.Model,
		q.Status == "error" && r.Status == "ok", q.Status != "" && q.Status != "error" && r.Status != q.Status:
		return false
	}
	return true
}

// newer orders the listing: newest start first, then request id
// descending.
func newer(a, b RequestRow) int {
	if c := cmp.Compare(b.ts, a.ts); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// Requests lists ledger rows newest first, by keyset pagination on
// (start time, request id): the walk reads segments by their last start,
// newest first, keeps the best limit+1 rows and stops at the first
// segment that cannot hold a better one. A page reads the segments of
// its window, however deep it is.
func (l *Ledger) Requests(ctx context.Context, q RequestQuery) (RequestPage, error) {
	ls, err := newListing(q)
	if err != nil {
		return RequestPage{}, err
	}
	kept := []RequestRow{}
	posTS, posID := ls.top(), int64(math.MaxInt64)
	for more := true; more; {
		segs, err := l.segmentWalk(ctx, ls, posTS, posID)
		if err != nil {
			return RequestPage{}, err
		}
		more = len(segs) == segmentsPerQuery
		for _, s := range segs {
			if len(kept) > ls.limit && s.tsMax < kept[ls.limit].ts {
				more = false
				break
			}
			rows, err := decodeSegment(s.data)
			if err != nil {
				return RequestPage{}, err
			}
			for _, r := range rows {
				if ls.match(&r) {
					kept = append(kept, r)
				}
			}
			slices.SortFunc(kept, newer)
			kept = kept[:min(len(kept), ls.limit+1)]
			posTS, posID = s.tsMax, s.id
		}
	}
	page := RequestPage{Rows: kept}
	if len(kept) > ls.limit {
		page.Rows = kept[:ls.limit]
		last := page.Rows[ls.limit-1]
		page.Next = encodeCursor(last.ts, last.ID)
	}
	return page, nil
}

// walkedSegment is one segment the walk read, decoded only if the page
// needs it.
type walkedSegment struct {
	id, tsMax int64
	data      []byte
}

// segmentWalk reads the next segments of the walk after position (ts_max,
// id).
func (l *Ledger) segmentWalk(ctx context.Context, ls *listing, posTS, posID int64) ([]walkedSegment, error) {
	rows, err := l.db.QueryContext(ctx, l.db.Rebind(ls.walk), append(ls.walkArgs, posTS, posTS, posID)...)
	if err != nil {
		return nil, fmt.Errorf("cost: requests: %w", err)
	}
	defer rows.Close()
	var out []walkedSegment
	for rows.Next() {
		var s walkedSegment
		if err := rows.Scan(&s.id, &s.tsMax, &s.data); err != nil {
			return nil, fmt.Errorf("cost: requests: scan: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cost: requests: %w", err)
	}
	return out, nil
}

// requestByID reads the segment holding a request id.
const requestByID = `SELECT s.data FROM usage_request_ids i JOIN usage_segments s ON s.id = i.segment
	WHERE i.request_id = ?`

// Request returns one ledger row; user, when set, must own it.
func (l *Ledger) Request(ctx context.Context, id, user string) (RequestRow, error) {
	var data []byte
	err := l.db.QueryRowContext(ctx, l.db.Rebind(requestByID), id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return RequestRow{}, ErrNoRequest
	}
	if err != nil {
		return RequestRow{}, fmt.Errorf("cost: request: %w", err)
	}
	rows, err := decodeSegment(data)
	if err != nil {
		return RequestRow{}, fmt.Errorf("cost: request: %w", err)
	}
	for _, r := range rows {
		if r.ID == id && (user == "" || r.User == user) {
			return r, nil
		}
	}
	return RequestRow{}, ErrNoRequest
}
