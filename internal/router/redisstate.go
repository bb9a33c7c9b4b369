package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisState is a State shared by every instance that uses the same Redis
// and prefix: one Lua script per decision reads each candidate's cooldown,
// in-flight leases, latency and (for Usage) the outbound limiter's own
// budget key, picks, and takes the lease, atomically; time is Redis's
// clock. Per deployment it keeps
//
//	<prefix>dep:<name>:inflight  sorted set of leases, scored by expiry (ms)
//	<prefix>dep:<name>:cool      the cooldown's reason, expiring with it
//	<prefix>dep:<name>:lat       hash {e: EWMA of TTFT in ms, n: samples}
//
// A lease expires after LeaseTTL, so an instance that crashes with
// requests in flight cannot hold their slots for ever. When Redis cannot
// be reached the state decides from an in-process MemoryState (fail open:
// routing must not stop with Redis) and Degraded reports it.
type RedisState struct {
	rdb    redis.UniversalClient
	prefix string
	// LeaseTTL bounds an in-flight slot; set it above the request
	// deadline (default 2 min).
	LeaseTTL time.Duration
	// Timeout bounds each call (default 250 ms).
	Timeout time.Duration

	local    *MemoryState
	instance string
	seq      atomic.Uint64
	degraded atomic.Bool
}

// NewRedisState returns a state storing its keys under prefix in rdb.
func NewRedisState(rdb redis.UniversalClient, prefix string) *RedisState {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &RedisState{rdb: rdb, prefix: prefix, LeaseTTL: 2 * time.Minute, Timeout: 250 * time.Millisecond,
		local: NewMemoryState(), instance: hex.EncodeToString(b)}
}

// Degraded reports that the last call to Redis failed.
func (s *RedisState) Degraded() bool { return s.degraded.Load() }

func (s *RedisState) key(d *Deployment, what string) string {
	return s.prefix + "dep:" + d.Name + ":" + what
}

// pickScript: KEYS are 4 per candidate (inflight, cool, lat, usage);
// ARGV strategy, r, explore, lease TTL (ms), lease, window (µs), then 4
// per candidate (weight, max in flight, rpm, tpm). Returns {pick (1-based,
// 0 none), capped, shortest cooldown left (ms)}. The usage key is the
// outbound limiter's GCRA hash {r, t} (TATs in µs, Redis TIME).
var pickScript = redis.NewScript(`
local t = redis.call('TIME')
local nowus = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nowms = math.floor(nowus / 1000)
local strat, r, explore = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, lease, window = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local n = #KEYS / 4
local ok, w, infl, ewma, samples, rem = {}, {}, {}, {}, {}, {}
local capped, coolfor = 0, 0
local function left(tat, limit)
  if limit <= 0 then return 1 end
  local busy = math.max((tonumber(tat) or 0) - nowus, 0)
  if busy >= window then return 0 end
  return math.floor((window - busy) * limit / window) / limit
end
for i = 1, n do
  local k, a = (i - 1) * 4, 6 + (i - 1) * 4
  w[i] = tonumber(ARGV[a + 1])
  local mx, rpm, tpm = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  ok[i] = false
  local pt = redis.call('PTTL', KEYS[k + 2])
  if pt > 0 then
    if coolfor == 0 or pt < coolfor then coolfor = pt end
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], '-inf', nowms)
    infl[i] = redis.call('ZCARD', KEYS[k + 1])
    if mx > 0 and infl[i] >= mx then
      capped = 1
    else
      ok[i] = true
      local l = redis.call('HMGET', KEYS[k + 3], 'e', 'n')
      ewma[i], samples[i] = tonumber(l[1]) or 0, tonumber(l[2]) or 0
      rem[i] = 1
      if strat == 'usage' then
        local u = redis.call('HMGET', KEYS[k + 4], 'r', 't')
        rem[i] = math.min(left(u[1], rpm), left(u[2], tpm))
      end
    end
  end
end
local function wpick(rr, keep)
  local total = 0
  for i = 1, n do if ok[i] and keep(i) then total = total + w[i] end end
  if total == 0 then return 0 end
  local at = math.floor(rr * total)
  for i = 1, n do
    if ok[i] and keep(i) then
      if at < w[i] then return i end
      at = at - w[i]
    end
  end
  return 0
end
local all = function() return true end
local pick = 0
if strat == 'least_busy' then
  local best
  for i = 1, n do if ok[i] and (best == nil or infl[i] < best) then best = infl[i] end end
  pick = wpick(r, function(i) return infl[i] == best end)
elseif strat == 'usage' then
  local best = -1
  for i = 1, n do if ok[i] and rem[i] > best then best = rem[i] end end
  pick = wpick(r, function(i) return rem[i] == best end)
elseif strat == 'lowest_latency' then
  if r < explore then
    pick = wpick(r / explore, all)
  else
    pick = wpick((r - explore) / (1 - explore), function(i) return samples[i] == 0 end)
    if pick == 0 then
      for i = 1, n do if ok[i] and (pick == 0 or ewma[i] < ewma[pick]) then pick = i end end
    end
  end
else
  pick = wpick(r, all)
end
if pick > 0 then
  local k = (pick - 1) * 4
  redis.call('ZADD', KEYS[k + 1], nowms + ttl, lease)
  redis.call('PEXPIRE', KEYS[k + 1], ttl)
end
return {pick, capped, coolfor}
`)

// Pick implements State.
func (s *RedisState) Pick(ctx context.Context, now time.Time, st Strategy, explore float64, cands []*Deployment, r float64) Pick {
	keys := make([]string, 0, 4*len(cands))
	args := make([]any, 0, 6+4*len(cands))
	lease := s.instance + ":" + strconv.FormatUint(s.seq.Add(1), 10)
	args = append(args, string(st), strconv.FormatFloat(r, 'f', -1, 64), strconv.FormatFloat(explore, 'f', -1, 64),
		s.LeaseTTL.Milliseconds(), lease, int64(time.Minute/time.Microsecond))
	for _, d := range cands {
		usage := d.UsageKey
		if usage == "" {
			usage = s.key(d, "usage")
		}
		keys = append(keys, s.key(d, "inflight"), s.key(d, "cool"), s.key(d, "lat"), usage)
		args = append(args, d.weight(), max(d.MaxInFlight, 0), max(d.RPM, 0), max(d.TPM, 0))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Timeout)
	defer cancel()
	v, err := pickScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil || len(v) != 3 {
		s.degraded.Store(true)
		p := s.local.Pick(ctx, now, st, explore, cands, r)
		p.Lease = "local:" + p.Lease
		return p
	}
	s.degraded.Store(false)
	p := Pick{Index: int(v[0]) - 1, Capped: v[1] == 1, CoolFor: time.Duration(v[2]) * time.Millisecond}
	if p.Index >= 0 {
		p.Lease = lease
	}
	return p
}

// doneScript frees lease (KEYS[1]) and folds a TTFT sample (ARGV[2] ms,
// 0: none) into the EWMA (KEYS[2]) with weight ARGV[3].
var doneScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
local x = tonumber(ARGV[2])
if x > 0 then
  local l = redis.call('HMGET', KEYS[2], 'e', 'n')
  local e, n = tonumber(l[1]) or 0, tonumber(l[2]) or 0
  if n == 0 then e = x else e = e + tonumber(ARGV[3]) * (x - e) end
  redis.call('HSET', KEYS[2], 'e', tostring(e), 'n', n + 1)
  redis.call('PEXPIRE', KEYS[2], 86400000)
end
return 1
`)

// Done implements State.
func (s *RedisState) Done(ctx context.Context, d *Deployment, lease string, ttft time.Duration) {
	if l, ok := strings.CutPrefix(lease, "local:"); ok {
		s.local.Done(ctx, d, l, ttft)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	ms := strconv.FormatFloat(float64(ttft)/float64(time.Millisecond), 'f', 3, 64)
	if doneScript.Run(ctx, s.rdb, []string{s.key(d, "inflight"), s.key(d, "lat")}, lease, ms, ewmaAlpha).Err() != nil {
		s.degraded.Store(true) // the lease expires by itself
	}
}

// coolScript sets the cooldown (KEYS[1]) to ARGV[2] ms unless a longer
// one is running, and forgets the latency (KEYS[2]): back from it, the
// deployment is measured again.
var coolScript = redis.NewScript(`
local ms = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], ARGV[1], 'PX', ms) end
redis.call('DEL', KEYS[2])
return 1
`)

// Cool implements State.
func (s *RedisState) Cool(ctx context.Context, now time.Time, d *Deployment, dur time.Duration, reason string) {
	s.local.Cool(ctx, now, d, dur, reason)
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	ms := max(dur.Milliseconds(), 1)
	if coolScript.Run(ctx, s.rdb, []string{s.key(d, "cool"), s.key(d, "lat")}, reason, ms).Err() != nil {
		s.degraded.Store(true)
	}
}

// Cooling returns the deployments of names cooling down now, with the
// time left and the reason, as every instance sees them (for /health).
func (s *RedisState) Cooling(ctx context.Context, names []string) map[string]Cooldown {
	out := map[string]Cooldown{}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	for _, n := range names {
		k := s.key(&Deployment{Name: n}, "cool")
		reason, err := s.rdb.Get(ctx, k).Result()
		if err != nil {
			continue
		}
		if ttl, err := s.rdb.PTTL(ctx, k).Result(); err == nil && ttl > 0 {
			out[n] = Cooldown{Left: ttl, Reason: reason}
		}
	}
	return out
}

// Cooldown is a deployment's cooldown as the shared state knows it.
type Cooldown struct {
	Left   time.Duration `json:"left"`
	Reason string        `json:"reason"`
}
