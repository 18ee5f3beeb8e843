// Package riverq holds what every service running a River queue shares: the
// schema migration of River's own tables, and running a client beside its
// housekeeping.
package riverq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Migrate applies River's schema migrations as the owning role, under an
// advisory lock so replicas starting together migrate once. It fits
// server.Options.Migrate.
func Migrate(ctx context.Context, ownerURL string) error {
	pool, err := pgxpool.New(ctx, ownerURL)
	if err != nil {
		return errors.New("river: the migration URL is not a valid connection string")
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("river: connect: %w", err)
	}
	defer conn.Release()
	const lockKey = 0x7079_7269_7665_72 // "pyriver"
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(lockKey)); err != nil {
		return fmt.Errorf("river: lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(lockKey)) }()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("river: migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river: migrate: %w", err)
	}
	return nil
}

// Sweep is periodic housekeeping beside a queue: it answers how many rows
// it settled (e.g. work whose job ended without a result).
type Sweep struct {
	Every time.Duration
	Run   func(ctx context.Context) (int, error)
	// What names the rows in the log ("scans whose job ended without a result").
	What string
}

// Run works a River client until ctx ends, sweeping meanwhile, then stops
// it: running jobs get a few seconds to finish (River's own context
// outlives ctx, so the first stop is soft) and are then canceled.
func Run(ctx context.Context, client *river.Client[pgx.Tx], sweep Sweep, log *slog.Logger) error {
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("river: start: %w", err)
	}
	tick := time.NewTicker(sweep.Every)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			if n, err := sweep.Run(ctx); err != nil {
				log.WarnContext(ctx, "sweep", "what", sweep.What, "error", err.Error())
			} else if n > 0 {
				log.InfoContext(ctx, "swept", "what", sweep.What, "count", n)
			}
		}
	}
	soft, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := client.Stop(soft); err != nil {
		hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := client.StopAndCancel(hard); err != nil {
			return fmt.Errorf("river: stop: %w", err)
		}
	}
	return nil
}
