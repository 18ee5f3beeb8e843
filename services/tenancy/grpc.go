package tenancy

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/authz"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/roles"
	"github.com/pythorix/pythorix/platform/server"
)

// Service implements tenancyv1.TenancyServiceServer.
type Service struct {
	tenancyv1.UnimplementedTenancyServiceServer
	t   *Tenancy
	log *slog.Logger
}

var _ tenancyv1.TenancyServiceServer = (*Service)(nil)

// identityUsers looks accounts up in identity over mTLS.
type identityUsers struct {
	client identityv1.IdentityServiceClient
}

func (u identityUsers) Lookup(ctx context.Context, ids []string) (map[string]UserInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := u.client.LookupUsers(ctx, &identityv1.LookupUsersRequest{Ids: ids})
	if err != nil {
		return nil, err
	}
	out := map[string]UserInfo{}
	for _, usr := range resp.GetUsers() {
		out[usr.GetId()] = UserInfo{Email: usr.GetEmail(), Name: usr.GetName(), Verified: usr.GetEmailVerified()}
	}
	return out, nil
}

// Options wire tenancy into the shared server. Tenancy answers memberships
// from its own database, so its authorization needs no network call.
func Options(cfg config.Service) (server.Options, error) {
	t := &Tenancy{now: time.Now}
	return server.Options{
		Migrations: Migrations(),
		Resolver:   t,
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			conn, err := deps.Dial("identity", cfg.IdentityAddr)
			if err != nil {
				return err
			}
			t.db, t.rdb, t.namespace, t.log = deps.DB, deps.Redis, deps.RedisNamespace, deps.Logger
			t.users = identityUsers{client: identityv1.NewIdentityServiceClient(conn)}
			tenancyv1.RegisterTenancyServiceServer(reg, &Service{t: t, log: deps.Logger})
			return nil
		},
	}, nil
}

// tenancyCodes are tenancy's domain errors and their status codes.
var tenancyCodes = map[error]codes.Code{
	ErrNotFound: codes.NotFound, ErrAboveOwnRole: codes.PermissionDenied, ErrEmailMismatch: codes.PermissionDenied,
	ErrLastOwner: codes.FailedPrecondition, ErrMFAFirst: codes.FailedPrecondition, ErrInvitationUsed: codes.FailedPrecondition, ErrEmailUnverified: codes.FailedPrecondition,
	ErrAlreadyMember:  codes.AlreadyExists,
	ErrTooManyPending: codes.ResourceExhausted, ErrTooManyProjects: codes.ResourceExhausted, ErrTooManyOrgs: codes.ResourceExhausted,
}

func (s *Service) toStatus(ctx context.Context, err error) error {
	return server.StatusOf(ctx, s.log, err, tenancyCodes)
}

func caller(ctx context.Context) string { return authn.PrincipalFrom(ctx).GetUserId() }

// callerRole is the caller's rank in the active organisation (platform admins rank as Admin).
func (s *Service) callerRole(ctx context.Context) (roles.Role, error) {
	p := authn.PrincipalFrom(ctx)
	r, err := s.t.RoleIn(ctx, p.GetUserId(), authn.OrgFrom(ctx))
	if err == nil && r == roles.None && p.GetGlobalAdmin() {
		r = roles.Admin
	}
	return r, err
}

func orgProto(o *Org) *tenancyv1.Org {
	return &tenancyv1.Org{Id: o.ID, Name: o.Name, RequireMfa: o.RequireMFA, CreateTime: timestamppb.New(o.CreatedAt), UpdateTime: timestamppb.New(o.UpdatedAt)}
}

func membershipProto(o *Org) *tenancyv1.OrgMembership {
	return &tenancyv1.OrgMembership{Org: orgProto(o), Role: authz.ToProto(o.Role), JoinTime: timestamppb.New(o.JoinedAt)}
}

// CreateOrg implements the RPC.
func (s *Service) CreateOrg(ctx context.Context, r *tenancyv1.CreateOrgRequest) (*tenancyv1.CreateOrgResponse, error) {
	o, err := s.t.CreateOrg(ctx, caller(ctx), r.GetName())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.CreateOrgResponse{Org: orgProto(o)}, nil
}

// ListOrgs implements the RPC.
func (s *Service) ListOrgs(ctx context.Context, r *tenancyv1.ListOrgsRequest) (*tenancyv1.ListOrgsResponse, error) {
	orgs, next, err := s.t.ListOrgs(ctx, caller(ctx), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &tenancyv1.ListOrgsResponse{NextPageToken: next}
	for _, o := range orgs {
		out.Memberships = append(out.Memberships, membershipProto(o))
	}
	return out, nil
}

// GetOrg implements the RPC.
func (s *Service) GetOrg(ctx context.Context, _ *tenancyv1.GetOrgRequest) (*tenancyv1.GetOrgResponse, error) {
	o, err := s.t.GetOrg(ctx, authn.OrgFrom(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.GetOrgResponse{Org: orgProto(o)}, nil
}

// UpdateOrg implements the RPC.
func (s *Service) UpdateOrg(ctx context.Context, r *tenancyv1.UpdateOrgRequest) (*tenancyv1.UpdateOrgResponse, error) {
	p := authn.PrincipalFrom(ctx)
	o, err := s.t.UpdateOrg(ctx, Actor{UserID: p.GetUserId(), MFA: p.GetMfa()}, authn.OrgFrom(ctx),
		OrgChange{Name: r.Name, RequireMFA: r.RequireMfa})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.UpdateOrgResponse{Org: orgProto(o)}, nil
}

// DeleteOrg implements the RPC.
func (s *Service) DeleteOrg(ctx context.Context, _ *tenancyv1.DeleteOrgRequest) (*tenancyv1.DeleteOrgResponse, error) {
	return &tenancyv1.DeleteOrgResponse{}, s.toStatus(ctx, s.t.DeleteOrg(ctx, caller(ctx), authn.OrgFrom(ctx)))
}

func memberProto(orgID string, m *Member) *tenancyv1.Member {
	return &tenancyv1.Member{UserId: m.UserID, OrgId: orgID, Email: m.Email, Name: m.Name, Role: authz.ToProto(m.Role),
		CreateTime: timestamppb.New(m.CreatedAt), UpdateTime: timestamppb.New(m.UpdatedAt)}
}

// ListMembers implements the RPC.
func (s *Service) ListMembers(ctx context.Context, r *tenancyv1.ListMembersRequest) (*tenancyv1.ListMembersResponse, error) {
	org := authn.OrgFrom(ctx)
	members, next, err := s.t.ListMembers(ctx, org, int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &tenancyv1.ListMembersResponse{NextPageToken: next}
	for _, m := range members {
		out.Members = append(out.Members, memberProto(org, m))
	}
	return out, nil
}

// UpdateMember implements the RPC.
func (s *Service) UpdateMember(ctx context.Context, r *tenancyv1.UpdateMemberRequest) (*tenancyv1.UpdateMemberResponse, error) {
	actorRole, err := s.callerRole(ctx)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	m, err := s.t.SetRole(ctx, caller(ctx), actorRole, authn.OrgFrom(ctx), r.GetUserId(), authz.FromProto(r.GetRole()))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.UpdateMemberResponse{Member: memberProto(authn.OrgFrom(ctx), m)}, nil
}

// RemoveMember implements the RPC.
func (s *Service) RemoveMember(ctx context.Context, r *tenancyv1.RemoveMemberRequest) (*tenancyv1.RemoveMemberResponse, error) {
	actorRole, err := s.callerRole(ctx)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.RemoveMemberResponse{}, s.toStatus(ctx, s.t.RemoveMember(ctx, caller(ctx), actorRole, authn.OrgFrom(ctx), r.GetUserId()))
}

func invitationProto(i *Invitation) *tenancyv1.Invitation {
	out := &tenancyv1.Invitation{Id: i.ID, OrgId: i.OrgID, Email: i.Email, Role: authz.ToProto(i.Role), InviterId: i.InvitedBy,
		CreateTime: timestamppb.New(i.CreatedAt), ExpireTime: timestamppb.New(i.ExpiresAt), AcceptedBy: i.AcceptedBy}
	if i.AcceptedAt != nil {
		out.AcceptTime = timestamppb.New(*i.AcceptedAt)
	}
	if i.RevokedAt != nil {
		out.RevokeTime = timestamppb.New(*i.RevokedAt)
	}
	return out
}

// CreateInvitation implements the RPC.
func (s *Service) CreateInvitation(ctx context.Context, r *tenancyv1.CreateInvitationRequest) (*tenancyv1.CreateInvitationResponse, error) {
	actorRole, err := s.callerRole(ctx)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	inv, token, err := s.t.Invite(ctx, caller(ctx), actorRole, authn.OrgFrom(ctx), r.GetEmail(), authz.FromProto(r.GetRole()), r.GetTtl().AsDuration())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.CreateInvitationResponse{Invitation: invitationProto(inv), Token: token}, nil
}

// ListInvitations implements the RPC.
func (s *Service) ListInvitations(ctx context.Context, r *tenancyv1.ListInvitationsRequest) (*tenancyv1.ListInvitationsResponse, error) {
	list, next, err := s.t.ListInvitations(ctx, authn.OrgFrom(ctx), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &tenancyv1.ListInvitationsResponse{NextPageToken: next}
	for _, i := range list {
		out.Invitations = append(out.Invitations, invitationProto(i))
	}
	return out, nil
}

// RevokeInvitation implements the RPC.
func (s *Service) RevokeInvitation(ctx context.Context, r *tenancyv1.RevokeInvitationRequest) (*tenancyv1.RevokeInvitationResponse, error) {
	return &tenancyv1.RevokeInvitationResponse{}, s.toStatus(ctx, s.t.RevokeInvitation(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId()))
}

// AcceptInvitation implements the RPC.
func (s *Service) AcceptInvitation(ctx context.Context, r *tenancyv1.AcceptInvitationRequest) (*tenancyv1.AcceptInvitationResponse, error) {
	o, err := s.t.Accept(ctx, caller(ctx), r.GetToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.AcceptInvitationResponse{Membership: membershipProto(o)}, nil
}

func projectProto(p *Project) *tenancyv1.Project {
	return &tenancyv1.Project{Id: p.ID, OrgId: p.OrgID, Name: p.Name, Description: p.Description, AllowedOrigins: p.AllowedOrigins,
		CreateTime: timestamppb.New(p.CreatedAt), UpdateTime: timestamppb.New(p.UpdatedAt)}
}

// CreateProject implements the RPC.
func (s *Service) CreateProject(ctx context.Context, r *tenancyv1.CreateProjectRequest) (*tenancyv1.CreateProjectResponse, error) {
	p, err := s.t.CreateProject(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetName(), r.GetDescription(), r.GetAllowedOrigins())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.CreateProjectResponse{Project: projectProto(p)}, nil
}

// ListProjects implements the RPC.
func (s *Service) ListProjects(ctx context.Context, r *tenancyv1.ListProjectsRequest) (*tenancyv1.ListProjectsResponse, error) {
	list, next, err := s.t.ListProjects(ctx, authn.OrgFrom(ctx), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &tenancyv1.ListProjectsResponse{NextPageToken: next}
	for _, p := range list {
		out.Projects = append(out.Projects, projectProto(p))
	}
	return out, nil
}

// GetProject implements the RPC.
func (s *Service) GetProject(ctx context.Context, r *tenancyv1.GetProjectRequest) (*tenancyv1.GetProjectResponse, error) {
	p, err := s.t.GetProject(ctx, authn.OrgFrom(ctx), r.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.GetProjectResponse{Project: projectProto(p)}, nil
}

// UpdateProject implements the RPC.
func (s *Service) UpdateProject(ctx context.Context, r *tenancyv1.UpdateProjectRequest) (*tenancyv1.UpdateProjectResponse, error) {
	p, err := s.t.UpdateProject(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId(), ProjectUpdate{
		Name: r.Name, Description: r.Description, Origins: r.GetAllowedOrigins(), ClearOrigins: r.GetClearAllowedOrigins()})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.UpdateProjectResponse{Project: projectProto(p)}, nil
}

// DeleteProject implements the RPC.
func (s *Service) DeleteProject(ctx context.Context, r *tenancyv1.DeleteProjectRequest) (*tenancyv1.DeleteProjectResponse, error) {
	return &tenancyv1.DeleteProjectResponse{}, s.toStatus(ctx, s.t.DeleteProject(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId()))
}

// ResolveMembership implements the internal RPC every service's authorizer calls.
func (s *Service) ResolveMembership(ctx context.Context, r *tenancyv1.ResolveMembershipRequest) (*tenancyv1.ResolveMembershipResponse, error) {
	m, err := s.t.Resolve(ctx, r.GetUserId(), r.GetOrgId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.ResolveMembershipResponse{Member: m.Role != roles.None, Role: authz.ToProto(m.Role), RequireMfa: m.RequireMFA}, nil
}

// OriginAllowed implements the internal RPC the gateway uses for CORS preflights.
func (s *Service) OriginAllowed(ctx context.Context, r *tenancyv1.OriginAllowedRequest) (*tenancyv1.OriginAllowedResponse, error) {
	ok, err := s.t.OriginAllowed(ctx, r.GetOrigin())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.OriginAllowedResponse{Allowed: ok}, nil
}

// GetProjectOrigins implements the internal RPC the gateway uses for CORS.
func (s *Service) GetProjectOrigins(ctx context.Context, r *tenancyv1.GetProjectOriginsRequest) (*tenancyv1.GetProjectOriginsResponse, error) {
	org, origins, err := s.t.ProjectOrigins(ctx, r.GetProjectId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tenancyv1.GetProjectOriginsResponse{OrgId: org, AllowedOrigins: origins}, nil
}
