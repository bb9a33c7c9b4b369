package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/llm-connector/llm-connector/internal/admin"
	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/config"
)

// runKeys is the "keys" subcommand: create, list and revoke API keys and
// read usage, straight on the database (DATA_DIR or DATABASE_URL).
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	acc, err := openAccounting(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer acc.close(ctx)
	if acc.keys == nil {
		if acc.keys, err = auth.NewStore(ctx, auth.StoreConfig{DB: acc.db}); err != nil {
			return err
		}
		acc.deps.Keys = acc.keys
	}
	return admin.RunCLI(ctx, args, stdout, stderr, acc.deps)
}
