package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/envelope"
	"github.com/pythorix/pythorix/platform/mail"
	"github.com/pythorix/pythorix/platform/revocation"
	"github.com/pythorix/pythorix/platform/roles"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/platform/throttle"
)

// Service implements identityv1.IdentityServiceServer: thin handlers that
// read the authorised context, call the domain and map its errors.
type Service struct {
	identityv1.UnimplementedIdentityServiceServer
	accounts *Accounts
	oidc     *OIDC
	log      *slog.Logger
}

var _ identityv1.IdentityServiceServer = (*Service)(nil)

// Options wire identity into the shared server from the environment.
func Options(svc config.Service) (server.Options, error) {
	cfg, err := LoadConfig(nil)
	if err != nil {
		return server.Options{}, err
	}
	return ServerOptions(svc, cfg)
}

// ServerOptions wire identity with an explicit configuration (tests).
func ServerOptions(base config.Service, cfg Config) (server.Options, error) {
	keys, err := ParseTokenKeys(cfg.JWTKeys.Reveal())
	if err != nil {
		return server.Options{}, err
	}
	kek, err := envelope.ParseKeyring(cfg.KEK.Reveal())
	if err != nil {
		return server.Options{}, err
	}
	sender, err := mail.New(cfg.Mail, nil)
	if err != nil {
		return server.Options{}, err
	}
	oidcClient, err := oidcHTTPClient(cfg.OIDC.CAFile)
	if err != nil {
		return server.Options{}, err
	}
	cfg = cfg.withSessionDefaults()
	if errs := cfg.sessionErrors(); len(errs) > 0 {
		return server.Options{}, fmt.Errorf("identity config: %w", errors.Join(errs...))
	}
	var svc *Service
	return server.Options{
		Migrations: Migrations(),
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			a := newAccounts(cfg, deps, keys, kek, sender)
			a.roleOf = deps.RoleOf
			conn, err := deps.Dial("tenancy", base.TenancyAddr)
			if err != nil {
				return err
			}
			a.projects = tenancyProjects{client: tenancyv1.NewTenancyServiceClient(conn)}
			svc = &Service{accounts: a, log: deps.Logger,
				oidc: newOIDC(a, deps.Redis, deps.RedisNamespace, cfg, oidcClient)}
			identityv1.RegisterIdentityServiceServer(reg, svc)
			return nil
		},
		Background: []func(context.Context) error{
			func(ctx context.Context) error { return svc.accounts.mailer.Run(ctx) },
		},
	}, nil
}

// oidcHTTPClient talks to OIDC providers: bounded in time, TLS 1.2+, and
// trusting only caFile when one is given.
func oidcHTTPClient(caFile string) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("PYTHORIX_OIDC_CA_FILE: %w", err)
		}
		tlsCfg.RootCAs = x509.NewCertPool()
		if !tlsCfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("PYTHORIX_OIDC_CA_FILE holds no PEM certificate")
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.ResponseHeaderTimeout = 10 * time.Second
	return &http.Client{Timeout: 15 * time.Second, Transport: tr,
		// Token and discovery endpoints answer directly; a redirect is not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// tenancyProjects asks tenancy which organisation a project belongs to.
type tenancyProjects struct {
	client tenancyv1.TenancyServiceClient
}

func (t tenancyProjects) OrgOf(ctx context.Context, projectID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := t.client.GetProjectOrigins(ctx, &tenancyv1.GetProjectOriginsRequest{ProjectId: projectID})
	if status.Code(err) == codes.NotFound {
		return "", nil
	}
	if err != nil {
		return "", ErrUnavailable
	}
	return resp.GetOrgId(), nil
}

// newAccounts builds the domain from its dependencies.
func newAccounts(cfg Config, deps server.Deps, keys *TokenKeys, kek *envelope.Keyring, sender mail.Sender) *Accounts {
	cfg = cfg.withSessionDefaults()
	a := &Accounts{
		idleTimeout: cfg.SessionIdleTimeout, maxSessions: cfg.MaxSessions,
		db: deps.DB, rdb: deps.Redis, log: deps.Logger, now: time.Now,
		tokens:      &Tokens{keys: keys, issuer: cfg.Issuer, audience: cfg.Audience, ttl: cfg.TokenTTL},
		pepper:      peppered{key: []byte(cfg.Pepper.Reveal())},
		kek:         kek,
		mailer:      newMailer(deps.DB, kek, sender, deps.Logger),
		revoker:     &Revoker{pub: revocation.NewPublisher(deps.Redis, deps.RedisNamespace, deps.Logger)},
		loginLimit:  throttle.New(deps.Redis, deps.RedisNamespace, "login"),
		codeLimit:   throttle.New(deps.Redis, deps.RedisNamespace, "code"),
		ipLimit:     throttle.New(deps.Redis, deps.RedisNamespace, "ip"),
		resendLimit: throttle.New(deps.Redis, deps.RedisNamespace, "mail"),
	}
	// Mail to one address: three free, then one a minute, doubling. One client
	// IP may fail 50 times an hour (offices share addresses) before back-off.
	a.resendLimit.Free, a.resendLimit.Base = 3, time.Minute
	a.ipLimit.Free = 50
	a.loginLimit.Base, a.codeLimit.Base = 2*time.Second, 2*time.Second
	return a
}

// identityCodes are identity's domain errors and their status codes.
var identityCodes = map[error]codes.Code{
	ErrInvalidCredentials: codes.Unauthenticated, ErrUnauthenticated: codes.Unauthenticated, ErrOIDCRejected: codes.Unauthenticated,
	ErrEmailNotVerified: codes.FailedPrecondition, ErrTOTPAlreadyEnabled: codes.FailedPrecondition,
	ErrTOTPNotEnrolled: codes.FailedPrecondition, ErrTOTPNotEnabled: codes.FailedPrecondition, ErrNoPassword: codes.FailedPrecondition,
	ErrNotFound: codes.NotFound, ErrUnknownProvider: codes.NotFound, ErrUnavailable: codes.Unavailable,
	ErrSelfDisable: codes.FailedPrecondition, ErrSelfTOTPReset: codes.FailedPrecondition, ErrAdminNeedsMFA: codes.FailedPrecondition,
}

// toStatus maps identity's errors; a wrong code names the field "code".
func (s *Service) toStatus(ctx context.Context, err error) error {
	if errors.Is(err, ErrInvalidCode) {
		return server.FieldError("code", "is invalid or expired")
	}
	return server.StatusOf(ctx, s.log, err, identityCodes)
}

func user(ctx context.Context) *identityv1.Principal {
	p := authn.PrincipalFrom(ctx)
	if p == nil {
		return &identityv1.Principal{}
	}
	return p
}

// Signup implements the RPC.
func (s *Service) Signup(ctx context.Context, r *identityv1.SignupRequest) (*identityv1.SignupResponse, error) {
	return &identityv1.SignupResponse{}, s.toStatus(ctx, s.accounts.Signup(ctx, r.GetEmail(), r.GetPassword(), r.GetName()))
}

// VerifyEmail implements the RPC.
func (s *Service) VerifyEmail(ctx context.Context, r *identityv1.VerifyEmailRequest) (*identityv1.VerifyEmailResponse, error) {
	return &identityv1.VerifyEmailResponse{}, s.toStatus(ctx, s.accounts.VerifyEmail(ctx, r.GetEmail(), r.GetCode()))
}

// ResendVerification implements the RPC.
func (s *Service) ResendVerification(ctx context.Context, r *identityv1.ResendVerificationRequest) (*identityv1.ResendVerificationResponse, error) {
	return &identityv1.ResendVerificationResponse{}, s.toStatus(ctx, s.accounts.ResendVerification(ctx, r.GetEmail()))
}

// Login implements the RPC.
func (s *Service) Login(ctx context.Context, r *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
	res, err := s.accounts.Login(ctx, r.GetEmail(), r.GetPassword())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return loginResponse(res), nil
}

func loginResponse(res *LoginResult) *identityv1.LoginResponse {
	if res.MFAToken != "" {
		return &identityv1.LoginResponse{MfaRequired: true, MfaToken: res.MFAToken}
	}
	return &identityv1.LoginResponse{AccessToken: res.AccessToken, ExpiresAt: timestamppb.New(res.ExpiresAt), SessionId: res.SessionID}
}

// LoginMfa implements the RPC.
func (s *Service) LoginMfa(ctx context.Context, r *identityv1.LoginMfaRequest) (*identityv1.LoginMfaResponse, error) {
	res, err := s.accounts.LoginMFA(ctx, r.GetMfaToken(), r.GetCode())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.LoginMfaResponse{AccessToken: res.AccessToken, ExpiresAt: timestamppb.New(res.ExpiresAt), SessionId: res.SessionID}, nil
}

// Logout implements the RPC.
func (s *Service) Logout(ctx context.Context, _ *identityv1.LogoutRequest) (*identityv1.LogoutResponse, error) {
	p := user(ctx)
	return &identityv1.LogoutResponse{}, s.toStatus(ctx, s.accounts.Logout(ctx, p.GetUserId(), p.GetSessionId()))
}

// RequestPasswordReset implements the RPC.
func (s *Service) RequestPasswordReset(ctx context.Context, r *identityv1.RequestPasswordResetRequest) (*identityv1.RequestPasswordResetResponse, error) {
	return &identityv1.RequestPasswordResetResponse{}, s.toStatus(ctx, s.accounts.RequestPasswordReset(ctx, r.GetEmail()))
}

// ResetPassword implements the RPC.
func (s *Service) ResetPassword(ctx context.Context, r *identityv1.ResetPasswordRequest) (*identityv1.ResetPasswordResponse, error) {
	return &identityv1.ResetPasswordResponse{}, s.toStatus(ctx, s.accounts.ResetPassword(ctx, r.GetEmail(), r.GetCode(), r.GetNewPassword()))
}

// StartOidc implements the RPC.
func (s *Service) StartOidc(ctx context.Context, r *identityv1.StartOidcRequest) (*identityv1.StartOidcResponse, error) {
	u, state, err := s.oidc.Start(ctx, r.GetProvider(), r.GetReturnTo())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.StartOidcResponse{AuthorizationUrl: u, State: state}, nil
}

// OidcCallback implements the RPC.
func (s *Service) OidcCallback(ctx context.Context, r *identityv1.OidcCallbackRequest) (*identityv1.OidcCallbackResponse, error) {
	res, err := s.oidc.Callback(ctx, r.GetProvider(), r.GetCode(), r.GetState())
	if errors.Is(err, errAccountDisabled) {
		err = ErrOIDCRejected // a disabled account signs in as a rejected one would
	}
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	l := loginResponse(res)
	return &identityv1.OidcCallbackResponse{AccessToken: l.AccessToken, ExpiresAt: l.ExpiresAt, SessionId: l.SessionId,
		MfaRequired: l.MfaRequired, MfaToken: l.MfaToken}, nil
}

func userProto(u *User) *identityv1.User {
	return &identityv1.User{Id: u.ID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerified, TotpEnabled: u.TOTPEnabled,
		GlobalAdmin: u.GlobalAdmin, CreateTime: timestamppb.New(u.CreatedAt)}
}

// GetMe implements the RPC.
func (s *Service) GetMe(ctx context.Context, _ *identityv1.GetMeRequest) (*identityv1.GetMeResponse, error) {
	u, err := s.accounts.GetUser(ctx, user(ctx).GetUserId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.GetMeResponse{User: userProto(u)}, nil
}

// UpdateMe implements the RPC.
func (s *Service) UpdateMe(ctx context.Context, r *identityv1.UpdateMeRequest) (*identityv1.UpdateMeResponse, error) {
	id := user(ctx).GetUserId()
	var (
		u   *User
		err error
	)
	if r.Name != nil {
		u, err = s.accounts.UpdateName(ctx, id, r.GetName())
	} else {
		u, err = s.accounts.GetUser(ctx, id)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.UpdateMeResponse{User: userProto(u)}, nil
}

// ChangePassword implements the RPC.
func (s *Service) ChangePassword(ctx context.Context, r *identityv1.ChangePasswordRequest) (*identityv1.ChangePasswordResponse, error) {
	p := user(ctx)
	return &identityv1.ChangePasswordResponse{}, s.toStatus(ctx,
		s.accounts.ChangePassword(ctx, p.GetUserId(), p.GetSessionId(), r.GetCurrentPassword(), r.GetNewPassword()))
}

// ListSessions implements the RPC.
func (s *Service) ListSessions(ctx context.Context, r *identityv1.ListSessionsRequest) (*identityv1.ListSessionsResponse, error) {
	p := user(ctx)
	list, next, err := s.accounts.ListSessions(ctx, p.GetUserId(), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &identityv1.ListSessionsResponse{NextPageToken: next}
	for _, ss := range list {
		out.Sessions = append(out.Sessions, &identityv1.Session{Id: ss.ID, CreateTime: timestamppb.New(ss.CreatedAt),
			LastSeenTime: timestamppb.New(ss.LastSeen), ExpireTime: timestamppb.New(ss.Expiry), Ip: ss.IP, UserAgent: ss.UserAgent,
			Current: ss.ID == p.GetSessionId(), Mfa: ss.MFA})
	}
	return out, nil
}

// RevokeSession implements the RPC.
func (s *Service) RevokeSession(ctx context.Context, r *identityv1.RevokeSessionRequest) (*identityv1.RevokeSessionResponse, error) {
	return &identityv1.RevokeSessionResponse{}, s.toStatus(ctx, s.accounts.RevokeSession(ctx, user(ctx).GetUserId(), r.GetId(), "user"))
}

// EnrollTotp implements the RPC.
func (s *Service) EnrollTotp(ctx context.Context, r *identityv1.EnrollTotpRequest) (*identityv1.EnrollTotpResponse, error) {
	p := user(ctx)
	secret, url, err := s.accounts.EnrollTOTP(ctx, p.GetUserId(), p.GetSessionId(), r.GetCurrentPassword())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.EnrollTotpResponse{Secret: secret, OtpauthUrl: url}, nil
}

// ConfirmTotp implements the RPC.
func (s *Service) ConfirmTotp(ctx context.Context, r *identityv1.ConfirmTotpRequest) (*identityv1.ConfirmTotpResponse, error) {
	codes, err := s.accounts.ConfirmTOTP(ctx, user(ctx).GetUserId(), r.GetCode())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.ConfirmTotpResponse{BackupCodes: codes}, nil
}

// DisableTotp implements the RPC.
func (s *Service) DisableTotp(ctx context.Context, r *identityv1.DisableTotpRequest) (*identityv1.DisableTotpResponse, error) {
	return &identityv1.DisableTotpResponse{}, s.toStatus(ctx, s.accounts.DisableTOTP(ctx, user(ctx).GetUserId(), r.GetCode()))
}

// RegenerateBackupCodes implements the RPC.
func (s *Service) RegenerateBackupCodes(ctx context.Context, r *identityv1.RegenerateBackupCodesRequest) (*identityv1.RegenerateBackupCodesResponse, error) {
	codes, err := s.accounts.RegenerateBackupCodes(ctx, user(ctx).GetUserId(), r.GetCode())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.RegenerateBackupCodesResponse{BackupCodes: codes}, nil
}

// CreateApiKey implements the RPC.
func (s *Service) CreateApiKey(ctx context.Context, r *identityv1.CreateApiKeyRequest) (*identityv1.CreateApiKeyResponse, error) {
	p := user(ctx)
	if p.GetKind() != identityv1.Principal_KIND_USER {
		return nil, status.Error(codes.PermissionDenied, "API keys are managed by users")
	}
	var exp *time.Time
	if r.ExpireTime != nil {
		t := r.GetExpireTime().AsTime()
		exp = &t
	}
	role, err := s.accounts.roleIn(ctx, p, authn.OrgFrom(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	for i, scope := range r.GetScopes() {
		if !roles.Allows(role, scope) {
			return nil, server.FieldError(fmt.Sprintf("scopes[%d]", i), "exceeds what your role ("+role.String()+") may do: "+scope)
		}
	}
	k, full, err := s.accounts.CreateAPIKey(ctx, authn.OrgFrom(ctx), r.GetProjectId(), p.GetUserId(), r.GetName(), r.GetScopes(), exp)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.CreateApiKeyResponse{ApiKey: apiKeyProto(k), Key: full}, nil
}

// ListApiKeys implements the RPC.
func (s *Service) ListApiKeys(ctx context.Context, r *identityv1.ListApiKeysRequest) (*identityv1.ListApiKeysResponse, error) {
	keys, next, err := s.accounts.ListAPIKeys(ctx, authn.OrgFrom(ctx), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &identityv1.ListApiKeysResponse{NextPageToken: next}
	for _, k := range keys {
		out.ApiKeys = append(out.ApiKeys, apiKeyProto(k))
	}
	return out, nil
}

// RevokeApiKey implements the RPC.
func (s *Service) RevokeApiKey(ctx context.Context, r *identityv1.RevokeApiKeyRequest) (*identityv1.RevokeApiKeyResponse, error) {
	p := user(ctx)
	if p.GetKind() != identityv1.Principal_KIND_USER {
		return nil, status.Error(codes.PermissionDenied, "API keys are managed by users")
	}
	org := authn.OrgFrom(ctx)
	creator, err := s.accounts.APIKeyCreator(ctx, org, r.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	// Someone else's key only by a member ranked at least as high as its creator.
	if creator != p.GetUserId() {
		mine, err := s.accounts.roleIn(ctx, p, org)
		if err != nil {
			return nil, s.toStatus(ctx, err)
		}
		theirs, err := s.accounts.roleIn(ctx, &identityv1.Principal{UserId: creator}, org)
		if err != nil {
			return nil, s.toStatus(ctx, err)
		}
		if theirs > mine {
			return nil, status.Error(codes.PermissionDenied, "the key belongs to a member ranked above you")
		}
	}
	return &identityv1.RevokeApiKeyResponse{}, s.toStatus(ctx, s.accounts.RevokeAPIKey(ctx, org, r.GetId(), p.GetUserId()))
}

func apiKeyProto(k *APIKey) *identityv1.ApiKey {
	out := &identityv1.ApiKey{Id: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, ProjectId: k.ProjectID,
		CreateTime: timestamppb.New(k.CreatedAt), CreatedBy: k.CreatedBy}
	for dst, src := range map[**timestamppb.Timestamp]*time.Time{&out.ExpireTime: k.ExpiresAt, &out.LastUsedTime: k.LastUsedAt, &out.RevokeTime: k.RevokedAt} {
		if src != nil {
			*dst = timestamppb.New(*src)
		}
	}
	return out
}

// requireGlobalAdmin admits only a platform admin signed in as a user (an
// API key never acts for the platform).
func requireGlobalAdmin(ctx context.Context) (*identityv1.Principal, error) {
	p := user(ctx)
	if p.GetKind() != identityv1.Principal_KIND_USER || !p.GetGlobalAdmin() {
		return nil, status.Error(codes.PermissionDenied, "only platform administrators may do this")
	}
	return p, nil
}

// DisableUser implements the RPC.
func (s *Service) DisableUser(ctx context.Context, r *identityv1.DisableUserRequest) (*identityv1.DisableUserResponse, error) {
	p, err := requireGlobalAdmin(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.accounts.DisableUser(ctx, p.GetUserId(), r.GetUserId(), r.GetReason())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.DisableUserResponse{SessionsRevoked: int32(d.Sessions), ApiKeysRevoked: int32(d.APIKeys)}, nil
}

// RevokeUserSessions implements the RPC.
func (s *Service) RevokeUserSessions(ctx context.Context, r *identityv1.RevokeUserSessionsRequest) (*identityv1.RevokeUserSessionsResponse, error) {
	p, err := requireGlobalAdmin(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.accounts.RevokeUserSessions(ctx, p.GetUserId(), r.GetUserId(), r.GetReason())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.RevokeUserSessionsResponse{SessionsRevoked: int32(n)}, nil
}

// ResetUserTotp implements the RPC.
func (s *Service) ResetUserTotp(ctx context.Context, r *identityv1.ResetUserTotpRequest) (*identityv1.ResetUserTotpResponse, error) {
	p, err := requireGlobalAdmin(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.accounts.ResetUserTOTP(ctx, p.GetUserId(), p.GetMfa(), r.GetUserId(), r.GetReason())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.ResetUserTotpResponse{TotpWasEnabled: res.WasEnabled, SessionsRevoked: int32(res.Sessions)}, nil
}

// EnableUser implements the RPC.
func (s *Service) EnableUser(ctx context.Context, r *identityv1.EnableUserRequest) (*identityv1.EnableUserResponse, error) {
	p, err := requireGlobalAdmin(ctx)
	if err != nil {
		return nil, err
	}
	return &identityv1.EnableUserResponse{}, s.toStatus(ctx, s.accounts.EnableUser(ctx, p.GetUserId(), r.GetUserId(), r.GetReason()))
}

// Authenticate implements the internal RPC the gateway calls on a cache miss.
func (s *Service) Authenticate(ctx context.Context, r *identityv1.AuthenticateRequest) (*identityv1.AuthenticateResponse, error) {
	p, err := s.accounts.Authenticate(ctx, r.GetCredential())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &identityv1.AuthenticateResponse{Principal: p}, nil
}

// LookupUsers implements the internal RPC.
func (s *Service) LookupUsers(ctx context.Context, r *identityv1.LookupUsersRequest) (*identityv1.LookupUsersResponse, error) {
	users, err := s.accounts.LookupUsers(ctx, r.GetIds(), r.GetEmails())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &identityv1.LookupUsersResponse{}
	for _, u := range users {
		out.Users = append(out.Users, userProto(u))
	}
	return out, nil
}
