package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Limiter whose state lives in Redis, shared by every gateway
// instance that uses the same Redis and prefix. Each decision is one Lua
// script call (one round trip, atomic); time is Redis's own clock, so the
// instances' clocks need not agree.
//
// State per key is one hash {r: requests TAT, t: tokens TAT} in
// microseconds, expiring when both budgets are full again.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	// Timeout bounds each call (default DefaultTimeout). It is honoured
	// only by clients with ContextTimeoutEnabled; RedisOptions sets it.
	Timeout time.Duration
}

// DefaultTimeout bounds one Redis call made by this package.
const DefaultTimeout = 250 * time.Millisecond

// NewRedis returns a limiter storing its keys as prefix+key in rdb.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix, Timeout: DefaultTimeout}
}

// RedisOptions parses a redis:// URL into client options tuned to fail
// fast: short dial, read, write and pool timeouts, one dial attempt, one
// retry, and context deadlines honoured. A limiter or cache must never
// hold a request for the default 5 s timeouts of go-redis.
func RedisOptions(url string) (*redis.Options, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: parse redis url: %w", err)
	}
	o.DialTimeout = 200 * time.Millisecond
	o.ReadTimeout = 200 * time.Millisecond
	o.WriteTimeout = 200 * time.Millisecond
	o.PoolTimeout = 200 * time.Millisecond
	o.DialerRetries = 1
	o.MaxRetries = 1
	o.ContextTimeoutEnabled = true
	return o, nil
}

// windowMicros is Window in the script's unit.
const windowMicros = int64(Window / time.Microsecond)

// admitScript charges one request and ARGV[3] tokens when both fit.
// ARGV: rpm, tpm, tokens, window (µs). Returns {allowed, requests busy,
// requests wait, tokens busy, tokens wait}, all in µs; busy is how far
// the TAT is ahead of now after the decision.
var admitScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local st = redis.call('HMGET', KEYS[1], 'r', 't')
local function busy(v)
  if not v then return 0 end
  return math.max(tonumber(v) - now, 0)
end
local rb, tb = busy(st[1]), busy(st[2])
local eps = 0.001
local rn, rw, tn, tw = rb, 0, tb, 0
if rpm > 0 then
  rn = rb + window / rpm
  if rn > window + eps then rw = rn - window; rn = rb end
end
if tpm > 0 then
  tn = tb + cost * window / tpm
  if tn > window + eps then tw = tn - window; tn = tb end
end
local ok = 0
if rw == 0 and tw == 0 then
  ok = 1
  if rpm > 0 then redis.call('HSET', KEYS[1], 'r', now + rn) end
  if tpm > 0 then redis.call('HSET', KEYS[1], 't', now + tn) end
  redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(rn, tn) / 1000) + 1000)
else
  rn, tn = rb, tb
end
return {ok, math.floor(rn + 0.5), math.ceil(rw), math.floor(tn + 0.5), math.ceil(tw)}
`)

// reconcileScript moves the tokens TAT by ARGV[2] tokens (negative:
// refund), never below now nor more than ARGV[4] µs ahead.
// ARGV: tpm, delta, window (µs), max debt (µs).
var reconcileScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tpm, delta = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, maxDebt = tonumber(ARGV[3]), tonumber(ARGV[4])
local st = redis.call('HMGET', KEYS[1], 'r', 't')
local rb, tb = 0, 0
if st[1] then rb = math.max(tonumber(st[1]) - now, 0) end
if st[2] then tb = math.max(tonumber(st[2]) - now, 0) end
local nb = math.min(math.max(tb + delta * window / tpm, 0), maxDebt)
redis.call('HSET', KEYS[1], 't', now + nb)
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(rb, nb) / 1000) + 1000)
return 1
`)

// Admit implements Limiter.
func (r *Redis) Admit(ctx context.Context, key string, l Limits, tokens int) (Decision, error) {
	if l.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	ctx, cancel := r.withTimeout(ctx)
	defer cancel()
	cost := 0
	if l.TPM > 0 {
		cost = clampTokens(tokens, l.TPM)
	}
	v, err := admitScript.Run(ctx, r.rdb, []string{r.prefix + key},
		max(l.RPM, 0), max(l.TPM, 0), cost, windowMicros).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis admit: %w", err)
	}
	if len(v) != 5 {
		return Decision{}, fmt.Errorf("ratelimit: redis admit: unexpected reply of %d values", len(v))
	}
	const us = int64(time.Microsecond)
	d := Decision{
		Allowed:  v[0] == 1,
		Requests: state(l.RPM, v[1]*us),
		Tokens:   state(l.TPM, v[3]*us),
	}
	if !d.Allowed {
		rWait, tWait := time.Duration(v[2]*us), time.Duration(v[4]*us)
		if rWait >= tWait {
			d.Limit, d.RetryAfter = LimitRequests, max(rWait, time.Microsecond)
		} else {
			d.Limit, d.RetryAfter = LimitTokens, tWait
		}
	}
	return d, nil
}

// Reconcile implements Limiter.
func (r *Redis) Reconcile(ctx context.Context, key string, l Limits, reserved, actual int) error {
	if l.TPM <= 0 {
		return nil
	}
	delta := max(actual, 0) - clampTokens(reserved, l.TPM)
	if delta == 0 {
		return nil
	}
	ctx, cancel := r.withTimeout(ctx)
	defer cancel()
	err := reconcileScript.Run(ctx, r.rdb, []string{r.prefix + key},
		l.TPM, delta, windowMicros, int64(maxDebt/int64(time.Microsecond))).Err()
	if err != nil {
		return fmt.Errorf("ratelimit: redis reconcile: %w", err)
	}
	return nil
}

func (r *Redis) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	t := r.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}
