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
	var (
		admin, mfa        bool
		expires, lastSeen time.Time
	)
	// One round trip reads the session and, at most once per touchEvery,
	// records its use: a busy session does not write on every request.
	now := a.now()
	err = a.db.QueryRow(ctx, `WITH live AS (
			SELECT s.id, s.last_seen_at, s.expires_at, s.mfa, u.global_admin FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3 AND s.last_seen_at > $4
				AND u.disabled_at IS NULL),
		touched AS (
			UPDATE sessions s SET last_seen_at = $3 FROM live
			WHERE s.id = live.id AND live.last_seen_at <= $5 AND s.revoked_at IS NULL RETURNING s.last_seen_at)
		SELECT live.global_admin, live.mfa, live.expires_at, coalesce((SELECT last_seen_at FROM touched), live.last_seen_at) FROM live`,
		claims.SessionID, claims.Subject, now, now.Add(-a.idleTimeout), now.Add(-touchEvery)).Scan(&admin, &mfa, &expires, &lastSeen)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidUUID(err) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	// The answer holds until the token, the session or its idle allowance
	// ends, whichever is first: the gateway caches it no longer than that.
	exp := claims.ExpiresAt.Time
	for _, t := range []time.Time{expires, lastSeen.Add(a.idleTimeout)} {
		if t.Before(exp) {
			exp = t
		}
	}
	return &identityv1.Principal{
		Kind: identityv1.Principal_KIND_USER, UserId: claims.Subject, SessionId: claims.SessionID,
		GlobalAdmin: admin, Mfa: mfa, ExpireTime: timestamppb.New(exp),
	}, nil
}

// touchEvery is how stale a session's recorded last use may get before a
// request records it again.
const touchEvery = time.Minute

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
		creatorDisabled                 bool
	)
	// The key's organisation is what we are looking for: an explicit
	// all-organisations lookup by the key's unique public id.
	err := postgres.InOrg(ctx, a.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT k.id::text, k.org_id::text, coalesce(k.project_id::text, ''), k.created_by::text, k.secret_hash,
			k.scopes, k.expires_at, k.revoked_at, coalesce(u.disabled_at IS NOT NULL, false)
			FROM api_keys k LEFT JOIN users u ON u.id = k.created_by WHERE k.public_id = $1`, publicID).
			Scan(&id, &orgID, &projectID, &createdBy, &hash, &scopes, &expires, &revoked, &creatorDisabled)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		_ = a.pepper.equal("api_key", secret, make([]byte, 32))
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !a.pepper.equal("api_key", secret, hash) || revoked != nil || creatorDisabled || (expires != nil && !a.now().Before(*expires)) {
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
