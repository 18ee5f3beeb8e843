package scanning

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/page"
	"github.com/pythorix/pythorix/platform/postgres"
)

// Domain errors; the gRPC edge maps them in one place.
var (
	ErrNotFound      = errors.New("not found")
	ErrDuplicateHost = errors.New("an asset with this host already exists")
	ErrTooMany       = errors.New("too many assets")
)

const maxAssetsPerOrg = 1000

// Asset is something an organisation owns and may have scanned.
type Asset struct {
	ID, OrgID, ProjectID, Host     string
	Kind, Environment, Criticality string
	Owner                          string
	Tags                           []string
	VerificationToken              string
	VerifiedAt                     *time.Time
	VerificationMethod             string
	CreatedAt, UpdatedAt           time.Time
}

// Grant is explicit, time-limited permission to scan one asset.
type Grant struct {
	ID, OrgID, AssetID, GrantedBy, Note, RevokedBy string
	CreatedAt, ExpiresAt                           time.Time
	RevokedAt                                      *time.Time
}

// Active reports whether the grant allows scanning now.
func (g *Grant) Active(now time.Time) bool { return g.RevokedAt == nil && now.Before(g.ExpiresAt) }

// Assets is the domain of assets, ownership and grants.
type Assets struct {
	db       *pgxpool.Pool
	guard    *egress.Guard
	verifier *Verifier
	now      func() time.Time
	// scans cancels the scans a revoked grant or deleted asset authorised.
	scans *Scans
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		panic(err)
	}
	return id.String()
}

func token() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "pythorix-verification=" + base64.RawURLEncoding.EncodeToString(b)
}

func event(orgID, actor, action, resourceType, id string, details map[string]any) *auditv1.EventInput {
	ev := &auditv1.EventInput{OrgId: orgID, Action: action, ResourceType: resourceType, ResourceId: id,
		Actor: &auditv1.Actor{Type: auditv1.ActorType_ACTOR_TYPE_USER, Id: actor}}
	if details != nil {
		ev.Details, _ = structpb.NewStruct(details)
	}
	return ev
}

func mapErr(err error) error {
	if postgres.NotFound(err) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrDuplicateHost
	}
	return err
}

// checkHost refuses IP literals in ranges the egress guard would not dial:
// registering one would only make the scanner a way into private networks.
func (a *Assets) checkHost(host string) error {
	h := strings.ToLower(host)
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if p, err := strconv.Atoi(h[i+1:]); err != nil || p < 1 || p > 65535 {
			return &invalid.Field{Name: "host", Reason: "has a port outside 1-65535"}
		}
		h = h[:i]
	}
	ip, err := netip.ParseAddr(h)
	if err == nil {
		if !a.guard.Allowed(ip) {
			return &invalid.Field{Name: "host", Reason: "is an address in a private, loopback or link-local range"}
		}
		return nil
	}
	// Not a dotted-quad: a final label of digits only ("127.1", "2130706433")
	// is no DNS name but a short or numeric IP form some resolvers accept.
	labels := strings.Split(h, ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return &invalid.Field{Name: "host", Reason: "is a numeric address form; use a DNS name or a dotted IPv4 address"}
	}
	return nil
}

const assetCols = `id::text, org_id::text, coalesce(project_id::text, ''), host, kind, environment, criticality, owner, tags,
	verification_token, verified_at, verification_method, created_at, updated_at`

func scanAsset(r pgx.Row) (*Asset, error) {
	x := &Asset{}
	err := r.Scan(&x.ID, &x.OrgID, &x.ProjectID, &x.Host, &x.Kind, &x.Environment, &x.Criticality, &x.Owner, &x.Tags,
		&x.VerificationToken, &x.VerifiedAt, &x.VerificationMethod, &x.CreatedAt, &x.UpdatedAt)
	return x, err
}

// Create registers an asset with a fresh ownership token.
func (a *Assets) Create(ctx context.Context, actor string, x *Asset) (*Asset, error) {
	x.Host = strings.ToLower(x.Host)
	if err := a.checkHost(x.Host); err != nil {
		return nil, err
	}
	if x.Tags == nil {
		x.Tags = []string{}
	}
	var out *Asset
	err := postgres.InOrg(ctx, a.db, x.OrgID, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM assets WHERE org_id = $1`, x.OrgID).Scan(&n); err != nil {
			return err
		}
		if n >= maxAssetsPerOrg {
			return ErrTooMany
		}
		var project any
		if x.ProjectID != "" {
			project = x.ProjectID
		}
		var err error
		out, err = scanAsset(tx.QueryRow(ctx, `INSERT INTO assets (id, org_id, project_id, host, kind, environment, criticality, owner, tags,
			verification_token) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+assetCols,
			newID(), x.OrgID, project, x.Host, x.Kind, x.Environment, x.Criticality, x.Owner, x.Tags, token()))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(x.OrgID, actor, "scanning.asset.create", "asset", out.ID, map[string]any{"host": out.Host}))
	})
	return out, mapErr(err)
}

// Get returns an asset of the organisation.
func (a *Assets) Get(ctx context.Context, orgID, id string) (*Asset, error) {
	var out *Asset
	err := postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		var err error
		out, err = scanAsset(tx.QueryRow(ctx, `SELECT `+assetCols+` FROM assets WHERE id = $1 AND org_id = $2`, id, orgID))
		return err
	})
	return out, mapErr(err)
}

// AssetFilter narrows a listing.
type AssetFilter struct {
	ProjectID, Kind, Environment, After string
	Limit                               int
}

// List pages through the organisation's assets, newest first.
func (a *Assets) List(ctx context.Context, orgID string, f AssetFilter) ([]*Asset, string, error) {
	f.Limit = page.Size(f.Limit)
	after, err := page.After(f.After)
	if err != nil {
		return nil, "", err
	}
	f.After = after
	var list []*Asset
	err = postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+assetCols+` FROM assets WHERE org_id = $1 AND id::text < $2
			AND ($3 = '' OR project_id::text = $3) AND ($4 = '' OR kind = $4) AND ($5 = '' OR environment = $5)
			ORDER BY id DESC LIMIT $6`, orgID, f.After, f.ProjectID, f.Kind, f.Environment, f.Limit+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Asset, error) { return scanAsset(r) })
		return err
	})
	if err != nil {
		return nil, "", err
	}
	list, next := page.Trim(list, f.Limit, func(x *Asset) string { return x.ID })
	return list, next, nil
}

// AssetUpdate holds the fields to change; nil leaves one alone.
type AssetUpdate struct {
	Kind, Environment, Criticality, Owner, ProjectID *string
	Tags                                             []string
	ClearTags                                        bool
}

// Update changes an asset of the organisation (its host never changes).
func (a *Assets) Update(ctx context.Context, actor, orgID, id string, u AssetUpdate) (*Asset, error) {
	var tags any
	switch {
	case u.ClearTags:
		tags = []string{}
	case len(u.Tags) > 0:
		tags = u.Tags
	}
	var project any
	if u.ProjectID != nil {
		project = *u.ProjectID
	}
	var out *Asset
	err := postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		var err error
		out, err = scanAsset(tx.QueryRow(ctx, `UPDATE assets SET kind = coalesce($3, kind), environment = coalesce($4, environment),
			criticality = coalesce($5, criticality), owner = coalesce($6, owner), tags = coalesce($7::text[], tags),
			project_id = CASE WHEN $8::text IS NULL THEN project_id WHEN $8 = '' THEN NULL ELSE $8::uuid END, updated_at = now()
			WHERE id = $1 AND org_id = $2 RETURNING `+assetCols, id, orgID, u.Kind, u.Environment, u.Criticality, u.Owner, tags, project))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "scanning.asset.update", "asset", id, nil))
	})
	return out, mapErr(err)
}

// Delete removes an asset and its grants.
func (a *Assets) Delete(ctx context.Context, actor, orgID, id string) error {
	return mapErr(postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM assets WHERE id = $1 AND org_id = $2`, id, orgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if err := a.scans.cancelInTx(ctx, tx, "asset_id = $1", id, "the asset was deleted"); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "scanning.asset.delete", "asset", id, nil))
	}))
}

// Verify checks ownership by the chosen method and records the result; a
// failed check answers with the reason and changes nothing.
func (a *Assets) Verify(ctx context.Context, actor, orgID, id, method string) (*Asset, string, error) {
	x, err := a.Get(ctx, orgID, id)
	if err != nil {
		return nil, "", err
	}
	ok, reason := a.verifier.Check(ctx, method, x.Host, x.VerificationToken)
	if !ok {
		return x, reason, nil
	}
	var out *Asset
	err = postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		var err error
		out, err = scanAsset(tx.QueryRow(ctx, `UPDATE assets SET verified_at = now(), verification_method = $3, updated_at = now()
			WHERE id = $1 AND org_id = $2 RETURNING `+assetCols, id, orgID, method))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "scanning.asset.verify", "asset", id, map[string]any{"method": method}))
	})
	return out, "", mapErr(err)
}

// CreateGrant permits scanning an asset until expires (at most 90 days).
func (a *Assets) CreateGrant(ctx context.Context, actor, orgID, assetID, note string, expires time.Time) (*Grant, error) {
	now := a.now()
	if !expires.After(now) {
		return nil, &invalid.Field{Name: "expireTime", Reason: "must be in the future"}
	}
	if expires.After(now.Add(90 * 24 * time.Hour)) {
		return nil, &invalid.Field{Name: "expireTime", Reason: "must be at most 90 days ahead"}
	}
	g := &Grant{ID: newID(), OrgID: orgID, AssetID: assetID, GrantedBy: actor, Note: note, ExpiresAt: expires}
	err := postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM assets WHERE id = $1 AND org_id = $2)`, assetID, orgID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return ErrNotFound
		}
		if err := tx.QueryRow(ctx, `INSERT INTO grants (id, org_id, asset_id, granted_by, note, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING created_at, expires_at`, g.ID, orgID, assetID, actor, note, expires).Scan(&g.CreatedAt, &g.ExpiresAt); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "scanning.grant.create", "grant", g.ID,
			map[string]any{"asset_id": assetID, "expires": expires.UTC().Format(time.RFC3339)}))
	})
	return g, mapErr(err)
}

// ListGrants lists an asset's grants, newest first.
func (a *Assets) ListGrants(ctx context.Context, orgID, assetID string) ([]*Grant, error) {
	var out []*Grant
	err := postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, org_id::text, asset_id::text, granted_by::text, note, coalesce(revoked_by::text, ''),
			created_at, expires_at, revoked_at FROM grants WHERE org_id = $1 AND asset_id = $2 ORDER BY id DESC LIMIT 100`, orgID, assetID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Grant, error) {
			g := &Grant{}
			return g, r.Scan(&g.ID, &g.OrgID, &g.AssetID, &g.GrantedBy, &g.Note, &g.RevokedBy, &g.CreatedAt, &g.ExpiresAt, &g.RevokedAt)
		})
		return err
	})
	return out, mapErr(err)
}

// RevokeGrant ends a grant at once.
func (a *Assets) RevokeGrant(ctx context.Context, actor, orgID, assetID, id string) error {
	return mapErr(postgres.InOrg(ctx, a.db, orgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = now(), revoked_by = $4 WHERE id = $1 AND asset_id = $2 AND org_id = $3
			AND revoked_at IS NULL`, id, assetID, orgID, actor)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if err := a.scans.cancelInTx(ctx, tx, "grant_id = $1", id, "the scan grant was revoked"); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "scanning.grant.revoke", "grant", id, map[string]any{"asset_id": assetID}))
	}))
}
