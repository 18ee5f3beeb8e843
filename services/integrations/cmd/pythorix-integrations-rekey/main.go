// Command pythorix-integrations-rekey rotates the key-encryption key of the
// integrations service: with the new key listed first in PYTHORIX_KEK (or
// PYTHORIX_KEK_FILE) and the old one still after it, it re-wraps every
// stored secret's data key under the new key, in one transaction, without
// decrypting a single secret. Afterwards the old key can be dropped from the
// ring. It reads the service's own environment (DATABASE_URL, PYTHORIX_DB_ROLE).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/services/integrations"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pythorix-integrations-rekey:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.LoadService("integrations")
	if err != nil {
		return err
	}
	kek, err := integrations.LoadKEK()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := postgres.Open(ctx, cfg.DatabaseURL.Reveal(), 2, cfg.DBRole)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := integrations.RotateKEK(ctx, db, kek)
	if err != nil {
		return err
	}
	fmt.Printf("re-wrapped the secrets of %d integrations under key %q\n", n, kek.Current())
	return nil
}
