package service

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/logging"
	"github.com/pythorix/pythorix/platform/secret"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/platform/tracing"
)

// Schema is what a service migrates: its migrations and any library's.
type Schema struct {
	Migrations fs.FS
	Migrate    func(ctx context.Context, ownerURL string) error
}

// Main runs the named service and returns the process exit code. With
// PYTHORIX_MIGRATE_ONLY set it applies schema and exits: a deployment's
// migration job, which needs the database URLs and nothing else.
func Main(name string, options func(config.Service) (server.Options, error), schema Schema) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("PYTHORIX_MIGRATE_ONLY") != "" {
		return migrateOnly(ctx, name, schema)
	}
	cfg, err := config.LoadService(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pythorix-%s: %v\n", name, err)
		return 2
	}
	log := logging.New(os.Stderr, name, cfg.LogLevel)
	shutdown, err := tracing.Setup(ctx, name)
	if err != nil {
		log.ErrorContext(ctx, "tracing", "error", err)
		return 2
	}
	defer func() { _ = shutdown(context.WithoutCancel(ctx)) }()
	opts, err := options(cfg)
	if err != nil {
		log.ErrorContext(ctx, "configuration invalid", "error", err)
		return 2
	}
	opts.Logger = log
	srv, err := server.New(ctx, cfg, opts)
	if err != nil {
		log.ErrorContext(ctx, "start failed", "error", err)
		return 1
	}
	if err := srv.Run(ctx); err != nil {
		log.ErrorContext(ctx, "run failed", "error", err)
		return 1
	}
	return 0
}

func migrateOnly(ctx context.Context, name string, schema Schema) int {
	log := logging.New(os.Stderr, name, slog.LevelInfo)
	cfg := config.Service{Name: name, DatabaseURL: secret.New(os.Getenv("DATABASE_URL")),
		DatabaseMigrationURL: secret.New(os.Getenv("DATABASE_MIGRATION_URL"))}
	if cfg.DatabaseURL.IsZero() && cfg.DatabaseMigrationURL.IsZero() {
		log.ErrorContext(ctx, "DATABASE_MIGRATION_URL or DATABASE_URL is required")
		return 2
	}
	if err := server.Migrate(ctx, cfg, server.Options{Migrations: schema.Migrations, Migrate: schema.Migrate}); err != nil {
		log.ErrorContext(ctx, "migration failed", "error", err)
		return 1
	}
	log.InfoContext(ctx, "migrated")
	return 0
}
