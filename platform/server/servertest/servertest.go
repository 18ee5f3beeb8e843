// Package servertest starts real suite services in-process for tests: real
// certificates, real mTLS on loopback, a fresh Postgres database each.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"

	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/mtls"
	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/platform/secret"
	"github.com/pythorix/pythorix/platform/server"
)

// TrustDomain is the trust domain of test PKIs.
const TrustDomain = "pythorix.local"

// PKI writes a fresh development PKI into a temporary directory.
func PKI(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := pki.WriteSuite(dir, TrustDomain, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Config is a service configuration for tests over pkiDir with a fresh
// database migrated with the service's migrations (nil for none).
func Config(t testing.TB, name, pkiDir string, migrations fs.FS) config.Service {
	t.Helper()
	p := pki.ServicePaths(pkiDir, name)
	return config.Service{
		Name:               name,
		GRPCAddr:           "127.0.0.1:0",
		DatabaseURL:        secret.New(pgtest.ServiceDatabase(t, migrations)),
		RedisURL:           secret.New(pgtest.RedisURL(t)),
		RedisNamespace:     Namespace(t),
		DataDir:            t.TempDir(),
		TrustDomain:        TrustDomain,
		TLS:                mtls.Files{Cert: p.Cert, Key: p.Key, CA: pki.CAPath(pkiDir)},
		CertReloadInterval: 50 * time.Millisecond,
		PrincipalAssertors: []string{"gateway"},
		LogLevelName:       "warn",
		LogLevel:           slog.LevelWarn,
		ShutdownTimeout:    5 * time.Second,
		MembershipCacheTTL: 30 * time.Second,
		// Nothing listens here unless a test sets real peers.
		TenancyAddr:  "127.0.0.1:1",
		IdentityAddr: "127.0.0.1:1",
		AuditAddr:    "127.0.0.1:1",
		DBMaxConns:   5,
		DBRole:       "pythorix_app",
	}
}

// Namespace is a Redis namespace of the test's own, so parallel tests and
// repeated runs never see each other's keys (back-off counters, revocations).
func Namespace(t testing.TB) string {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	return fmt.Sprintf("t%x%x", h.Sum64(), time.Now().UnixNano()&0xffffff)
}

// Start builds and runs a service until the test ends.
func Start(t testing.TB, cfg config.Service, opts server.Options) *server.Server {
	t.Helper()
	srv, _ := StartStoppable(t, cfg, opts)
	return srv
}

// StartStoppable is Start with a stop function (idempotent) for tests that
// take a service down and bring it back.
func StartStoppable(t testing.TB, cfg config.Service, opts server.Options) (*server.Server, func()) {
	t.Helper()
	if opts.Listener == nil {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		opts.Listener = lis
	}
	if opts.Logger == nil {
		// PYTHORIX_TEST_LOG=1 shows the services' logs while debugging a test.
		var w io.Writer = io.Discard
		if os.Getenv("PYTHORIX_TEST_LOG") != "" {
			w = os.Stderr
		}
		opts.Logger = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("service", cfg.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatalf("servertest: start %s: %v", cfg.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("servertest: %s stopped with %v", cfg.Name, err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("servertest: %s did not stop", cfg.Name)
			}
		})
	}
	t.Cleanup(stop)
	return srv, stop
}

// Dial connects to service `target` at addr as service `as`, with as's
// certificate from pkiDir.
func Dial(t testing.TB, pkiDir, as, target, addr string) *grpc.ClientConn {
	t.Helper()
	p := pki.ServicePaths(pkiDir, as)
	src, err := mtls.NewSource(mtls.Files{Cert: p.Cert, Key: p.Key, CA: pki.CAPath(pkiDir)}, TrustDomain, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := spiffeid.RequireFromSegments(src.TrustDomain(), "svc", target)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(mtls.ClientCredentials(src, id)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
