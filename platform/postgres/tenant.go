package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OrgSetting is the transaction-local setting row-level security policies
// compare a row's org_id with.
const OrgSetting = "pythorix.org_id"

// AllOrgs is the explicit marker for work that spans organisations (looking
// up an API key by its id, a user's list of organisations). Policies admit it;
// a transaction that sets nothing sees no tenant rows at all.
const AllOrgs = "*"

// InOrg runs fn in a transaction scoped to one organisation.
func InOrg(ctx context.Context, pool *pgxpool.Pool, orgID string, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, OrgSetting, orgID); err != nil {
			return err
		}
		return fn(tx)
	})
}
