package service

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/logging"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/platform/tracing"
)

// Main runs the named service and returns the process exit code.
func Main(name string, options func(config.Service) (server.Options, error)) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
	if os.Getenv("PYTHORIX_MIGRATE_ONLY") != "" {
		// A deployment's migration job: apply the schema and stop.
		if err := server.Migrate(ctx, cfg, opts); err != nil {
			log.ErrorContext(ctx, "migration failed", "error", err)
			return 1
		}
		log.InfoContext(ctx, "migrated")
		return 0
	}
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
