package tenancy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/authz"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/page"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/roles"
)

// Domain errors; the gRPC edge maps them in one place.
var (
	ErrNotFound        = errors.New("not found")
	ErrLastOwner       = errors.New("an organisation keeps at least one owner")
	ErrAboveOwnRole    = errors.New("you cannot grant a role above your own")
	ErrInvitationUsed  = errors.New("invitation is no longer valid")
	ErrEmailMismatch   = errors.New("this invitation is for another email address")
	ErrEmailUnverified = errors.New("verify your email address before accepting invitations")
	ErrAlreadyMember   = errors.New("already a member of this organisation")
	ErrTooManyPending  = errors.New("too many pending invitations")
	ErrTooManyProjects = errors.New("too many projects")
	ErrTooManyOrgs     = errors.New("too many organisations")
	// ErrMFAFirst is turning the two-factor policy on from a session without
	// a second factor: the caller would be locked out the moment it applies.
	ErrMFAFirst = errors.New("enable two-factor authentication and sign in with it first: " +
		"this organisation would refuse your current session")
)

// Limits on what one client can create.
const (
	maxPendingInvitations = 100
	maxProjectsPerOrg     = 200
	maxOrgsPerUser        = 50
	defaultInvitationTTL  = 7 * 24 * time.Hour
)

// Users looks up accounts in identity.
type Users interface {
	Lookup(ctx context.Context, ids []string) (map[string]UserInfo, error)
}

// UserInfo is what tenancy needs of an account.
type UserInfo struct {
	Email, Name string
	Verified    bool
}

// Tenancy is the domain: organisations, memberships, invitations, projects.
type Tenancy struct {
	db        *pgxpool.Pool
	rdb       *redis.Client
	namespace string
	log       *slog.Logger
	users     Users
	now       func() time.Time
}

// Org is an organisation.
type Org struct {
	ID, Name             string
	RequireMFA           bool
	CreatedAt, UpdatedAt time.Time
	Role                 roles.Role // the caller's, where relevant
	JoinedAt             time.Time
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		panic(err)
	}
	return id.String()
}

func event(orgID, actorID, action, resourceType, resourceID string, details map[string]any) *auditv1.EventInput {
	ev := &auditv1.EventInput{OrgId: orgID, Action: action, ResourceType: resourceType, ResourceId: resourceID,
		Actor: &auditv1.Actor{Type: auditv1.ActorType_ACTOR_TYPE_USER, Id: actorID}}
	if details != nil {
		if s, err := structpb.NewStruct(details); err == nil {
			ev.Details = s
		}
	}
	return ev
}

func mapErr(err error) error {
	if postgres.NotFound(err) {
		return ErrNotFound
	}
	return err
}

// Resolve implements authz.Resolver from the database (tenancy's own checks
// and every other service's, through ResolveMembership): the user's role and
// the organisation's two-factor policy, which is answered for non-members too.
func (t *Tenancy) Resolve(ctx context.Context, userID, orgID string) (authz.Membership, error) {
	var (
		role string
		m    authz.Membership
	)
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT o.require_mfa, coalesce(m.role, '') FROM orgs o
			LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = $2 WHERE o.id = $1`, orgID, userID).Scan(&m.RequireMFA, &role)
	})
	if errors.Is(mapErr(err), ErrNotFound) {
		return authz.Membership{}, nil
	}
	if err != nil {
		return authz.Membership{}, err
	}
	if role != "" {
		m.Role = roles.Parse(role)
	}
	return m, nil
}

// RoleIn is the user's role in the organisation (roles.None when not a member).
func (t *Tenancy) RoleIn(ctx context.Context, userID, orgID string) (roles.Role, error) {
	m, err := t.Resolve(ctx, userID, orgID)
	return m.Role, err
}

var _ authz.Resolver = (*Tenancy)(nil)

func (t *Tenancy) changed(ctx context.Context, orgID, userID string) {
	authz.Publish(ctx, t.rdb, t.namespace, orgID, userID, t.log)
}

// CreateOrg creates an organisation with the caller as Owner.
func (t *Tenancy) CreateOrg(ctx context.Context, userID, name string) (*Org, error) {
	o := &Org{ID: newID(), Name: strings.TrimSpace(name), Role: roles.Owner}
	// Counting the user's memberships spans organisations: explicitly.
	err := postgres.InOrg(ctx, t.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE user_id = $1`, userID).Scan(&n); err != nil {
			return err
		}
		if n >= maxOrgsPerUser {
			return ErrTooManyOrgs
		}
		if err := tx.QueryRow(ctx, `INSERT INTO orgs (id, name, created_by) VALUES ($1, $2, $3) RETURNING created_at, updated_at`,
			o.ID, o.Name, userID).Scan(&o.CreatedAt, &o.UpdatedAt); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, 'owner')`, o.ID, userID); err != nil {
			return err
		}
		o.JoinedAt = o.CreatedAt
		return outbox.Append(ctx, tx, event(o.ID, userID, "tenancy.org.create", "org", o.ID, map[string]any{"name": o.Name}))
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// ListOrgs lists the user's organisations with their role.
func (t *Tenancy) ListOrgs(ctx context.Context, userID string, pageSize int, after string) ([]*Org, string, error) {
	pageSize = page.Size(pageSize)
	after, err := page.After(after)
	if err != nil {
		return nil, "", err
	}
	var orgs []*Org
	err = postgres.InOrg(ctx, t.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT o.id::text, o.name, o.require_mfa, o.created_at, o.updated_at, m.role, m.created_at FROM memberships m
			JOIN orgs o ON o.id = m.org_id WHERE m.user_id = $1 AND o.id::text < $2 ORDER BY o.id DESC LIMIT $3`, userID, after, pageSize+1)
		if err != nil {
			return err
		}
		orgs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Org, error) {
			o := &Org{}
			var role string
			err := r.Scan(&o.ID, &o.Name, &o.RequireMFA, &o.CreatedAt, &o.UpdatedAt, &role, &o.JoinedAt)
			o.Role = roles.Parse(role)
			return o, err
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	orgs, next := page.Trim(orgs, pageSize, func(x *Org) string { return x.ID })
	return orgs, next, nil
}

// GetOrg returns an organisation.
func (t *Tenancy) GetOrg(ctx context.Context, orgID string) (*Org, error) {
	o := &Org{}
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id::text, name, require_mfa, created_at, updated_at FROM orgs WHERE id = $1`, orgID).
			Scan(&o.ID, &o.Name, &o.RequireMFA, &o.CreatedAt, &o.UpdatedAt)
	})
	if err != nil {
		return nil, mapErr(err)
	}
	return o, nil
}

// OrgChange is what UpdateOrg changes: the fields that are set.
type OrgChange struct {
	Name       *string
	RequireMFA *bool
}

// Actor is who makes a change, and how they signed in.
type Actor struct {
	UserID string
	// MFA is set when the actor's session was established with a second factor.
	MFA bool
}

// UpdateOrg changes an organisation's name and two-factor policy in one
// transaction, each change audited. Turning the policy on needs an actor
// signed in with a second factor (ErrMFAFirst); a change of policy is
// announced for the whole organisation, so every service's cached
// memberships are dropped at once.
func (t *Tenancy) UpdateOrg(ctx context.Context, actor Actor, orgID string, c OrgChange) (*Org, error) {
	if c.RequireMFA != nil && *c.RequireMFA && !actor.MFA {
		return nil, ErrMFAFirst
	}
	policyChanged := false
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		var current bool
		if err := tx.QueryRow(ctx, `SELECT require_mfa FROM orgs WHERE id = $1 FOR UPDATE`, orgID).Scan(&current); err != nil {
			return err
		}
		if c.Name != nil {
			if _, err := tx.Exec(ctx, `UPDATE orgs SET name = $2, updated_at = now() WHERE id = $1`, orgID, strings.TrimSpace(*c.Name)); err != nil {
				return err
			}
			if err := outbox.Append(ctx, tx, event(orgID, actor.UserID, "tenancy.org.rename", "org", orgID, map[string]any{"name": *c.Name})); err != nil {
				return err
			}
		}
		if c.RequireMFA != nil && *c.RequireMFA != current {
			if _, err := tx.Exec(ctx, `UPDATE orgs SET require_mfa = $2, updated_at = now() WHERE id = $1`, orgID, *c.RequireMFA); err != nil {
				return err
			}
			policyChanged = true
			return outbox.Append(ctx, tx, event(orgID, actor.UserID, "tenancy.org.require_mfa", "org", orgID,
				map[string]any{"require_mfa": *c.RequireMFA, "previous": current}))
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err)
	}
	if policyChanged {
		t.changed(ctx, orgID, "")
	}
	return t.GetOrg(ctx, orgID)
}

// DeleteOrg deletes an organisation with its memberships, invitations and projects.
func (t *Tenancy) DeleteOrg(ctx context.Context, actor, orgID string) error {
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM orgs WHERE id = $1`, orgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "tenancy.org.delete", "org", orgID, nil))
	})
	if err != nil {
		return mapErr(err)
	}
	t.changed(ctx, orgID, "")
	return nil
}

// Member is a membership with the account's details.
type Member struct {
	UserID, Email, Name  string
	Role                 roles.Role
	CreatedAt, UpdatedAt time.Time
}

// ListMembers lists an organisation's members.
func (t *Tenancy) ListMembers(ctx context.Context, orgID string, pageSize int, after string) ([]*Member, string, error) {
	pageSize = page.Size(pageSize)
	after, err := page.After(after)
	if err != nil {
		return nil, "", err
	}
	var members []*Member
	err = postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT user_id::text, role, created_at, updated_at FROM memberships
			WHERE org_id = $1 AND user_id::text < $2 ORDER BY user_id DESC LIMIT $3`, orgID, after, pageSize+1)
		if err != nil {
			return err
		}
		members, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Member, error) {
			m := &Member{}
			var role string
			err := r.Scan(&m.UserID, &role, &m.CreatedAt, &m.UpdatedAt)
			m.Role = roles.Parse(role)
			return m, err
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	members, next := page.Trim(members, pageSize, func(x *Member) string { return x.UserID })
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	if len(ids) > 0 {
		info, err := t.users.Lookup(ctx, ids)
		if err != nil {
			return nil, "", err
		}
		for _, m := range members {
			m.Email, m.Name = info[m.UserID].Email, info[m.UserID].Name
		}
	}
	return members, next, nil
}

// SetRole changes a member's role. Nobody grants above their own rank or
// changes someone ranked above them, and the last Owner stays Owner.
func (t *Tenancy) SetRole(ctx context.Context, actor string, actorRole roles.Role, orgID, userID string, role roles.Role) (*Member, error) {
	if role > actorRole {
		return nil, ErrAboveOwnRole
	}
	m := &Member{UserID: userID, Role: role}
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		current, err := lockMember(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if current > actorRole {
			return ErrAboveOwnRole
		}
		if current == roles.Owner && role != roles.Owner {
			if err := keepAnOwner(ctx, tx, orgID); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `UPDATE memberships SET role = $3, updated_at = now() WHERE org_id = $1 AND user_id = $2
			RETURNING created_at, updated_at`, orgID, userID, role.String()).Scan(&m.CreatedAt, &m.UpdatedAt); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "tenancy.member.role", "member", userID,
			map[string]any{"from": current.String(), "to": role.String()}))
	})
	if err != nil {
		return nil, mapErr(err)
	}
	t.changed(ctx, orgID, userID)
	return m, nil
}

// RemoveMember removes a member (or lets a member leave).
func (t *Tenancy) RemoveMember(ctx context.Context, actor string, actorRole roles.Role, orgID, userID string) error {
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		current, err := lockMember(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if actor != userID && current > actorRole {
			return ErrAboveOwnRole
		}
		if current == roles.Owner {
			if err := keepAnOwner(ctx, tx, orgID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "tenancy.member.remove", "member", userID, map[string]any{"role": current.String()}))
	})
	if err != nil {
		return mapErr(err)
	}
	t.changed(ctx, orgID, userID)
	return nil
}

func lockMember(ctx context.Context, tx pgx.Tx, orgID, userID string) (roles.Role, error) {
	// Lock the organisation's owners first so two concurrent demotions cannot
	// each see the other as the remaining owner.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE`, orgID); err != nil {
		return roles.None, err
	}
	var role string
	err := tx.QueryRow(ctx, `SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID).Scan(&role)
	if err != nil {
		return roles.None, mapErr(err)
	}
	return roles.Parse(role), nil
}

func keepAnOwner(ctx context.Context, tx pgx.Tx, orgID string) error {
	var owners int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE org_id = $1 AND role = 'owner'`, orgID).Scan(&owners); err != nil {
		return err
	}
	if owners <= 1 {
		return ErrLastOwner
	}
	return nil
}

// Invitation is an invitation to join an organisation.
type Invitation struct {
	ID, OrgID, Email, InvitedBy, AcceptedBy string
	Role                                    roles.Role
	CreatedAt, ExpiresAt                    time.Time
	AcceptedAt, RevokedAt                   *time.Time
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Invite creates an invitation and returns it with its token (shown once).
// The token has 256 bits, so a plain SHA-256 is enough to store it.
func (t *Tenancy) Invite(ctx context.Context, actor string, actorRole roles.Role, orgID, email string, role roles.Role, ttl time.Duration) (*Invitation, string, error) {
	if role > actorRole {
		return nil, "", ErrAboveOwnRole
	}
	if ttl == 0 {
		ttl = defaultInvitationTTL
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	token := "pyxinv_" + base64.RawURLEncoding.EncodeToString(raw)
	inv := &Invitation{ID: newID(), OrgID: orgID, Email: strings.ToLower(strings.TrimSpace(email)), InvitedBy: actor, Role: role}
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		var pending int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM invitations WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
			AND expires_at > now()`, orgID).Scan(&pending); err != nil {
			return err
		}
		if pending >= maxPendingInvitations {
			return ErrTooManyPending
		}
		if err := tx.QueryRow(ctx, `INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) RETURNING created_at, expires_at`,
			inv.ID, orgID, inv.Email, role.String(), tokenHash(token), actor, ttl.Seconds()).Scan(&inv.CreatedAt, &inv.ExpiresAt); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "tenancy.invitation.create", "invitation", inv.ID,
			map[string]any{"role": role.String(), "expires": inv.ExpiresAt.Format(time.RFC3339)}))
	})
	if err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

// ListInvitations lists an organisation's invitations, newest first.
func (t *Tenancy) ListInvitations(ctx context.Context, orgID string, pageSize int, after string) ([]*Invitation, string, error) {
	pageSize = page.Size(pageSize)
	after, err := page.After(after)
	if err != nil {
		return nil, "", err
	}
	var list []*Invitation
	err = postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, org_id::text, email, role, invited_by::text, coalesce(accepted_by::text, ''),
			created_at, expires_at, accepted_at, revoked_at FROM invitations WHERE org_id = $1 AND id::text < $2
			ORDER BY id DESC LIMIT $3`, orgID, after, pageSize+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Invitation, error) {
			i := &Invitation{}
			var role string
			err := r.Scan(&i.ID, &i.OrgID, &i.Email, &role, &i.InvitedBy, &i.AcceptedBy, &i.CreatedAt, &i.ExpiresAt, &i.AcceptedAt, &i.RevokedAt)
			i.Role = roles.Parse(role)
			return i, err
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	list, next := page.Trim(list, pageSize, func(x *Invitation) string { return x.ID })
	return list, next, nil
}

// RevokeInvitation revokes a pending invitation of the organisation.
func (t *Tenancy) RevokeInvitation(ctx context.Context, actor, orgID, id string) error {
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = now() WHERE id = $1 AND org_id = $2
			AND revoked_at IS NULL AND accepted_at IS NULL`, id, orgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "tenancy.invitation.revoke", "invitation", id, nil))
	})
	return mapErr(err)
}

// Accept makes the signed-in user a member, if the invitation is pending,
// unexpired and addressed to the user's verified email.
func (t *Tenancy) Accept(ctx context.Context, userID, token string) (*Org, error) {
	info, err := t.users.Lookup(ctx, []string{userID})
	if err != nil {
		return nil, err
	}
	me, ok := info[userID]
	if !ok {
		return nil, ErrNotFound
	}
	var orgID string
	var role roles.Role
	// The token names the organisation: an explicit cross-organisation lookup.
	err = postgres.InOrg(ctx, t.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		var id, email, r string
		err := tx.QueryRow(ctx, `SELECT id::text, org_id::text, email, role FROM invitations WHERE token_hash = $1
			AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() FOR UPDATE`, tokenHash(token)).Scan(&id, &orgID, &email, &r)
		if err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrInvitationUsed
			}
			return err
		}
		if !me.Verified {
			return ErrEmailUnverified
		}
		if !strings.EqualFold(me.Email, email) {
			return ErrEmailMismatch
		}
		role = roles.Parse(r)
		tag, err := tx.Exec(ctx, `INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, orgID, userID, r)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrAlreadyMember
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1`, id, userID); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, userID, "tenancy.invitation.accept", "invitation", id, map[string]any{"role": r}))
	})
	if err != nil {
		return nil, err
	}
	t.changed(ctx, orgID, userID)
	o, err := t.GetOrg(ctx, orgID)
	if err != nil {
		return nil, err
	}
	o.Role, o.JoinedAt = role, t.now()
	return o, nil
}
