// Package storetest gives tests the two database backends: a SQLite file
// in a temporary directory and a fresh schema on a real PostgreSQL.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/testenv"
)

// DefaultPostgresURL is used when DATABASE_TEST_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Backend is one database configuration a test suite runs against.
type Backend struct {
	Name string
	// Config reopens the same database (restart tests open it twice).
	Config store.Config
	// skip, when set, is why this backend is not available: Open skips
	// the (sub)test with it.
	skip string
}

// Open opens the backend's database and closes it at the end of the test.
// An unreachable PostgreSQL (outside CI) skips the test here.
func (b Backend) Open(t testing.TB) *store.DB {
	t.Helper()
	if b.skip != "" {
		t.Skip(b.skip)
	}
	db, err := store.Open(context.Background(), b.Config)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Backends returns SQLite and PostgreSQL. Each call makes a new SQLite
// directory and a new PostgreSQL schema, dropped at cleanup. When no
// PostgreSQL answers, its backend skips the (sub)test that opens it; with
// CI=true an unreachable PostgreSQL fails the test instead.
func Backends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{SQLite(t)}
	pg, ok := Postgres(t)
	if !ok {
		pg = Backend{Name: "postgres", skip: "postgres unreachable at DATABASE_TEST_URL (" + pgURL() + "); set CI=true to fail instead"}
		testenv.NoteSkip("postgres", "DATABASE_TEST_URL "+pgURL()+" unreachable")
	}
	return append(out, pg)
}

func pgURL() string {
	if u := os.Getenv("DATABASE_TEST_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// SQLite returns a backend on a fresh file in t.TempDir().
func SQLite(t testing.TB) Backend {
	t.Helper()
	return Backend{Name: "sqlite", Config: store.Config{DataDir: t.TempDir()}}
}

// Postgres returns a backend on a fresh schema, or ok=false (after
// logging why) when no server answers and CI is not set.
func Postgres(t testing.TB) (Backend, bool) {
	t.Helper()
	base := os.Getenv("DATABASE_TEST_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	admin, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres unreachable at DATABASE_TEST_URL (required when CI=true): %v", err)
		}
		t.Logf("skipping postgres backend: unreachable: %v", err)
		return Backend{}, false
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse DATABASE_TEST_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return Backend{Name: "postgres", Config: store.Config{DatabaseURL: u.String()}}, true
}
