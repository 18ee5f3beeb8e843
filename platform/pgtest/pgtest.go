package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/pgadmin"
	"github.com/pythorix/pythorix/platform/postgres"
)

// AdminURL is the server URL tests create databases with: PYTHORIX_TEST_DATABASE_URL
// (set by make test), else DATABASE_URL. A test that needs Postgres fails
// without one: `make test` always provides it.
func AdminURL(t testing.TB) string {
	t.Helper()
	for _, k := range []string{"PYTHORIX_TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	t.Fatal("pgtest: no Postgres: run `make test`, or set PYTHORIX_TEST_DATABASE_URL")
	return ""
}

// RedisURL is the Redis tests use: PYTHORIX_TEST_REDIS_URL, else REDIS_URL.
func RedisURL(t testing.TB) string {
	t.Helper()
	for _, k := range []string{"PYTHORIX_TEST_REDIS_URL", "REDIS_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	t.Fatal("pgtest: no Redis: run `make test`, or set PYTHORIX_TEST_REDIS_URL")
	return ""
}

// ServiceDatabase creates a fresh database holding the platform tables and
// the service's migrations (nil for none), dropped when the test ends, and
// returns its URL.
func ServiceDatabase(t testing.TB, migrations fs.FS) string {
	t.Helper()
	return ServiceDatabaseOn(t, AdminURL(t), migrations)
}

// ServiceDatabaseOn is ServiceDatabase on the server admin points at (a
// server a test owns, to restart it).
func ServiceDatabaseOn(t testing.TB, admin string, migrations fs.FS) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmpl, err := template(ctx, admin, migrations)
	if err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	if err := pgadmin.Ensure(ctx, admin, name, tmpl); err != nil {
		t.Fatalf("pgtest: clone: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pgadmin.Drop(ctx, admin, name); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	u, err := pgadmin.WithDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// template returns the name of a database migrated with the given schema,
// creating it once per distinct schema under an advisory lock so concurrent
// test binaries agree.
func template(ctx context.Context, admin string, migrations fs.FS) (string, error) {
	sum, err := fingerprint(outbox.Migrations(), migrations)
	if err != nil {
		return "", err
	}
	name := "tmpl_" + sum[:16]
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, name); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, name) //nolint:errcheck
	var ready bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ready); err != nil {
		return "", err
	}
	if ready {
		return name, nil
	}
	// Build under a temporary name and rename when complete, so a crash
	// half-way never leaves a template that looks finished.
	building := name + "_b"
	if err := pgadmin.Drop(ctx, admin, building); err != nil {
		return "", err
	}
	if err := pgadmin.Ensure(ctx, admin, building, ""); err != nil {
		return "", err
	}
	u, err := pgadmin.WithDatabase(admin, building)
	if err != nil {
		return "", err
	}
	err = postgres.Migrate(ctx, u, outbox.Migrations(), postgres.PlatformVersionTable)
	if err == nil && migrations != nil {
		err = postgres.Migrate(ctx, u, migrations, postgres.ServiceVersionTable)
	}
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`,
		pgx.Identifier{building}.Sanitize(), pgx.Identifier{name}.Sanitize())); err != nil {
		return "", err
	}
	return name, nil
}

func fingerprint(fsyss ...fs.FS) (string, error) {
	h := sha256.New()
	for i, fsys := range fsyss {
		fmt.Fprintf(h, "fs%d\n", i)
		if fsys == nil {
			continue
		}
		err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %d\n", path, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
