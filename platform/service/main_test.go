package service

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/pythorix/pythorix/platform/pgtest"
)

// A migration job needs the database URL and nothing else: no certificates,
// no Redis, no keys.
func TestMigrateOnly(t *testing.T) {
	url := pgtest.ServiceDatabase(t, nil)
	t.Setenv("DATABASE_URL", "")
	t.Setenv("DATABASE_MIGRATION_URL", "")
	if code := migrateOnly(context.Background(), "widgets", Schema{}); code != 2 {
		t.Fatalf("without a database URL: exit %d", code)
	}
	t.Setenv("DATABASE_MIGRATION_URL", url)
	hooked := false
	schema := Schema{
		Migrations: fstest.MapFS{"001_widgets.sql": {Data: []byte("CREATE TABLE widgets (id int PRIMARY KEY);")}},
		Migrate:    func(context.Context, string) error { hooked = true; return nil },
	}
	for range 2 { // idempotent: a second run changes nothing
		if code := migrateOnly(context.Background(), "widgets", schema); code != 0 || !hooked {
			t.Fatalf("migrate: exit %d, library hook run %v", code, hooked)
		}
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM widgets`).Scan(&n); err != nil {
		t.Fatalf("the migration did not run: %v", err)
	}
}
