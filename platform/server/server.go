package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"time"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/access"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/authz"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/metrics"
	"github.com/pythorix/pythorix/platform/mtls"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/redisconn"
	"github.com/pythorix/pythorix/platform/roles"
)

// Options are what a service adds to the common server.
type Options struct {
	// Migrations holds the service's NNN_name.sql files; nil for none.
	Migrations fs.FS
	// Migrate runs after Migrations over the owning role's URL, for schemas
	// a library manages itself (River's job tables); nil for none.
	Migrate func(ctx context.Context, ownerURL string) error
	// Register registers the service's gRPC implementations. It runs after
	// the database and Redis are open, so handlers can be built from them.
	Register func(reg grpc.ServiceRegistrar, deps Deps) error
	// Authorizer is the authorization hook; nil means authn.Authorizer with
	// memberships resolved by Resolver.
	Authorizer access.Authorizer
	// Resolver answers memberships; nil means asking tenancy over mTLS.
	Resolver authz.Resolver
	// Background work that runs for the server's lifetime (relays, workers).
	// Each returns when its context ends.
	Background []func(ctx context.Context) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// LocalAudit, set by the audit service itself, receives its own outbox
	// without a network hop; other services relay to cfg.AuditAddr.
	LocalAudit outbox.Appender
	// Listener overrides listening on cfg.GRPCAddr (tests pass 127.0.0.1:0).
	Listener net.Listener
}

// Deps are the shared resources handed to a service's Register.
type Deps struct {
	// RoleOf answers a user's role in an organisation (nil without the default authorizer).
	RoleOf func(ctx context.Context, userID, orgID string) (roles.Role, error)
	// Dial connects to a peer service over mTLS, checking its SPIFFE ID.
	Dial  func(service, addr string) (*grpc.ClientConn, error)
	DB    *pgxpool.Pool
	Redis *redis.Client
	// RedisNamespace prefixes the service's Redis keys and channels.
	RedisNamespace string
	Logger         *slog.Logger
	TLS            *mtls.Source
}

// Server is a running-ready gRPC service.
type Server struct {
	metrics    *prometheus.Registry
	probe      *grpc.Server // the plaintext health listener, when configured
	cfg        config.Service
	log        *slog.Logger
	tls        *mtls.Source
	grpc       *grpc.Server
	health     *health.Server
	lis        net.Listener
	db         *pgxpool.Pool
	redis      *redis.Client
	rules      map[string]*optionsv1.Access
	authorizer access.Authorizer
	background []func(context.Context) error
	chainNames []string
	checker    *authz.Checker
	peers      []*grpc.ClientConn
}

// Dial connects to a peer service over mTLS; the peer must present the
// SPIFFE ID of that service. Connections are lazy and closed with the server.
func (s *Server) Dial(service, addr string) (*grpc.ClientConn, error) {
	id, err := mtls.ServiceID(s.tls.TrustDomain(), service)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(mtls.ClientCredentials(s.tls, id)),
		mtls.Reconnect(), grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		return nil, fmt.Errorf("server: dial %s: %w", service, err)
	}
	s.peers = append(s.peers, conn)
	return conn, nil
}

func (s *Server) roleOf(ctx context.Context, userID, orgID string) (roles.Role, error) {
	if s.checker == nil {
		return roles.None, errors.New("server: no membership checker")
	}
	return s.checker.RoleOf(ctx, userID, orgID)
}

// Checker is the membership checker, when the default authorizer is in use.
func (s *Server) Checker() *authz.Checker { return s.checker }

// New builds and validates everything a service needs (certificates,
// database with migrations applied, Redis, the access table of every
// registered RPC) and listens, but serves nothing until Run.
func New(ctx context.Context, cfg config.Service, opts Options) (s *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s = &Server{cfg: cfg, log: log, authorizer: opts.Authorizer, background: opts.Background}
	built := s // the error returns set s to nil
	defer func() {
		if err != nil {
			built.close()
		}
	}()

	if s.tls, err = mtls.NewSource(cfg.TLS, cfg.TrustDomain, log); err != nil {
		return nil, err
	}
	if name, err := mtls.ServiceName(s.tls.ID()); err != nil || name != cfg.Name {
		return nil, fmt.Errorf("server: certificate %s is for %s, not service %q", cfg.TLS.Cert, s.tls.ID(), cfg.Name)
	}
	if err := Migrate(ctx, cfg, opts); err != nil {
		return nil, err
	}
	if s.db, err = postgres.Open(ctx, cfg.DatabaseURL.Reveal(), cfg.DBMaxConns, cfg.DBRole); err != nil {
		return nil, err
	}
	if s.redis, err = redisconn.Open(ctx, cfg.RedisURL.Reveal()); err != nil {
		return nil, err
	}

	if s.authorizer == nil {
		resolver := opts.Resolver
		if resolver == nil {
			conn, err := s.Dial("tenancy", cfg.TenancyAddr)
			if err != nil {
				return nil, err
			}
			s.peers = append(s.peers, conn)
			resolver = authz.TenancyResolver{Client: tenancyv1.NewTenancyServiceClient(conn)}
		}
		s.checker = authz.NewChecker(resolver, cfg.MembershipCacheTTL)
		s.authorizer = authn.Authorizer{Memberships: s.checker}
	}

	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("server: protovalidate: %w", err)
	}
	chain := s.chain(validator)
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	var rpcMetrics *grpcprom.ServerMetrics
	if cfg.MetricsAddr != "" {
		// Outermost, so that every outcome (refusals too) is counted.
		rpcMetrics = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
		s.metrics = metrics.NewRegistry()
		s.metrics.MustRegister(rpcMetrics)
		unary, stream = append(unary, rpcMetrics.UnaryServerInterceptor()), append(stream, rpcMetrics.StreamServerInterceptor())
	}
	for _, ic := range chain {
		unary, stream = append(unary, ic.Unary), append(stream, ic.Stream)
		s.chainNames = append(s.chainNames, ic.Name)
	}
	s.grpc = grpc.NewServer(
		grpc.Creds(mtls.ServerCredentials(s.tls)),
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(4<<20),
		grpc.MaxConcurrentStreams(1000),
		grpc.ConnectionTimeout(10*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	if opts.Register != nil {
		if err := opts.Register(s.grpc, Deps{Dial: s.Dial, RoleOf: s.roleOf, DB: s.db, Redis: s.redis, RedisNamespace: cfg.RedisNamespace, Logger: log, TLS: s.tls}); err != nil {
			return nil, fmt.Errorf("server: register: %w", err)
		}
	}
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	if rpcMetrics != nil {
		rpcMetrics.InitializeMetrics(s.grpc)
	}
	if cfg.HealthAddr != "" {
		// Health only: no service, no reflection, nothing a peer could call.
		s.probe = grpc.NewServer(grpc.MaxRecvMsgSize(4<<10), grpc.ConnectionTimeout(5*time.Second))
		healthpb.RegisterHealthServer(s.probe, s.health)
	}
	if s.rules, err = access.Table(s.grpc.GetServiceInfo()); err != nil {
		return nil, err
	}
	if len(s.rules) == 0 && opts.Register != nil {
		return nil, errNoRules
	}

	// Every service relays its audit outbox to the audit service.
	appender := opts.LocalAudit
	if appender == nil {
		conn, err := s.Dial("audit", cfg.AuditAddr)
		if err != nil {
			return nil, err
		}
		client := auditv1.NewAuditServiceClient(conn)
		appender = func(ctx context.Context, in *auditv1.AppendEventsRequest) (*auditv1.AppendEventsResponse, error) {
			return client.AppendEvents(ctx, in)
		}
	}
	relay := outbox.NewRelay(s.db, appender, log)
	s.background = append(s.background, relay.Run)

	s.lis = opts.Listener
	if s.lis == nil {
		if s.lis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			return nil, fmt.Errorf("server: listen %s: %w", cfg.GRPCAddr, err)
		}
	}
	// Not serving until Run has started and the dependencies answer.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s, nil
}

// Migrate applies the platform's, the service's and the libraries'
// migrations as the owning role (DATABASE_MIGRATION_URL, or DATABASE_URL),
// each under an advisory lock. New runs it; a deployment's migration job
// runs it alone (PYTHORIX_MIGRATE_ONLY).
func Migrate(ctx context.Context, cfg config.Service, opts Options) error {
	migrationURL := cfg.DatabaseMigrationURL.Reveal()
	if migrationURL == "" {
		migrationURL = cfg.DatabaseURL.Reveal()
	}
	if err := postgres.Migrate(ctx, migrationURL, outbox.Migrations(), postgres.PlatformVersionTable); err != nil {
		return err
	}
	if opts.Migrations != nil {
		if err := postgres.Migrate(ctx, migrationURL, opts.Migrations, postgres.ServiceVersionTable); err != nil {
			return err
		}
	}
	if opts.Migrate != nil {
		if err := opts.Migrate(ctx, migrationURL); err != nil {
			return fmt.Errorf("server: migrate: %w", err)
		}
	}
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// ChainNames lists the interceptor chain in order, for tests and logs.
func (s *Server) ChainNames() []string { return append([]string(nil), s.chainNames...) }

// DB is the service's pool (nil-safe for tests that inspect state).
func (s *Server) DB() *pgxpool.Pool { return s.db }

// Run serves until ctx ends, then drains: health goes NOT_SERVING, the server
// waits ShutdownDelay for load balancers to notice, stops gracefully, and
// closes remaining connections after ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.grpc.Serve(s.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("server: serve: %w", err)
		}
		return nil
	})
	g.Go(func() error { s.tls.Watch(gctx, s.cfg.CertReloadInterval); return nil })
	g.Go(func() error { s.watchDependencies(gctx); return nil })
	if s.checker != nil {
		g.Go(func() error { s.checker.Watch(gctx, s.redis, s.cfg.RedisNamespace, s.log); return nil })
	}
	for _, bg := range s.background {
		g.Go(func() error { return bg(gctx) })
	}
	if s.metrics != nil {
		g.Go(func() error { return metrics.Serve(gctx, s.cfg.MetricsAddr, s.metrics, s.log) })
	}
	if s.probe != nil {
		lis, err := net.Listen("tcp", s.cfg.HealthAddr)
		if err != nil {
			return fmt.Errorf("server: health listener %s: %w", s.cfg.HealthAddr, err)
		}
		g.Go(func() error {
			if err := s.probe.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return fmt.Errorf("server: health listener: %w", err)
			}
			return nil
		})
		g.Go(func() error { <-gctx.Done(); s.probe.Stop(); return nil })
	}
	s.log.InfoContext(ctx, "serving", "addr", s.lis.Addr().String(), "spiffe_id", s.tls.ID().String(), "chain", s.chainNames)
	g.Go(func() error {
		<-gctx.Done()
		s.drain()
		return nil
	})
	err := g.Wait()
	s.log.Info("stopped")
	return err
}

func (s *Server) drain() {
	s.log.Info("draining", "delay", s.cfg.ShutdownDelay.String(), "timeout", s.cfg.ShutdownTimeout.String())
	s.health.Shutdown()
	time.Sleep(s.cfg.ShutdownDelay)
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.log.Warn("graceful drain timed out; closing connections")
		s.grpc.Stop()
		<-done
	}
}

// watchDependencies keeps the health status in step with Postgres and Redis.
func (s *Server) watchDependencies(ctx context.Context) {
	check := func() {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		// Without PostgreSQL a service can do nothing: it is not serving.
		// Without Redis it is degraded, not down (README, "While Redis is
		// down"): the features that need Redis refuse or degrade on their
		// own, and "redis" reports it.
		st, rst := healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_SERVING
		if err := s.db.Ping(cctx); err != nil {
			s.log.WarnContext(ctx, "postgres unhealthy", "error", err)
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if err := s.redis.Ping(cctx).Err(); err != nil {
			s.log.WarnContext(ctx, "redis unhealthy", "error", err)
			rst = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if ctx.Err() == nil {
			s.health.SetServingStatus("", st)
			s.health.SetServingStatus("redis", rst)
		}
	}
	check()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}

func (s *Server) close() {
	for _, c := range s.peers {
		_ = c.Close()
	}
	if s.lis != nil && s.grpc == nil {
		_ = s.lis.Close()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}
