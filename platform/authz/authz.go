package authz

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/revocation"
	"github.com/pythorix/pythorix/platform/roles"
)

// Resolver answers a user's membership of an organisation.
type Resolver interface {
	Resolve(ctx context.Context, userID, orgID string) (Membership, error)
}

// Membership is a user's standing in an organisation: the role (roles.None
// when not a member) and the organisation's policy that applies to it.
type Membership struct {
	Role roles.Role
	// RequireMFA is the organisation's two-factor policy, known whether or not
	// the user is a member (platform admins acting in it are subject to it).
	RequireMFA bool
}

// Checker implements authn.MembershipChecker with an in-process cache.
type Checker struct {
	resolver Resolver
	ttl      time.Duration

	mu    sync.Mutex
	gen   uint64 // bumped by every Forget and reset
	cache map[[2]string]entry
	// down is set while Watch's subscription is broken: changes may be
	// missed, so nothing is served from or put in the cache.
	down atomic.Bool
}

type entry struct {
	m       Membership
	expires time.Time
}

// NewChecker caches resolutions for ttl (invalidated earlier by Watch).
func NewChecker(r Resolver, ttl time.Duration) *Checker {
	return &Checker{resolver: r, ttl: ttl, cache: map[[2]string]entry{}}
}

var errNoOrg = func() error {
	st, _ := status.New(codes.InvalidArgument, "invalid request: X-Org-Id: the active organisation is required").
		WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "X-Org-Id", Description: "header with the organisation id is required"}}})
	return st.Err()
}()

// errNotFound hides whether a foreign organisation exists.
var errNotFound = status.Error(codes.NotFound, "organisation not found")

// MFARequiredReason is the google.rpc.ErrorInfo reason of a call refused by an
// organisation's two-factor policy, for clients to recognise.
const MFARequiredReason = "MFA_REQUIRED"

// errMFARequired refuses a session without a second factor in an organisation
// that requires one; it names the way out, since every role gets it.
var errMFARequired = func() error {
	st, _ := status.New(codes.PermissionDenied, "this organisation requires two-factor authentication: "+
		"enable it (POST /v1/me/totp:enroll, then /v1/me/totp:confirm) and sign in again with your code").
		WithDetails(&errdetails.ErrorInfo{Reason: MFARequiredReason, Domain: "pythorix.io",
			Metadata: map[string]string{"enroll": "/v1/me/totp:enroll"}})
	return st.Err()
}()

// Check implements authn.MembershipChecker.
func (c *Checker) Check(ctx context.Context, p *identityv1.Principal, orgID string, rule *optionsv1.Access) error {
	permission := rule.GetPermission()
	if orgID == "" {
		return errNoOrg
	}
	if _, err := uuid.Parse(orgID); err != nil {
		return errNotFound
	}
	switch p.GetKind() {
	case identityv1.Principal_KIND_USER:
		m, err := c.membership(ctx, p.GetUserId(), orgID)
		if err != nil {
			return err
		}
		role := m.Role
		if role == roles.None && p.GetGlobalAdmin() {
			role = roles.Admin // platform admins act as Admin in every organisation
		}
		if role == roles.None {
			return errNotFound
		}
		// Whatever the role, platform admins included: the policy is the
		// organisation's. API keys (below) are the machines' pathway, created
		// by a member who passed this check, and are not subject to it.
		if m.RequireMFA && !p.GetMfa() {
			return errMFARequired
		}
		if !roles.Allows(role, permission) {
			return status.Errorf(codes.PermissionDenied, "your role (%s) does not allow %s", role, permission)
		}
		return nil
	case identityv1.Principal_KIND_API_KEY:
		if p.GetOrgId() != orgID {
			return errNotFound
		}
		if p.GetProjectId() != "" && !rule.GetProjectKeys() {
			return status.Error(codes.PermissionDenied, "project API keys cannot call this method")
		}
		if !slices.Contains(p.GetScopes(), permission) {
			return status.Errorf(codes.PermissionDenied, "the API key's scopes do not include %s", permission)
		}
		// A key never exceeds what its creator may still do in the organisation.
		m, err := c.membership(ctx, p.GetUserId(), orgID)
		if err != nil {
			return err
		}
		if !roles.Allows(m.Role, permission) {
			return status.Errorf(codes.PermissionDenied, "the API key's creator may no longer %s", permission)
		}
		return nil
	}
	return status.Error(codes.Unauthenticated, "authentication required")
}

// membership answers from the cache, or asks the resolver and caches the
// answer. The organisation's policy is cached with each member's role, so a
// change of policy is announced for the whole organisation (Publish with no
// user) and takes effect as a role change does.
func (c *Checker) membership(ctx context.Context, userID, orgID string) (Membership, error) {
	key := [2]string{orgID, userID}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.cache[key]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) && !c.down.Load() {
		return e.m, nil
	}
	m, err := c.resolver.Resolve(ctx, userID, orgID)
	if err != nil {
		if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
			return Membership{}, status.Error(codes.Unavailable, "authorization temporarily unavailable")
		}
		return Membership{}, err
	}
	c.mu.Lock()
	if c.gen != gen || c.down.Load() {
		// A membership change arrived meanwhile, or changes cannot be heard:
		// use the answer once, cache nothing.
		c.mu.Unlock()
		return m, nil
	}
	if len(c.cache) > 100_000 {
		c.cache = map[[2]string]entry{}
	}
	c.cache[key] = entry{m: m, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return m, nil
}

// RoleOf returns a user's role in an organisation (cached), roles.None when
// not a member; platform admins are not promoted here.
func (c *Checker) RoleOf(ctx context.Context, userID, orgID string) (roles.Role, error) {
	m, err := c.membership(ctx, userID, orgID)
	return m.Role, err
}

// Forget drops cached memberships: one member's, or (userID "") a whole
// organisation's, as a change of its policy needs.
func (c *Checker) Forget(orgID, userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if userID != "" {
		delete(c.cache, [2]string{orgID, userID})
		return
	}
	for k := range c.cache {
		if k[0] == orgID {
			delete(c.cache, k)
		}
	}
}

// state follows Watch's subscription: any change drops the cache, and
// while it is down nothing is cached.
func (c *Checker) state(live bool) {
	c.mu.Lock()
	c.gen++
	c.cache = map[[2]string]entry{}
	c.down.Store(!live)
	c.mu.Unlock()
}

// Channel carries membership changes ("<org>:<user>" or "<org>:*").
func Channel(namespace string) string { return namespace + ":memberships" }

// Publish announces a change of one member (or, userID "", of the whole org).
func Publish(ctx context.Context, rdb *redis.Client, namespace, orgID, userID string, log *slog.Logger) {
	if userID == "" {
		userID = "*"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := rdb.Publish(ctx, Channel(namespace), orgID+":"+userID).Err(); err != nil {
		log.ErrorContext(ctx, "membership change announcement failed", "org", orgID, "error", err)
	}
}

// Watch applies announced changes to the cache until ctx ends; when the
// subscription restarts the whole cache is dropped (changes may have been missed).
func (c *Checker) Watch(ctx context.Context, rdb *redis.Client, namespace string, log *slog.Logger) {
	revocation.Listen(ctx, rdb, Channel(namespace), log, func(payload string) {
		org, user, _ := strings.Cut(payload, ":")
		if user == "*" {
			user = ""
		}
		c.Forget(org, user)
	}, c.state)
}

// TenancyResolver asks the tenancy service over mTLS.
type TenancyResolver struct {
	Client tenancyv1.TenancyServiceClient
}

// Resolve implements Resolver.
func (t TenancyResolver) Resolve(ctx context.Context, userID, orgID string) (Membership, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := t.Client.ResolveMembership(ctx, &tenancyv1.ResolveMembershipRequest{UserId: userID, OrgId: orgID})
	if err != nil {
		return Membership{}, err
	}
	m := Membership{RequireMFA: resp.GetRequireMfa()}
	if resp.GetMember() {
		m.Role = FromProto(resp.GetRole())
	}
	return m, nil
}

// protoRoles pairs the API's role enum with roles.Role.
var protoRoles = map[tenancyv1.Role]roles.Role{
	tenancyv1.Role_ROLE_OWNER: roles.Owner, tenancyv1.Role_ROLE_ADMIN: roles.Admin, tenancyv1.Role_ROLE_SECURITY: roles.Security,
	tenancyv1.Role_ROLE_DEVELOPER: roles.Developer, tenancyv1.Role_ROLE_VIEWER: roles.Viewer,
}

// FromProto maps the API's role enum onto roles.Role (None when unspecified).
func FromProto(r tenancyv1.Role) roles.Role { return protoRoles[r] }

// ToProto maps roles.Role onto the API's enum.
func ToProto(r roles.Role) tenancyv1.Role {
	for p, role := range protoRoles {
		if role == r {
			return p
		}
	}
	return tenancyv1.Role_ROLE_UNSPECIFIED
}
