package identity

import (
	"context"
	"crypto/rand"
	"hash/crc32"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/page"
	"github.com/pythorix/pythorix/platform/postgres"
)

// API key format: "pyx_" + 16-character public id + "_" + 32-character secret
// + 6-character checksum, all base62. The secret carries about 190 bits. The
// fixed prefix and the CRC-32 checksum let secret scanners recognise a leaked
// key without a database; the checksum also rejects typos before any lookup.
//
// Stored: the public id (the display prefix is "pyx_<public id>") and
// HMAC-SHA256(pepper, secret). A keyed hash, not bcrypt: the secret is 190
// random bits, so a slow hash adds no protection against guessing, while it
// would cost ~250 ms per uncached request; the pepper means a database copy
// alone cannot test a candidate key.
const (
	APIKeyPrefix    = "pyx_"
	publicIDLen     = 16
	apiSecretLen    = 32
	checksumLen     = 6
	base62          = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	apiKeyTotalSize = len(APIKeyPrefix) + publicIDLen + 1 + apiSecretLen + checksumLen
)

func randomBase62(n int) (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(base62)))
	for range n {
		i, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b.WriteByte(base62[i.Int64()])
	}
	return b.String(), nil
}

func checksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out)
}

// ParseAPIKey splits a key into public id and secret after checking its shape
// and checksum. It never touches storage.
func ParseAPIKey(key string) (publicID, secret string, ok bool) {
	if len(key) != apiKeyTotalSize || !strings.HasPrefix(key, APIKeyPrefix) {
		return "", "", false
	}
	rest := key[len(APIKeyPrefix):]
	publicID, tail, found := strings.Cut(rest, "_")
	if !found || len(publicID) != publicIDLen || len(tail) != apiSecretLen+checksumLen {
		return "", "", false
	}
	for _, c := range publicID + tail {
		if !strings.ContainsRune(base62, c) {
			return "", "", false
		}
	}
	secret, sum := tail[:apiSecretLen], tail[apiSecretLen:]
	if checksum(key[:len(key)-checksumLen]) != sum {
		return "", "", false
	}
	return publicID, secret, true
}

// APIKey is a key as listed: never its secret.
type APIKey struct {
	ID, OrgID, ProjectID, Name, Prefix, CreatedBy string
	Scopes                                        []string
	CreatedAt                                     time.Time
	ExpiresAt, LastUsedAt, RevokedAt              *time.Time
}

// CreateAPIKey creates a key in an organisation and returns it with the full
// key, which is never available again.
func (a *Accounts) CreateAPIKey(ctx context.Context, orgID, projectID, createdBy, name string, scopes []string, expires *time.Time) (*APIKey, string, error) {
	if expires != nil && !expires.After(a.now()) {
		return nil, "", &invalid.Field{Name: "expireTime", Reason: "must be in the future"}
	}
	if expires != nil && expires.After(a.now().AddDate(1, 0, 1)) {
		return nil, "", &invalid.Field{Name: "expireTime", Reason: "must be at most one year ahead"}
	}
	if projectID != "" {
		if a.projects == nil {
			return nil, "", ErrUnavailable
		}
		org, err := a.projects.OrgOf(ctx, projectID)
		if err != nil {
			return nil, "", err
		}
		if org != orgID {
			return nil, "", &invalid.Field{Name: "projectId", Reason: "is not a project of this organisation"}
		}
	}
	publicID, err := randomBase62(publicIDLen)
	if err != nil {
		return nil, "", err
	}
	secret, err := randomBase62(apiSecretLen)
	if err != nil {
		return nil, "", err
	}
	body := APIKeyPrefix + publicID + "_" + secret
	full := body + checksum(body)
	k := &APIKey{ID: mustUUID(), OrgID: orgID, ProjectID: projectID, Name: name, Prefix: APIKeyPrefix + publicID,
		CreatedBy: createdBy, Scopes: scopes, CreatedAt: a.now(), ExpiresAt: expires}
	var project any
	if projectID != "" {
		project = projectID
	}
	err = postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO api_keys (id, org_id, project_id, name, public_id, secret_hash, scopes, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, k.ID, orgID, project, name, publicID,
			a.pepper.hash("api_key", secret), scopes, createdBy, k.CreatedAt, expires); err != nil {
			return err
		}
		ev := event("identity.api_key.create", "api_key", k.ID, userActor(createdBy),
			map[string]any{"prefix": k.Prefix, "scopes": toAny(scopes), "project_id": projectID})
		ev.OrgId = orgID
		return outbox.Append(ctx, tx, ev)
	})
	if err != nil {
		return nil, "", err
	}
	return k, full, nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ListAPIKeys lists an organisation's keys, newest first.
func (a *Accounts) ListAPIKeys(ctx context.Context, orgID string, pageSize int, pageToken string) ([]*APIKey, string, error) {
	pageSize = page.Size(pageSize)
	after, err := page.After(pageToken)
	if err != nil {
		return nil, "", err
	}
	var keys []*APIKey
	err = postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, org_id::text, coalesce(project_id::text, ''), name, public_id, created_by::text,
			scopes, created_at, expires_at, last_used_at, revoked_at FROM api_keys WHERE org_id = $1 AND id::text < $2
			ORDER BY id DESC LIMIT $3`, orgID, after, pageSize+1)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*APIKey, error) {
			k := &APIKey{}
			var pub string
			err := r.Scan(&k.ID, &k.OrgID, &k.ProjectID, &k.Name, &pub, &k.CreatedBy, &k.Scopes, &k.CreatedAt, &k.ExpiresAt, &k.LastUsedAt, &k.RevokedAt)
			k.Prefix = APIKeyPrefix + pub
			return k, err
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	keys, next := page.Trim(keys, pageSize, func(k *APIKey) string { return k.ID })
	return keys, next, nil
}

// APIKeyCreator returns who created a key of the organisation.
func (a *Accounts) APIKeyCreator(ctx context.Context, orgID, keyID string) (string, error) {
	var creator string
	err := postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT created_by::text FROM api_keys WHERE id = $1 AND org_id = $2`, keyID, orgID).Scan(&creator)
	})
	return creator, mapNoRows(err)
}

// RevokeAPIKey revokes a key of the organisation; a key of another
// organisation is not found.
func (a *Accounts) RevokeAPIKey(ctx context.Context, orgID, keyID, actorID string) error {
	err := postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL`, keyID, orgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		ev := event("identity.api_key.revoke", "api_key", keyID, userActor(actorID), nil)
		ev.OrgId = orgID
		return outbox.Append(ctx, tx, ev)
	})
	if postgres.NotFound(err) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	a.revoker.APIKeys(ctx, keyID)
	return nil
}
