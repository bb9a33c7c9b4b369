// Package auth identifies callers: API keys stored hashed in the gateway's
// database, an in-process cache for the hot path, and the HTTP middleware
// that puts the caller's Identity in the request context.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/store"
)

// KeyPrefix starts every key this package issues.
const KeyPrefix = "lc-"

// keyLen is len(KeyPrefix) + 32 random bytes in unpadded base64url.
const keyLen = len(KeyPrefix) + 43

// displayLen is how much of a key is kept in clear for listings.
const displayLen = len(KeyPrefix) + 6

// The errors Authenticate returns for bad keys. They carry no part of the key.
var (
	ErrMissingKey  = errors.New("auth: missing API key")
	ErrInvalidKey  = errors.New("auth: invalid API key")
	ErrRevokedKey  = errors.New("auth: API key revoked")
	ErrKeyNotFound = errors.New("auth: no such key")
)

// Identity is who is calling. It is the zero value when nobody was
// identified.
type Identity struct {
	User  string `json:"user"`
	Team  string `json:"team,omitempty"`
	KeyID string `json:"key_id,omitempty"`
	// Models is the key's allow-list; empty allows every model.
	Models []string `json:"models,omitempty"`
	// RPM and TPM are the key's own rate limits; 0 = the service default.
	RPM int `json:"rpm,omitempty"`
	TPM int `json:"tpm,omitempty"`
	// DailyUSD and MonthlyUSD are the key's budgets; 0 = none.
	DailyUSD   float64 `json:"daily_usd,omitempty"`
	MonthlyUSD float64 `json:"monthly_usd,omitempty"`
	// TeamDailyUSD and TeamMonthlyUSD are the team's budgets; 0 = none.
	TeamDailyUSD   float64 `json:"team_daily_usd,omitempty"`
	TeamMonthlyUSD float64 `json:"team_monthly_usd,omitempty"`
	// Open is true when no key store is configured and User came from the
	// user header (or is the anonymous user).
	Open bool `json:"open,omitempty"`
}

// AllowsModel reports whether the key may use model. Entries of the
// allow-list match case-insensitively, exactly or with "*" wildcards
// ("gemini-2.5-*", "ollama/*"). An empty list allows everything.
func (id Identity) AllowsModel(model string) bool {
	if len(id.Models) == 0 {
		return true
	}
	model = strings.ToLower(model)
	for _, m := range id.Models {
		if glob(strings.ToLower(m), model) {
			return true
		}
	}
	return false
}

// CheckModel is AllowsModel as an error: a KindForbidden llm.Error (HTTP
// 403) naming the model, or nil.
func (id Identity) CheckModel(model string) error {
	if id.AllowsModel(model) {
		return nil
	}
	return llm.Errorf(llm.KindForbidden, "", "model %q is not allowed for this API key", model)
}

func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// KeySpec describes a key to create.
type KeySpec struct {
	User       string   `json:"user"`
	Team       string   `json:"team,omitempty"`
	Name       string   `json:"name,omitempty"`
	Models     []string `json:"models,omitempty"`
	RPM        int      `json:"rpm,omitempty"`
	TPM        int      `json:"tpm,omitempty"`
	DailyUSD   float64  `json:"daily_usd,omitempty"`
	MonthlyUSD float64  `json:"monthly_usd,omitempty"`
}

// Key is a stored key as listings show it: never the key or its hash.
type Key struct {
	ID     string `json:"id"`
	Prefix string `json:"prefix"` // the first characters, for recognising a key
	KeySpec
	Revoked   bool       `json:"revoked"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Identity is the caller a valid key stands for.
func (k Key) Identity() Identity {
	return Identity{User: k.User, Team: k.Team, KeyID: k.ID, Models: k.Models, RPM: k.RPM, TPM: k.TPM,
		DailyUSD: k.DailyUSD, MonthlyUSD: k.MonthlyUSD}
}

// StoreConfig configures a Store.
type StoreConfig struct {
	DB *store.DB // required
	// CacheTTL is how long Authenticate trusts a looked-up key (valid or
	// not) before asking the database again. It bounds how long a key
	// revoked on another instance keeps working here (the instance that
	// revokes forgets it at once). Default: 5s; negative disables caching.
	CacheTTL time.Duration
	// CacheSize bounds the cache entries. Default: 10000.
	CacheSize int
	Now       func() time.Time
}

// Store keeps API keys (SHA-256 hashes only) in the database.
type Store struct {
	db    *store.DB
	now   func() time.Time
	ttl   time.Duration
	size  int
	mu    sync.Mutex
	cache map[[sha256.Size]byte]cached // by key hash
}

type cached struct {
	id      Identity
	err     error
	expires time.Time
}

var keyMigrations = []store.Migration{{
	Version: 1,
	SQL: `CREATE TABLE api_keys (
	id TEXT PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	prefix TEXT NOT NULL,
	user_id TEXT NOT NULL,
	team TEXT NOT NULL,
	name TEXT NOT NULL,
	models TEXT NOT NULL,
	rpm BIGINT NOT NULL,
	tpm BIGINT NOT NULL,
	daily_usd DOUBLE PRECISION NOT NULL,
	monthly_usd DOUBLE PRECISION NOT NULL,
	revoked INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id)`,
}, teamMigration}

// NewStore applies the key table migrations and returns the store.
func NewStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if cfg.DB == nil {
		return nil, errors.New("auth: key store needs a database")
	}
	if err := cfg.DB.Migrate(ctx, "auth", keyMigrations); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s := &Store{db: cfg.DB, now: cfg.Now, ttl: cfg.CacheTTL, size: cfg.CacheSize, cache: map[[sha256.Size]byte]cached{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl == 0 {
		s.ttl = 5 * time.Second
	}
	if s.size <= 0 {
		s.size = 10000
	}
	return s, nil
}

// Create issues a key. The plain key is returned here once and never
// stored; only its SHA-256 and first characters are.
func (s *Store) Create(ctx context.Context, spec KeySpec) (plain string, k Key, err error) {
	if strings.TrimSpace(spec.User) == "" {
		return "", Key{}, errors.New("auth: create key: user is required")
	}
	if spec.RPM < 0 || spec.TPM < 0 || spec.DailyUSD < 0 || spec.MonthlyUSD < 0 {
		return "", Key{}, errors.New("auth: create key: limits must not be negative")
	}
	var secret [32]byte
	var idb [8]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", Key{}, fmt.Errorf("auth: create key: %w", err)
	}
	rand.Read(idb[:])
	plain = KeyPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	k = Key{ID: "key_" + hex.EncodeToString(idb[:]), Prefix: plain[:displayLen], KeySpec: spec,
		CreatedAt: s.now().UTC().Truncate(time.Millisecond)}
	models, _ := json.Marshal(nonNil(spec.Models))
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO api_keys (id, hash, prefix, user_id, team, name, models,
		rpm, tpm, daily_usd, monthly_usd, revoked, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0)`),
		k.ID, hashKey(plain), k.Prefix, spec.User, spec.Team, spec.Name, string(models),
		spec.RPM, spec.TPM, spec.DailyUSD, spec.MonthlyUSD, k.CreatedAt.UnixMilli())
	if err != nil {
		return "", Key{}, fmt.Errorf("auth: create key: %w", err)
	}
	return plain, k, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// hashKey is the stored form of a key: hex SHA-256. Keys carry 256
// random bits, so a fast hash is enough (no password stretching).
func hashKey(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

const keyColumns = `id, prefix, user_id, team, name, models, rpm, tpm, daily_usd, monthly_usd, revoked, created_at, revoked_at`

func scanKey(sc interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var models string
	var revoked int
	var created, revokedAt int64
	err := sc.Scan(&k.ID, &k.Prefix, &k.User, &k.Team, &k.Name, &models, &k.RPM, &k.TPM, &k.DailyUSD,
		&k.MonthlyUSD, &revoked, &created, &revokedAt)
	if err != nil {
		return Key{}, err
	}
	if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
		return Key{}, fmt.Errorf("models of %s: %w", k.ID, err)
	}
	if len(k.Models) == 0 {
		k.Models = nil
	}
	k.Revoked = revoked != 0
	k.CreatedAt = time.UnixMilli(created).UTC()
	if revokedAt > 0 {
		t := time.UnixMilli(revokedAt).UTC()
		k.RevokedAt = &t
	}
	return k, nil
}

// List returns the keys of user, or every key when user is empty, oldest
// first.
func (s *Store) List(ctx context.Context, user string) ([]Key, error) {
	q, args := `SELECT `+keyColumns+` FROM api_keys`, []any{}
	if user != "" {
		q, args = q+` WHERE user_id = ?`, append(args, user)
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q+` ORDER BY created_at, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("auth: list keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("auth: list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: list keys: %w", err)
	}
	return out, nil
}

// Key returns one key by id.
func (s *Store) Key(ctx context.Context, id string) (Key, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT `+keyColumns+` FROM api_keys WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrKeyNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("auth: key: %w", err)
	}
	return k, nil
}

// Revoke disables a key. This instance stops accepting it at once; other
// instances within CacheTTL.
func (s *Store) Revoke(ctx context.Context, id string) error {
	var hash string
	err := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT hash FROM api_keys WHERE id = ?`), id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrKeyNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: revoke: %w", err)
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`UPDATE api_keys SET revoked = 1, revoked_at = ? WHERE id = ? AND revoked = 0`),
		s.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("auth: revoke: %w", err)
	}
	var sum [sha256.Size]byte
	hex.Decode(sum[:], []byte(hash))
	s.mu.Lock()
	delete(s.cache, sum)
	s.mu.Unlock()
	return nil
}

// Authenticate maps a presented key to its Identity. Bad keys give
// ErrInvalidKey or ErrRevokedKey; other errors mean the store failed.
// Results, good or bad, are cached for CacheTTL by key hash.
func (s *Store) Authenticate(ctx context.Context, raw string) (Identity, error) {
	if raw == "" {
		return Identity{}, ErrMissingKey
	}
	if len(raw) != keyLen || !strings.HasPrefix(raw, KeyPrefix) {
		return Identity{}, ErrInvalidKey
	}
	sum := sha256.Sum256([]byte(raw))
	now := s.now()
	if s.ttl > 0 {
		s.mu.Lock()
		c, ok := s.cache[sum]
		s.mu.Unlock()
		if ok && now.Before(c.expires) {
			return c.id, c.err
		}
	}
	id, err := s.lookup(ctx, hex.EncodeToString(sum[:]))
	if err != nil && !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrRevokedKey) {
		return Identity{}, err // the store failed: do not cache
	}
	if s.ttl > 0 {
		s.mu.Lock()
		if len(s.cache) >= s.size {
			clear(s.cache) // crude but bounded; refills from the database
		}
		s.cache[sum] = cached{id: id, err: err, expires: now.Add(s.ttl)}
		s.mu.Unlock()
	}
	return id, err
}

func (s *Store) lookup(ctx context.Context, hash string) (Identity, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT `+keyColumns+` FROM api_keys WHERE hash = ?`), hash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Identity{}, ErrInvalidKey
	case err != nil:
		return Identity{}, fmt.Errorf("auth: look up key: %w", err)
	case k.Revoked:
		return Identity{}, ErrRevokedKey
	}
	return s.withTeam(ctx, k.Identity())
}
