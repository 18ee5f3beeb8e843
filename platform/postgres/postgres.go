package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// Open connects a pool and checks that the database answers. When role is
// set, every connection switches to it (SET ROLE) before use, so queries run
// with that role's privileges and under row-level security.
func Open(ctx context.Context, url string, maxConns int32, role string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included: never wrap it.
		return nil, errors.New("postgres: DATABASE_URL is not a valid connection string")
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "pythorix"
	// Queries are spans of the caller's trace (statements, not arguments).
	cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithDisableQuerySpanNamePrefix())
	if role != "" {
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{role}.Sanitize())
			return err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// Version tables record applied migrations: the platform's shared tables and
// the service's own are numbered independently.
const (
	PlatformVersionTable = "public.platform_schema_version"
	ServiceVersionTable  = "public.schema_version"
)

// AppRole is the role services run as.
const AppRole = "pythorix_app"

// Migrate applies every pending migration in fsys (files NNN_name.sql, tern
// format) over its own connection as the URL's (owning) role. tern holds a
// Postgres advisory lock while it migrates, so replicas starting together
// apply each migration once.
func Migrate(ctx context.Context, url string, fsys fs.FS, versionTable string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: connect for migration: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("postgres: migrator: %w", err)
	}
	if err := m.LoadMigrations(fsys); err != nil {
		return fmt.Errorf("postgres: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}
