package scanning

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	scanningv1 "github.com/pythorix/pythorix/gen/go/pythorix/scanning/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/riverq"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

// Service implements scanningv1.ScanningServiceServer.
type Service struct {
	scanningv1.UnimplementedScanningServiceServer
	assets *Assets
	scans  *Scans
	log    *slog.Logger
}

var _ scanningv1.ScanningServiceServer = (*Service)(nil)

// Settings are scanning's own configuration.
type Settings struct {
	// AllowCIDRs are non-public ranges the operator lets scans and
	// verification reach (PYTHORIX_EGRESS_ALLOW_CIDRS; local mode: 127.0.0.0/8).
	AllowCIDRs []string
	// DNSServer answers ownership TXT look-ups (PYTHORIX_DNS_SERVER; empty: the system resolver).
	DNSServer string
	// RootCAs replaces the system roots for outbound HTTPS (PYTHORIX_EGRESS_CA_FILE).
	RootCAs *x509.CertPool
	// Delay is the politeness delay between two requests of a scan to its
	// target (PYTHORIX_SCAN_DELAY, default 200ms).
	Delay time.Duration
	// HTTPPort is where the redirection check looks for plain HTTP
	// (PYTHORIX_SCAN_HTTP_PORT, default 80).
	HTTPPort string
	// Limits bound the queue (PYTHORIX_SCAN_ORG_CONCURRENCY, PYTHORIX_SCAN_HOST_CONCURRENCY,
	// PYTHORIX_SCAN_ACTIVE_PER_ORG, PYTHORIX_SCAN_WORKERS, PYTHORIX_SCAN_TIMEOUT, PYTHORIX_SCAN_MAX_ATTEMPTS).
	Limits Limits
	// Preloaded tells hosts on the HSTS preload list (PYTHORIX_HSTS_PRELOAD_FILE,
	// Chromium's JSON list; nil: none, so a preloaded site scores 5 below
	// the Observatory).
	Preloaded func(host string) bool
	// IntegrationsAddr is where finished scans publish their events
	// (PYTHORIX_INTEGRATIONS_ADDR; empty: not published).
	IntegrationsAddr string
	// Scanner replaces the real scanner (tests of the queue only).
	Scanner Scanner
}

// Options wire scanning from the environment.
func Options(cfg config.Service) (server.Options, error) {
	var env config.Env
	s := Settings{DNSServer: os.Getenv("PYTHORIX_DNS_SERVER"), HTTPPort: os.Getenv("PYTHORIX_SCAN_HTTP_PORT"),
		IntegrationsAddr: cfg.IntegrationsAddr,
		AllowCIDRs:       env.List("PYTHORIX_EGRESS_ALLOW_CIDRS"), RootCAs: env.CertPool("PYTHORIX_EGRESS_CA_FILE")}
	if f := os.Getenv("PYTHORIX_HSTS_PRELOAD_FILE"); f != "" {
		file, err := os.Open(f)
		if err != nil {
			return server.Options{}, fmt.Errorf("PYTHORIX_HSTS_PRELOAD_FILE: %w", err)
		}
		s.Preloaded, err = scanner.LoadPreloadList(file)
		file.Close()
		if err != nil {
			return server.Options{}, fmt.Errorf("PYTHORIX_HSTS_PRELOAD_FILE: %w", err)
		}
	}
	s.Delay = env.Duration("PYTHORIX_SCAN_DELAY", 200*time.Millisecond, time.Hour)
	s.Limits = Limits{
		PerOrg:      env.Int("PYTHORIX_SCAN_ORG_CONCURRENCY", 4),
		PerHost:     env.Int("PYTHORIX_SCAN_HOST_CONCURRENCY", 1),
		Active:      env.Int("PYTHORIX_SCAN_ACTIVE_PER_ORG", 100),
		Workers:     env.Int("PYTHORIX_SCAN_WORKERS", 10),
		Timeout:     env.Duration("PYTHORIX_SCAN_TIMEOUT", 2*time.Minute, time.Hour),
		MaxAttempts: env.Int("PYTHORIX_SCAN_MAX_ATTEMPTS", 3),
	}
	if err := env.Err(); err != nil {
		return server.Options{}, err
	}
	return ServerOptions(s)
}

// ServerOptions wire scanning with explicit settings (tests).
func ServerOptions(s Settings) (server.Options, error) {
	guard, err := egress.NewGuard(s.AllowCIDRs...)
	if err != nil {
		return server.Options{}, err
	}
	guard = guard.WithDNS(s.DNSServer)
	sc := s.Scanner
	if sc == nil {
		real, err := scanner.New(scanner.Options{Guard: guard, RootCAs: s.RootCAs, Delay: s.Delay,
			Timeout: s.Limits.withDefaults().Timeout, HTTPPort: s.HTTPPort, Preloaded: s.Preloaded})
		if err != nil {
			return server.Options{}, err
		}
		sc = real
	}
	var queue *Queue
	return server.Options{
		Migrations: Migrations(),
		Migrate:    riverq.Migrate,
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			scans := &Scans{db: deps.DB, scanner: sc, limits: s.Limits.withDefaults(), now: time.Now}
			var integrations integrationsv1.IntegrationsServiceClient
			if s.IntegrationsAddr != "" {
				c, err := dialIntegrations(deps.Dial, s.IntegrationsAddr)
				if err != nil {
					return err
				}
				integrations = c
			}
			q, err := NewQueue(deps.DB, scans, integrations, deps.Logger)
			if err != nil {
				return err
			}
			scans.queue, queue = q, q
			a := &Assets{db: deps.DB, guard: guard, verifier: NewVerifier(guard, s.DNSServer, s.RootCAs), now: time.Now, scans: scans}
			scanningv1.RegisterScanningServiceServer(reg, &Service{assets: a, scans: scans, log: deps.Logger})
			return nil
		},
		Background: []func(ctx context.Context) error{func(ctx context.Context) error { return queue.Run(ctx) }},
	}, nil
}

// scanningCodes are scanning's domain errors and their status codes.
var scanningCodes = map[error]codes.Code{
	ErrNotFound: codes.NotFound, ErrDuplicateHost: codes.AlreadyExists, ErrTooMany: codes.ResourceExhausted,
	ErrNoGrant: codes.FailedPrecondition, ErrNotVerified: codes.FailedPrecondition, ErrNoActor: codes.FailedPrecondition,
	ErrScanFinished: codes.FailedPrecondition, ErrScanNotDone: codes.FailedPrecondition, ErrTooManyScans: codes.ResourceExhausted,
}

func (s *Service) toStatus(ctx context.Context, err error) error {
	return server.StatusOf(ctx, s.log, err, scanningCodes)
}

// enumName strips an enum's type prefix: ASSET_KIND_WEB_APP -> WEB_APP.
func enumName(full, prefix string) string { return strings.TrimPrefix(full, prefix) }

func assetProto(x *Asset) *scanningv1.Asset {
	out := &scanningv1.Asset{Id: x.ID, OrgId: x.OrgID, ProjectId: x.ProjectID, Host: x.Host,
		Kind:        scanningv1.AssetKind(scanningv1.AssetKind_value["ASSET_KIND_"+x.Kind]),
		Environment: scanningv1.Environment(scanningv1.Environment_value["ENVIRONMENT_"+x.Environment]),
		Criticality: scanningv1.Criticality(scanningv1.Criticality_value["CRITICALITY_"+x.Criticality]),
		Owner:       x.Owner, Tags: x.Tags, VerificationToken: x.VerificationToken, Verified: x.VerifiedAt != nil,
		VerificationMethod: scanningv1.VerificationMethod(scanningv1.VerificationMethod_value["VERIFICATION_METHOD_"+x.VerificationMethod]),
		CreateTime:         timestamppb.New(x.CreatedAt), UpdateTime: timestamppb.New(x.UpdatedAt)}
	if x.VerifiedAt != nil {
		out.VerifyTime = timestamppb.New(*x.VerifiedAt)
	}
	return out
}

func caller(ctx context.Context) string { return authn.PrincipalFrom(ctx).GetUserId() }

// keyProject is the project a project-bound API key is confined to ("" for
// users and org-wide keys): such a key sees only that project's assets.
func keyProject(ctx context.Context) string { return authn.PrincipalFrom(ctx).GetProjectId() }

// CreateAsset implements the RPC.
func (s *Service) CreateAsset(ctx context.Context, r *scanningv1.CreateAssetRequest) (*scanningv1.CreateAssetResponse, error) {
	crit := enumName(r.GetCriticality().String(), "CRITICALITY_")
	if r.GetCriticality() == scanningv1.Criticality_CRITICALITY_UNSPECIFIED {
		crit = "MEDIUM"
	}
	x, err := s.assets.Create(ctx, caller(ctx), &Asset{OrgID: authn.OrgFrom(ctx), ProjectID: r.GetProjectId(), Host: r.GetHost(),
		Kind: enumName(r.GetKind().String(), "ASSET_KIND_"), Environment: enumName(r.GetEnvironment().String(), "ENVIRONMENT_"),
		Criticality: crit, Owner: r.GetOwner(), Tags: r.GetTags()})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &scanningv1.CreateAssetResponse{Asset: assetProto(x)}, nil
}

// GetAsset implements the RPC.
func (s *Service) GetAsset(ctx context.Context, r *scanningv1.GetAssetRequest) (*scanningv1.GetAssetResponse, error) {
	x, err := s.assets.Get(ctx, authn.OrgFrom(ctx), r.GetId())
	if err == nil && keyProject(ctx) != "" && x.ProjectID != keyProject(ctx) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &scanningv1.GetAssetResponse{Asset: assetProto(x)}, nil
}

// ListAssets implements the RPC.
func (s *Service) ListAssets(ctx context.Context, r *scanningv1.ListAssetsRequest) (*scanningv1.ListAssetsResponse, error) {
	f := AssetFilter{ProjectID: r.GetProjectId(), After: r.GetPageToken(), Limit: int(r.GetPageSize())}
	if kp := keyProject(ctx); kp != "" {
		if f.ProjectID != "" && f.ProjectID != kp {
			return &scanningv1.ListAssetsResponse{}, nil
		}
		f.ProjectID = kp
	}
	if r.GetKind() != scanningv1.AssetKind_ASSET_KIND_UNSPECIFIED {
		f.Kind = enumName(r.GetKind().String(), "ASSET_KIND_")
	}
	if r.GetEnvironment() != scanningv1.Environment_ENVIRONMENT_UNSPECIFIED {
		f.Environment = enumName(r.GetEnvironment().String(), "ENVIRONMENT_")
	}
	list, next, err := s.assets.List(ctx, authn.OrgFrom(ctx), f)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &scanningv1.ListAssetsResponse{NextPageToken: next}
	for _, x := range list {
		out.Assets = append(out.Assets, assetProto(x))
	}
	return out, nil
}

// UpdateAsset implements the RPC.
func (s *Service) UpdateAsset(ctx context.Context, r *scanningv1.UpdateAssetRequest) (*scanningv1.UpdateAssetResponse, error) {
	u := AssetUpdate{Owner: r.Owner, ProjectID: r.ProjectId, Tags: r.GetTags(), ClearTags: r.GetClearTags()}
	if r.Kind != nil {
		k := enumName(r.GetKind().String(), "ASSET_KIND_")
		u.Kind = &k
	}
	if r.Environment != nil {
		e := enumName(r.GetEnvironment().String(), "ENVIRONMENT_")
		u.Environment = &e
	}
	if r.Criticality != nil {
		c := enumName(r.GetCriticality().String(), "CRITICALITY_")
		u.Criticality = &c
	}
	x, err := s.assets.Update(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId(), u)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &scanningv1.UpdateAssetResponse{Asset: assetProto(x)}, nil
}

// DeleteAsset implements the RPC.
func (s *Service) DeleteAsset(ctx context.Context, r *scanningv1.DeleteAssetRequest) (*scanningv1.DeleteAssetResponse, error) {
	return &scanningv1.DeleteAssetResponse{}, s.toStatus(ctx, s.assets.Delete(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId()))
}

// VerifyAsset implements the RPC: a failed check answers 412 with the reason.
func (s *Service) VerifyAsset(ctx context.Context, r *scanningv1.VerifyAssetRequest) (*scanningv1.VerifyAssetResponse, error) {
	x, reason, err := s.assets.Verify(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId(), enumName(r.GetMethod().String(), "VERIFICATION_METHOD_"))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if reason != "" {
		return nil, status.Error(codes.FailedPrecondition, "ownership not verified: "+reason)
	}
	return &scanningv1.VerifyAssetResponse{Asset: assetProto(x)}, nil
}

func grantProto(g *Grant) *scanningv1.Grant {
	out := &scanningv1.Grant{Id: g.ID, OrgId: g.OrgID, AssetId: g.AssetID, GrantedBy: g.GrantedBy, Note: g.Note,
		CreateTime: timestamppb.New(g.CreatedAt), ExpireTime: timestamppb.New(g.ExpiresAt), RevokedBy: g.RevokedBy, Active: g.Active(time.Now())}
	if g.RevokedAt != nil {
		out.RevokeTime = timestamppb.New(*g.RevokedAt)
	}
	return out
}

// CreateGrant implements the RPC.
func (s *Service) CreateGrant(ctx context.Context, r *scanningv1.CreateGrantRequest) (*scanningv1.CreateGrantResponse, error) {
	g, err := s.assets.CreateGrant(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetAssetId(), r.GetNote(), r.GetExpireTime().AsTime())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &scanningv1.CreateGrantResponse{Grant: grantProto(g)}, nil
}

// ListGrants implements the RPC.
func (s *Service) ListGrants(ctx context.Context, r *scanningv1.ListGrantsRequest) (*scanningv1.ListGrantsResponse, error) {
	list, err := s.assets.ListGrants(ctx, authn.OrgFrom(ctx), r.GetAssetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &scanningv1.ListGrantsResponse{}
	for _, g := range list {
		out.Grants = append(out.Grants, grantProto(g))
	}
	return out, nil
}

// RevokeGrant implements the RPC.
func (s *Service) RevokeGrant(ctx context.Context, r *scanningv1.RevokeGrantRequest) (*scanningv1.RevokeGrantResponse, error) {
	return &scanningv1.RevokeGrantResponse{}, s.toStatus(ctx, s.assets.RevokeGrant(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetAssetId(), r.GetId()))
}
