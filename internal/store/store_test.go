package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/store"
	"github.com/llm-connector/llm-connector/internal/store/storetest"
)

func TestSQLiteIsWAL(t *testing.T) {
	db := storetest.SQLite(t).Open(t)
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestMigrate(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			v1 := []store.Migration{{Version: 1, SQL: "CREATE TABLE m (a INTEGER);\nINSERT INTO m (a) VALUES (1)"}}
			for range 2 { // applying twice is a no-op
				if err := db.Migrate(ctx, "demo", v1); err != nil {
					t.Fatal(err)
				}
			}
			v2 := append(v1, store.Migration{Version: 2, SQL: "ALTER TABLE m ADD COLUMN b INTEGER",
				Postgres: "ALTER TABLE m ADD COLUMN b BIGINT"})
			if err := b.Open(t).Migrate(ctx, "demo", v2); err != nil { // a later start
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM m`).Scan(&n); err != nil || n != 1 {
				t.Errorf("rows = %d, %v; want 1 (step 1 ran once)", n, err)
			}
			bad := append(v2, store.Migration{Version: 3, SQL: "NOT SQL"})
			if err := db.Migrate(ctx, "demo", bad); err == nil {
				t.Error("a failing step returned nil")
			}
		})
	}
}

func TestRebind(t *testing.T) {
	pg := &store.DB{Dialect: store.Postgres}
	lite := &store.DB{Dialect: store.SQLite}
	q := "SELECT a FROM t WHERE b = ? AND c = ?"
	if got := pg.Rebind(q); got != "SELECT a FROM t WHERE b = $1 AND c = $2" {
		t.Errorf("postgres: %s", got)
	}
	if got := lite.Rebind(q); got != q {
		t.Errorf("sqlite: %s", got)
	}
}

func TestWhereHidesPassword(t *testing.T) {
	db, err := store.Open(context.Background(), store.Config{DatabaseURL: "postgres://u:hunter2@127.0.0.1:1/x?password=hunter2&connect_timeout=1"})
	if err == nil {
		db.Close()
		t.Skip("something answers on port 1")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}
