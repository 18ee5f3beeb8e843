// Command pythorix-gateway runs the public HTTPS edge.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pythorix/pythorix/platform/logging"
	"github.com/pythorix/pythorix/platform/tracing"
	"github.com/pythorix/pythorix/services/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := gateway.LoadConfig(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pythorix-gateway:", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, "gateway", cfg.LogLevel())
	shutdown, err := tracing.Setup(ctx, "gateway")
	if err != nil {
		log.Error("tracing", "error", err)
		os.Exit(2)
	}
	defer func() { _ = shutdown(context.WithoutCancel(ctx)) }()
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
	if err != nil {
		log.Error("start failed", "error", err)
		os.Exit(1)
	}
	if err := g.Run(ctx); err != nil {
		log.Error("run failed", "error", err)
		os.Exit(1)
	}
}
