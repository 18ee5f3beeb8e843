package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// invalidTextRepresentation is PostgreSQL's error for text that does not
// parse as the column's type (a malformed UUID).
const invalidTextRepresentation = "22P02"

// NotFound reports an error that means "no such row": no row came back, or
// the id was not even a UUID (a malformed id names nothing, so it is not
// told apart from an unknown one).
func NotFound(err error) bool {
	if errors.Is(err, pgx.ErrNoRows) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == invalidTextRepresentation
}

// NullIfEmpty passes "" as SQL NULL (optional uuid and text columns).
func NullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
