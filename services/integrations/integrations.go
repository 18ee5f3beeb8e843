package integrations

import (
	"context"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/envelope"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/riverq"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/services/integrations/signing"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the integrations service's schema migrations.
func Migrations() fs.FS { return postgres.Sub(migrations, "migrations") }

// Service implements integrationsv1.IntegrationsServiceServer.
type Service struct {
	integrationsv1.UnimplementedIntegrationsServiceServer
	store      *Store
	deliveries *Deliveries
	revoker    *revoker
	replay     *signing.Replay
	log        *slog.Logger
}

var _ integrationsv1.IntegrationsServiceServer = (*Service)(nil)

// Settings are the integrations service's own configuration.
type Settings struct {
	// KEK wraps the data key of every stored secret (PYTHORIX_KEK, or the
	// file PYTHORIX_KEK_FILE names): "kid:base64key,...", the first seals.
	KEK *envelope.Keyring
	// AllowCIDRs are non-public ranges destinations may be in
	// (PYTHORIX_EGRESS_ALLOW_CIDRS; none by default).
	AllowCIDRs []string
	// RootCAs replaces the system roots for outbound HTTPS (PYTHORIX_EGRESS_CA_FILE).
	RootCAs *x509.CertPool
	// DNSServer resolves destinations ("host:port", PYTHORIX_DNS_SERVER;
	// empty: the system resolver).
	DNSServer string
	// SlackHosts are the hosts a Slack incoming-webhook URL may name
	// (PYTHORIX_SLACK_WEBHOOK_HOSTS; default hooks.slack.com).
	SlackHosts []string
	// Providers are the providers' API endpoints (PYTHORIX_SLACK_API_URL,
	// PYTHORIX_PAGERDUTY_EVENTS_URL).
	Providers Providers
	// Retry is the delivery retry schedule and when an endpoint is disabled
	// (PYTHORIX_DELIVERY_DISABLE_AFTER).
	Retry Retry
	// Workers deliver in parallel (PYTHORIX_DELIVERY_WORKERS, default 10).
	Workers int
	// Timeout bounds one delivery attempt (PYTHORIX_DELIVERY_TIMEOUT, default 10s).
	Timeout time.Duration
}

// LoadKEK reads the key ring from PYTHORIX_KEK_FILE or PYTHORIX_KEK.
func LoadKEK() (*envelope.Keyring, error) {
	spec := os.Getenv("PYTHORIX_KEK")
	if f := os.Getenv("PYTHORIX_KEK_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("PYTHORIX_KEK_FILE: %w", err)
		}
		spec = strings.TrimSpace(string(b))
	}
	if spec == "" {
		return nil, errors.New("PYTHORIX_KEK or PYTHORIX_KEK_FILE is required")
	}
	k, err := envelope.ParseKeyring(spec)
	if err != nil {
		return nil, fmt.Errorf("PYTHORIX_KEK: %w", err)
	}
	return k, nil
}

// Options wire the service from the environment.
func Options(config.Service) (server.Options, error) {
	kek, err := LoadKEK()
	if err != nil {
		return server.Options{}, err
	}
	var env config.Env
	s := Settings{KEK: kek, DNSServer: os.Getenv("PYTHORIX_DNS_SERVER"), AllowCIDRs: env.List("PYTHORIX_EGRESS_ALLOW_CIDRS"), RootCAs: env.CertPool("PYTHORIX_EGRESS_CA_FILE"),
		SlackHosts: env.List("PYTHORIX_SLACK_WEBHOOK_HOSTS"), Providers: DefaultProviders, Retry: DefaultRetry,
		Workers: env.Int("PYTHORIX_DELIVERY_WORKERS", 10), Timeout: env.Duration("PYTHORIX_DELIVERY_TIMEOUT", DefaultTimeout, time.Minute)}
	if v := os.Getenv("PYTHORIX_SLACK_API_URL"); v != "" {
		s.Providers.SlackAPI = v
	}
	if v := os.Getenv("PYTHORIX_PAGERDUTY_EVENTS_URL"); v != "" {
		s.Providers.PagerDutyURL = v
	}
	s.Retry.DisableAfter = env.Duration("PYTHORIX_DELIVERY_DISABLE_AFTER", DefaultRetry.DisableAfter, 30*24*time.Hour)
	if err := env.Err(); err != nil {
		return server.Options{}, err
	}
	return ServerOptions(s)
}

// ServerOptions wire the service with explicit settings (tests).
func ServerOptions(s Settings) (server.Options, error) {
	if s.KEK == nil {
		return server.Options{}, errors.New("integrations: a key ring (KEK) is required")
	}
	guard, err := egress.NewGuard(s.AllowCIDRs...)
	if err != nil {
		return server.Options{}, err
	}
	guard = guard.WithDNS(s.DNSServer)
	if len(s.SlackHosts) == 0 {
		s.SlackHosts = []string{"hooks.slack.com"}
	}
	if s.Providers == (Providers{}) {
		s.Providers = DefaultProviders
	}
	if len(s.Retry.Schedule) == 0 {
		s.Retry.Schedule = DefaultRetry.Schedule
	}
	if s.Retry.DisableAfter <= 0 {
		s.Retry.DisableAfter = DefaultRetry.DisableAfter
	}
	var deliveries *Deliveries
	return server.Options{
		Migrations: Migrations(),
		Migrate:    riverq.Migrate,
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			store := &Store{db: deps.DB, kek: s.KEK, guard: guard, slackHosts: s.SlackHosts, rootCAs: s.RootCAs, now: time.Now}
			d, err := NewDeliveries(deps.DB, store, guard, s.Retry, s.Providers, s.Workers, s.Timeout, deps.Logger)
			if err != nil {
				return err
			}
			deliveries = d
			svc := &Service{store: store, deliveries: d, log: deps.Logger,
				revoker: &revoker{client: d.client, providers: s.Providers, timeout: d.timeout},
				replay:  signing.NewReplay(deps.Redis, deps.RedisNamespace+":hooks:")}
			integrationsv1.RegisterIntegrationsServiceServer(reg, svc)
			return nil
		},
		Background: []func(ctx context.Context) error{func(ctx context.Context) error { return deliveries.Run(ctx) }},
	}, nil
}

// integrationCodes are the service's domain errors and their status codes.
var integrationCodes = map[error]codes.Code{
	ErrNotFound: codes.NotFound, ErrTooMany: codes.ResourceExhausted, ErrNoSecret: codes.FailedPrecondition,
	ErrDisabled: codes.FailedPrecondition, ErrKindFixed: codes.InvalidArgument, errPayloadTooLarge: codes.InvalidArgument,
	errUnverified: codes.Unauthenticated, signing.ErrReplay: codes.Unauthenticated, errReplayStore: codes.Unavailable,
}

func (s *Service) toStatus(ctx context.Context, err error) error {
	return server.StatusOf(ctx, s.log, err, integrationCodes)
}
