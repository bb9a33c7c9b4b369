package cost

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// check writes an outbox row for every threshold the subject's spend has
// reached; the primary key keeps each one to a single row per period.
func (a *Alerts) check(c alertCheck) {
	b := a.budgets.Load()
	if b == nil || c.limit <= 0 {
		return
	}
	ctx, cancel := a.ctx()
	defer cancel()
	spentN, _, err := b.counters.read(ctx, c.subject, c.period)
	if err != nil {
		a.cfg.Logger.Warn("budget alert check failed", "subject", c.subject, "err", err)
		return
	}
	spent := fromNano(spentN)
	now := a.cfg.Now().UTC()
	for _, t := range a.cfg.Thresholds {
		if spent < c.limit*t/100 {
			break // thresholds are sorted
		}
		id := alertID(c, t)
		if a.fired[id] {
			continue
		}
		al := Alert{ID: id, Type: "budget.threshold", Subject: c.kind, SubjectID: c.id, Period: c.periodKind,
			PeriodStart: c.periodFrom.Format(time.DateOnly), ThresholdPercent: t, LimitUSD: c.limit, SpentUSD: spent,
			ResetsAt: c.resetsAt, CreatedAt: now.Truncate(time.Millisecond)}
		body, _ := json.Marshal(al)
		res, err := a.db.ExecContext(ctx, a.db.Rebind(`INSERT INTO budget_alerts (subject, period, threshold, payload,
			created_at, attempts, next_at, sent_at, last_error) VALUES (?, ?, ?, ?, ?, 0, ?, 0, '')
			ON CONFLICT (subject, period, threshold) DO NOTHING`),
			c.subject, c.period, t, string(body), now.UnixMilli(), now.UnixMilli())
		if err != nil {
			a.cfg.Logger.Warn("budget alert not queued", "subject", c.subject, "err", err)
			return
		}
		if len(a.fired) >= maxFired {
			clear(a.fired)
		}
		a.fired[id] = true
		if n, _ := res.RowsAffected(); n == 1 {
			a.cfg.Logger.Warn("budget alert", "subject", string(c.kind), "id", c.id, "period", string(c.periodKind),
				"period_start", al.PeriodStart, "threshold_percent", t, "spent_usd", usd(spent), "limit_usd", usd(c.limit))
		}
	}
}

func alertID(c alertCheck, t float64) string {
	return "budget:" + c.subject + ":" + c.period + ":" + strconv.FormatFloat(t, 'f', -1, 64)
}

type pendingAlert struct {
	subject, period string
	threshold       float64
	payload         string
	attempts        int
	nextAt          int64
}

// deliverBatch is the most alerts one pass sends.
const deliverBatch = 50

// deliver sends the due alerts. Each is claimed first (its next_at moved
// past the POST's timeout), so two instances never send the same one at
// once.
func (a *Alerts) deliver() {
	ctx, cancel := a.ctx()
	now := a.cfg.Now().UnixMilli()
	rows, err := a.db.QueryContext(ctx, a.db.Rebind(`SELECT subject, period, threshold, payload, attempts, next_at
		FROM budget_alerts WHERE sent_at = 0 AND next_at <= ? ORDER BY next_at LIMIT ?`), now, deliverBatch)
	if err != nil {
		cancel()
		a.cfg.Logger.Warn("budget alerts: read outbox", "err", err)
		return
	}
	var due []pendingAlert
	for rows.Next() {
		var p pendingAlert
		if err := rows.Scan(&p.subject, &p.period, &p.threshold, &p.payload, &p.attempts, &p.nextAt); err == nil {
			due = append(due, p)
		}
	}
	rows.Close()
	cancel()
	for _, p := range due {
		select {
		case <-a.stop:
			return
		default:
		}
		a.deliverOne(p)
	}
}

func (a *Alerts) deliverOne(p pendingAlert) {
	ctx, cancel := a.ctx()
	defer cancel()
	key := []any{p.subject, p.period, p.threshold}
	lease := a.cfg.Now().Add(a.cfg.Timeout + 5*time.Second).UnixMilli()
	res, err := a.db.ExecContext(ctx, a.db.Rebind(`UPDATE budget_alerts SET next_at = ?
		WHERE subject = ? AND period = ? AND threshold = ? AND sent_at = 0 AND next_at = ?`),
		append([]any{lease}, append(key, p.nextAt)...)...)
	if n, _ := rowsAffected(res, err); n != 1 {
		return // another instance has it, or the database failed: next pass
	}
	postErr := a.post(ctx, []byte(p.payload))
	now := a.cfg.Now()
	if postErr == nil {
		a.Delivered.Add(1)
		_, err = a.db.ExecContext(ctx, a.db.Rebind(`UPDATE budget_alerts SET sent_at = ?, attempts = attempts + 1, last_error = ''
			WHERE subject = ? AND period = ? AND threshold = ?`), append([]any{now.UnixMilli()}, key...)...)
		if err != nil {
			a.cfg.Logger.Warn("budget alert sent but not marked", "err", err)
		}
		return
	}
	a.Failures.Add(1)
	attempts := p.attempts + 1
	sentAt := int64(0)
	if attempts >= a.cfg.MaxAttempts {
		sentAt = -1 // given up
		a.cfg.Logger.Error("budget alert given up", "subject", p.subject, "period", p.period, "threshold", p.threshold,
			"attempts", attempts, "err", postErr)
	}
	next := now.Add(a.backoff(attempts)).UnixMilli()
	_, err = a.db.ExecContext(ctx, a.db.Rebind(`UPDATE budget_alerts SET attempts = ?, next_at = ?, sent_at = ?, last_error = ?
		WHERE subject = ? AND period = ? AND threshold = ?`), append([]any{attempts, next, sentAt, bound(postErr.Error())}, key...)...)
	if err != nil {
		a.cfg.Logger.Warn("budget alert retry not recorded", "err", err)
	}
}

func rowsAffected(res interface{ RowsAffected() (int64, error) }, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// backoff is RetryDelay doubled per failed attempt, capped.
func (a *Alerts) backoff(attempts int) time.Duration {
	d := a.cfg.RetryDelay
	for i := 1; i < attempts && d < a.cfg.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, a.cfg.MaxRetryDelay)
}

// post sends one alert, signed; any answer but 2xx is a failure.
func (a *Alerts) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("budget alert: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "llm-connector-budget-alerts")
	req.Header.Set(SignatureHeader, Sign(a.cfg.Secret, a.cfg.Now(), body))
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		// *url.Error names the URL, which may carry a token: keep the cause.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Errorf("budget alert: post: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("budget alert: receiver answered %d", resp.StatusCode)
	}
	return nil
}

// Sign is the SignatureHeader value of body at time t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a SignatureHeader value against body and secret,
// refusing timestamps further than tolerance from now: what a receiver
// does.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts, sig string
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		k, v, _ := bytes.Cut(part, []byte("="))
		switch string(k) {
		case "t":
			ts = string(v)
		case "v1":
			sig = string(v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return false
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	return hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig))
}
