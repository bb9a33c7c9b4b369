// Package store opens the gateway's SQL database: an embedded SQLite file
// in the data directory by default, or PostgreSQL when a DATABASE_URL is
// given. Both go through database/sql so the ledger, budgets and key store
// share one code path; the few dialect differences are methods here.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/llm-connector/llm-connector/internal/redact"
)

// Dialect names the SQL engine behind a DB.
type Dialect int

// The supported engines.
const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DefaultFile is the SQLite file name inside the data directory.
const DefaultFile = "llm-connector.db"

// Config says which database to open.
type Config struct {
	// DatabaseURL selects PostgreSQL ("postgres://..." as DATABASE_URL).
	// When empty, SQLite is used.
	DatabaseURL string
	// DataDir holds the SQLite file (created if missing). Ignored when
	// DatabaseURL is set. Empty means an in-memory SQLite database, for
	// tests only: nothing survives Close.
	DataDir string
	// File is the SQLite file name inside DataDir. Default: DefaultFile.
	File string
	// MaxOpenConns caps the pool. Default: 10 (PostgreSQL), 4 (SQLite).
	MaxOpenConns int
}

// DB is an open database with its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Where describes the database for logs, without credentials.
	Where string
}

// Open opens (and for SQLite creates) the database and checks that it
// answers. Migrations are applied by each package with Migrate.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	db, err := open(cfg)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		// pgx names user and database, never the password; the
		// redaction is for what a driver might echo all the same.
		return nil, fmt.Errorf("store: ping %s: %s", db.Where, redact.String(err.Error()))
	}
	return db, nil
}

// pageCacheKiB is each SQLite connection's page cache (PRAGMA
// cache_size, negative: KiB), 512 KiB instead of SQLite's 2,000. A
// cache is per connection and kept while the connection idles in the
// pool, and the ledger writer's hot pages (the right edges of its
// b-trees, the rollups being upserted) are a few hundred KiB; what falls
// out is read back from the operating system's file cache. In the load
// benchmark the smaller caches took ~3 MiB off the service's RSS at 64
// connections with no change in CPU per request (BENCHMARKS.md, issue
// 17's eighth round), which paid for a higher GC memory floor
// (cmd/llm-connector/memtune.go). The in-memory database keeps SQLite's
// default: there the cache is the data.
const pageCacheKiB = "-512"

func open(cfg Config) (*DB, error) {
	if cfg.DatabaseURL != "" {
		sdb, err := sql.Open("pgx", cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		sdb.SetMaxOpenConns(cmp.Or(cfg.MaxOpenConns, 10))
		sdb.SetMaxIdleConns(cmp.Or(cfg.MaxOpenConns, 10))
		return &DB{DB: sdb, Dialect: Postgres, Where: redactURL(cfg.DatabaseURL)}, nil
	}
	pragmas := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	var dsn, where string
	if cfg.DataDir == "" {
		// A named shared-cache memory database so every pooled
		// connection sees the same data.
		where = "sqlite::memory:"
		dsn = fmt.Sprintf("file:mem%d?mode=memory&cache=shared&%s", memSeq.Add(1), pragmas)
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create data dir: %w", err)
		}
		path := filepath.Join(cfg.DataDir, cmp.Or(cfg.File, DefaultFile))
		where = "sqlite:" + path
		dsn = "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(" +
			pageCacheKiB + ")&" + pragmas
	}
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	n := cmp.Or(cfg.MaxOpenConns, 4)
	if cfg.DataDir == "" {
		n = 1 // shared-cache memory databases lock per table; one conn avoids SQLITE_LOCKED
	}
	sdb.SetMaxOpenConns(n)
	sdb.SetMaxIdleConns(n)
	sdb.SetConnMaxLifetime(0)
	return &DB{DB: sdb, Dialect: SQLite, Where: where}, nil
}

// Rebind turns the portable "?" placeholders of query into the dialect's
// own ("$1", "$2", ... for PostgreSQL). Queries must not contain a
// literal "?" elsewhere.
func (db *DB) Rebind(query string) string {
	if db.Dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Migration is one versioned schema step of a component. Versions start at
// 1 and only grow; a step, once released, is never edited.
type Migration struct {
	Version int
	// SQL is run for both dialects unless Postgres is set.
	SQL string
	// Postgres, when set, replaces SQL on PostgreSQL.
	Postgres string
}

// Migrate applies the steps of component that are newer than the recorded
// version, each in its own transaction. On PostgreSQL an advisory lock
// keeps instances that start together from racing.
func (db *DB) Migrate(ctx context.Context, component string, steps []Migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("store: migrate %s: create table: %w", component, err)
	}
	for _, m := range steps {
		if err := db.migrateStep(ctx, component, m); err != nil {
			return fmt.Errorf("store: migrate %s to %d: %w", component, m.Version, err)
		}
	}
	return nil
}

func (db *DB) migrateStep(ctx context.Context, component string, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.Dialect == Postgres {
		h := fnv.New64a()
		h.Write([]byte("llm-connector:" + component))
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
			return err
		}
	}
	var n int
	err = tx.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE component = ? AND version = ?`),
		component, m.Version).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	q := m.SQL
	if db.Dialect == Postgres && m.Postgres != "" {
		q = m.Postgres
	}
	for _, stmt := range splitStatements(q) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO schema_migrations (component, version) VALUES (?, ?)`),
		component, m.Version); err != nil {
		return err
	}
	return tx.Commit()
}

// splitStatements splits a migration on ";" at line ends. Migrations hold
// no string literals with semicolons.
func splitStatements(q string) []string {
	var out []string
	for _, s := range strings.Split(q, ";\n") {
		s = strings.TrimSuffix(strings.TrimSpace(s), ";")
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// redactURL describes the database for logs and errors: a URL without
// its userinfo and query, or a keyword DSN with its password redacted.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return redact.String(raw)
	}
	u.User = nil
	u.RawQuery = ""
	return u.Redacted()
}

var memSeq atomic.Int64
