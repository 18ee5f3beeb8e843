package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	"github.com/pythorix/pythorix/platform/postgres"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrUnauthenticated is every reason a credential is refused; the caller
// learns nothing more.
var ErrUnauthenticated = errors.New("invalid credential")

// Authenticate turns a bearer credential into a principal: an API key (by its
// prefix) or an access token whose session is still live.
func (a *Accounts) Authenticate(ctx context.Context, credential string) (*identityv1.Principal, error) {
	if strings.HasPrefix(credential, APIKeyPrefix) {
		return a.authenticateAPIKey(ctx, credential)
	}
	claims, err := a.tokens.Verify(credential, a.now())
	if err != nil {
		return nil, ErrUnauthenticated
	}
	var admin bool
	var expires time.Time
	err = a.db.QueryRow(ctx, `UPDATE sessions s SET last_seen_at = now() FROM users u
		WHERE s.id = $1 AND s.user_id = $2 AND u.id = s.user_id AND s.revoked_at IS NULL AND s.expires_at > now()
		RETURNING u.global_admin, s.expires_at`, claims.SessionID, claims.Subject).Scan(&admin, &expires)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidUUID(err) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	exp := claims.ExpiresAt.Time
	if expires.Before(exp) {
		exp = expires
	}
	return &identityv1.Principal{
		Kind: identityv1.Principal_KIND_USER, UserId: claims.Subject, SessionId: claims.SessionID,
		GlobalAdmin: admin, ExpireTime: timestamppb.New(exp),
	}, nil
}

func (a *Accounts) authenticateAPIKey(ctx context.Context, key string) (*identityv1.Principal, error) {
	publicID, secret, ok := ParseAPIKey(key)
	if !ok {
		return nil, ErrUnauthenticated
	}
	var (
		id, orgID, projectID, createdBy string
		hash                            []byte
		scopes                          []string
		expires, revoked                *time.Time
	)
	// The key's organisation is what we are looking for: an explicit
	// all-organisations lookup by the key's unique public id.
	err := postgres.InOrg(ctx, a.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id::text, org_id::text, coalesce(project_id::text, ''), created_by::text, secret_hash, scopes,
			expires_at, revoked_at FROM api_keys WHERE public_id = $1`, publicID).
			Scan(&id, &orgID, &projectID, &createdBy, &hash, &scopes, &expires, &revoked)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		_ = a.pepper.equal("api_key", secret, make([]byte, 32))
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !a.pepper.equal("api_key", secret, hash) || revoked != nil || (expires != nil && !a.now().Before(*expires)) {
		return nil, ErrUnauthenticated
	}
	// Last use is recorded at most once a minute per key.
	if err := postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1
			AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, id)
		return err
	}); err != nil {
		a.log.WarnContext(ctx, "recording API key use failed", "error", err)
	}
	p := &identityv1.Principal{Kind: identityv1.Principal_KIND_API_KEY, ApiKeyId: id, UserId: createdBy,
		OrgId: orgID, ProjectId: projectID, Scopes: scopes}
	if expires != nil {
		p.ExpireTime = timestamppb.New(*expires)
	}
	return p, nil
}

func isInvalidUUID(err error) bool {
	return err != nil && errors.Is(mapNoRows(err), ErrNotFound)
}
