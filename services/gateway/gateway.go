package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	scanningv1 "github.com/pythorix/pythorix/gen/go/pythorix/scanning/v1"
	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/metrics"
	"github.com/pythorix/pythorix/platform/mtls"
	"github.com/pythorix/pythorix/platform/redisconn"
)

// Gateway is the HTTPS edge.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	svid     *mtls.Source
	https    *mtls.KeyPair
	conns    map[string]*grpc.ClientConn
	handler  http.Handler
	lis      net.Listener
	redis    *redis.Client
	authn    *authenticator
	limiter  *limiter
	metrics  *httpMetrics
	sessions *sessions
	cors     *corsPolicy
}

// Options adjust construction; tests pass a listener on 127.0.0.1:0.
type Options struct {
	Logger   *slog.Logger
	Listener net.Listener
}

type registerFunc func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error

// New loads certificates, dials every service over mTLS (lazily: a service
// that is down makes its routes answer 503, not the gateway fail), builds the
// REST mux and listens.
func New(ctx context.Context, cfg Config, opts Options) (g *Gateway, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	g = &Gateway{cfg: cfg, log: log, conns: map[string]*grpc.ClientConn{}}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	if g.svid, err = mtls.NewSource(cfg.TLS, cfg.TrustDomain, log); err != nil {
		return nil, err
	}
	if name, err := mtls.ServiceName(g.svid.ID()); err != nil || name != "gateway" {
		return nil, fmt.Errorf("gateway: certificate %s is for %s, not the gateway", cfg.TLS.Cert, g.svid.ID())
	}
	if g.https, err = mtls.NewKeyPair(cfg.HTTPSCert, cfg.HTTPSKey, log); err != nil {
		return nil, err
	}

	if g.redis, err = redisconn.Open(ctx, cfg.RedisURL.Reveal()); err != nil {
		return nil, err
	}
	g.limiter = newLimiter(g.redis, cfg.RedisNamespace, cfg.RateIP, cfg.RatePrincipal)
	if cfg.MetricsAddr != "" {
		g.metrics = newHTTPMetrics()
	}
	g.sessions = newSessions(cfg.CSRFKey)
	if len(cfg.CSRFKey) == 0 {
		log.Warn("PYTHORIX_CSRF_KEY is not set: CSRF tokens use a random key and do not survive a restart or span replicas")
	}
	// g.authn is made below, once the upstream connections exist.
	mux := newMux(log, g.sessions, func(c string) { g.authn.forget(c) }, func(kind, id string) { g.authn.revoke(kind, id) })
	registrations := map[string]registerFunc{
		"identity":     identityv1.RegisterIdentityServiceHandler,
		"tenancy":      tenancyv1.RegisterTenancyServiceHandler,
		"scanning":     scanningv1.RegisterScanningServiceHandler,
		"audit":        auditv1.RegisterAuditServiceHandler,
		"integrations": integrationsv1.RegisterIntegrationsServiceHandler,
	}
	for name, addr := range cfg.upstreams() {
		id, err := mtls.ServiceID(g.svid.TrustDomain(), name)
		if err != nil {
			return nil, err
		}
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(mtls.ClientCredentials(g.svid, id)),
			mtls.Reconnect(),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)),
		)
		if err != nil {
			return nil, fmt.Errorf("gateway: dial %s: %w", name, err)
		}
		g.conns[name] = conn
		if err := registrations[name](ctx, mux, conn); err != nil {
			return nil, fmt.Errorf("gateway: register %s routes: %w", name, err)
		}
	}
	g.authn = newAuthenticator(identityv1.NewIdentityServiceClient(g.conns["identity"]), log, cfg.AuthCacheTTL)
	g.cors = newCORS(tenancyv1.NewTenancyServiceClient(g.conns["tenancy"]), splitOrigins(cfg.CORSSessionOrigins))
	// Every request is a span (continuing a caller's W3C trace context),
	// whose context the gRPC client carries on to the services.
	g.handler = otelhttp.NewHandler(g.routes(mux), "gateway", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return r.Method + " " + routeClass(r.URL.Path)
	}))

	g.lis = opts.Listener
	if g.lis == nil {
		if g.lis, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("gateway: listen %s: %w", cfg.Addr, err)
		}
	}
	return g, nil
}

// Addr is the listening address.
func (g *Gateway) Addr() net.Addr { return g.lis.Addr() }

// Handler is the full HTTP handler (middleware and routes), for tests.
func (g *Gateway) Handler() http.Handler { return g.handler }

// TLSConfig is the public listener's TLS configuration: TLS 1.3 preferred,
// 1.2 the minimum, and for 1.2 only forward-secret AEAD suites.
func (g *Gateway) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: g.https.GetCertificate,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		NextProtos:       []string{"h2", "http/1.1"},
	}
}

// Run serves HTTPS until ctx ends, then shuts down gracefully.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.close()
	srv := &http.Server{
		Handler:           g.handler,
		TLSConfig:         g.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      g.cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	eg, egctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := srv.ServeTLS(g.lis, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gateway: serve: %w", err)
		}
		return nil
	})
	eg.Go(func() error { g.svid.Watch(egctx, g.cfg.CertReloadInterval); return nil })
	eg.Go(func() error { g.https.Watch(egctx, g.cfg.CertReloadInterval); return nil })
	eg.Go(func() error { g.authn.watch(egctx, g.redis, g.cfg.RedisNamespace); return nil })
	if g.metrics != nil {
		eg.Go(func() error { return metrics.Serve(egctx, g.cfg.MetricsAddr, g.metrics.reg, g.log) })
	}
	eg.Go(func() error {
		<-egctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			g.log.Warn("graceful shutdown timed out", "error", err)
			_ = srv.Close()
		}
		return nil
	})
	g.log.InfoContext(ctx, "gateway serving", "url", "https://"+g.lis.Addr().String())
	return eg.Wait()
}

// ready checks every upstream's gRPC health within the deadline.
func (g *Gateway) ready(ctx context.Context) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	type result struct{ name, status string }
	results := make(chan result, len(g.conns))
	for name, conn := range g.conns {
		go func() {
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			st := "UNREACHABLE"
			if err == nil {
				st = resp.GetStatus().String()
			}
			results <- result{name, st}
		}()
	}
	out, ok := map[string]string{}, true
	for range g.conns {
		r := <-results
		out[r.name] = r.status
		ok = ok && r.status == healthpb.HealthCheckResponse_SERVING.String()
	}
	return out, ok
}

func (g *Gateway) close() {
	for _, c := range g.conns {
		_ = c.Close()
	}
	if g.redis != nil {
		_ = g.redis.Close()
	}
}
