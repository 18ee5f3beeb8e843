package tenancy

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/postgres"
)

// TestRowLevelSecurity shows that a query that forgets its organisation, or
// names another, sees and changes none of an organisation's rows, on every
// tenancy table, although the queries below carry no org filter at all.
func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.ServiceDatabase(t, Migrations()), 4, postgres.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	orgA, orgB, user := newID(), newID(), newID()
	for _, org := range []string{orgA, orgB} {
		err := postgres.InOrg(ctx, pool, org, func(tx pgx.Tx) error {
			for _, q := range []string{
				`INSERT INTO orgs (id, name, created_by) VALUES ($1, 'o', $2)`,
				`INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, 'owner')`,
				`INSERT INTO projects (id, org_id, name) VALUES (gen_random_uuid(), $1, 'p' || $2::text)`,
				`INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, expires_at)
					VALUES (gen_random_uuid(), $1, 'x@example.com', 'viewer', decode(md5(random()::text), 'hex'), $2, now() + interval '1 day')`,
			} {
				if _, err := tx.Exec(ctx, q, org, user); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Writing a row of another organisation is refused by the policy's check.
	err = postgres.InOrg(ctx, pool, orgA, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO projects (id, org_id, name) VALUES (gen_random_uuid(), $1, 'sneaky')`, orgB)
		return err
	})
	if err == nil {
		t.Fatal("inserted a row into another organisation")
	}
	tables := []string{"orgs", "memberships", "projects", "invitations"}
	count := func(scope string) map[string]int {
		out := map[string]int{}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if scope != "" {
				if _, err := tx.Exec(ctx, `SELECT set_config('pythorix.org_id', $1, true)`, scope); err != nil {
					return err
				}
			}
			for _, tbl := range tables {
				var n int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+tbl).Scan(&n); err != nil {
					return err
				}
				out[tbl] = n
			}
			return tx.Rollback(ctx)
		})
		if err != nil && err != pgx.ErrTxClosed {
			t.Fatal(err)
		}
		return out
	}
	for tbl, n := range count("") {
		if n != 0 {
			t.Errorf("no organisation set: %s shows %d rows", tbl, n)
		}
	}
	// An unscoped DELETE of everything, committed, removes nothing.
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, tbl := range []string{"invitations", "projects", "memberships", "orgs"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+tbl); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for tbl, n := range count(orgA) {
		if n != 1 {
			t.Errorf("organisation A: %s shows %d rows, want only its own 1", tbl, n)
		}
	}
	for tbl, n := range count(postgres.AllOrgs) {
		if n != 2 {
			t.Errorf("explicit all-organisations scope: %s shows %d rows, want 2", tbl, n)
		}
	}
}
