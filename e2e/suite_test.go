package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/envelope"
	"github.com/pythorix/pythorix/platform/mail"
	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/platform/secret"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/platform/server/servertest"
	"github.com/pythorix/pythorix/services/audit"
	"github.com/pythorix/pythorix/services/gateway"
	"github.com/pythorix/pythorix/services/identity"
	"github.com/pythorix/pythorix/services/integrations"
	"github.com/pythorix/pythorix/services/scanning"
	"github.com/pythorix/pythorix/services/tenancy"
)

// Suite is a running Pythorix: five services and the gateway.
type Suite struct {
	URL      string
	PKI      string
	Client   *http.Client
	Mail     *Mailbox
	Identity identity.Config
	Scanning scanning.Settings
	// Integrations are the integrations service's settings (its key ring
	// is KEK, kept to read raw ciphertexts in tests).
	Integrations integrations.Settings
	KEK          *envelope.Keyring
	KEKSpec      string
	// AuditKey signs audit checkpoints; AuditVerifier checks them.
	AuditKey, AuditVerifier string
	// Gateway is the primary gateway (for benchmarks of its internals).
	Gateway *gateway.Gateway
	// stop and restart take a service down and bring it back on its address.
	stop    map[string]func()
	restart map[string]func(t testing.TB)
	// gatewayEnv starts further gateway replicas on the same services.
	gatewayEnv map[string]string
	roots      *x509.CertPool
	// databases are the services' database URLs (tests that read raw rows).
	databases map[string]string
}

// SuiteOptions adjust a suite.
type SuiteOptions struct {
	// Identity edits identity's configuration before it starts.
	Identity func(*identity.Config)
	// Scanning edits scanning's settings before it starts.
	Scanning func(*scanning.Settings)
	// Integrations edits the integrations service's settings before it starts.
	Integrations func(*integrations.Settings)
	// GatewayEnv overrides the gateway's environment.
	GatewayEnv map[string]string
	// RedisURL replaces the Redis every process uses (a proxy a test cuts).
	RedisURL string
	// Database rewrites every service's database URLs (through a proxy).
	Database func(url string) string
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// StartSuite starts every service in-process on loopback, each with its own
// database, a real SMTP server for identity's mail, and the gateway.
func StartSuite(t testing.TB, so ...SuiteOptions) *Suite {
	t.Helper()
	dir := servertest.PKI(t)
	s := &Suite{PKI: dir, Mail: startMailbox(t, dir), stop: map[string]func(){}, restart: map[string]func(testing.TB){},
		databases: map[string]string{}}
	var err error
	if s.AuditKey, s.AuditVerifier, err = note.GenerateKey(rand.Reader, "pythorix-audit-test"); err != nil {
		t.Fatal(err)
	}
	gwLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(gwLis.Addr().String())
	s.URL = "https://localhost:" + port
	s.Identity = identity.Config{
		JWTKeys: secret.New("k1:" + randomKey()), KEK: secret.New("kek1:" + randomKey()),
		Pepper: secret.New(randomKey()), Issuer: "pythorix", Audience: "pythorix-api", TokenTTL: 24 * time.Hour,
		PublicURL: s.URL,
		Mail:      mail.Config{SMTPAddr: s.Mail.Addr, From: "Pythorix <no-reply@pythorix.test>", RequireTLS: true, CAFile: pki.CAPath(dir)},
	}
	// Outbound HTTPS from scanning trusts the suite's CA: test sites use its certificates.
	if caPEM, err := os.ReadFile(pki.CAPath(dir)); err == nil {
		s.Scanning.RootCAs = x509.NewCertPool()
		s.Scanning.RootCAs.AppendCertsFromPEM(caPEM)
	}
	s.KEKSpec = "kek1:" + randomKey()
	if s.KEK, err = envelope.ParseKeyring(s.KEKSpec); err != nil {
		t.Fatal(err)
	}
	s.Integrations = integrations.Settings{KEK: s.KEK, RootCAs: s.Scanning.RootCAs}
	for _, o := range so {
		if o.Identity != nil {
			o.Identity(&s.Identity)
		}
		if o.Integrations != nil {
			o.Integrations(&s.Integrations)
		}
		if o.Scanning != nil {
			o.Scanning(&s.Scanning)
		}
	}
	ns := servertest.Namespace(t)
	s.gatewayEnv = map[string]string{"PYTHORIX_DATA_DIR": t.TempDir(), "PYTHORIX_CERT_RELOAD_INTERVAL": "100ms",
		"PYTHORIX_TLS_CERT": pki.ServicePaths(dir, "gateway").Cert, "PYTHORIX_TLS_KEY": pki.ServicePaths(dir, "gateway").Key,
		"PYTHORIX_TLS_CA": pki.CAPath(dir), "PYTHORIX_GATEWAY_TLS_CERT": pki.GatewayHTTPSPaths(dir).Cert,
		"PYTHORIX_GATEWAY_TLS_KEY": pki.GatewayHTTPSPaths(dir).Key, "PYTHORIX_MAX_BODY_BYTES": "65536",
		"REDIS_URL": pgtest.RedisURL(t), "PYTHORIX_REDIS_NAMESPACE": ns,
		// Tests and benchmarks hammer one address; the rate-limit test sets its own.
		"PYTHORIX_RATE_LIMIT_IP": "1000000", "PYTHORIX_RATE_LIMIT_PRINCIPAL": "1000000"}
	redisURL := ""
	rewriteDB := func(u string) string { return u }
	for _, o := range so {
		if o.Database != nil {
			rewriteDB = o.Database
		}
		maps.Copy(s.gatewayEnv, o.GatewayEnv)
		if o.RedisURL != "" {
			redisURL = o.RedisURL
			s.gatewayEnv["REDIS_URL"] = o.RedisURL
		}
	}
	services := map[string]func(config.Service) (server.Options, error){
		"identity":     func(c config.Service) (server.Options, error) { return identity.ServerOptions(c, s.Identity) },
		"tenancy":      tenancy.Options,
		"integrations": func(config.Service) (server.Options, error) { return integrations.ServerOptions(s.Integrations) },
		"scanning":     func(config.Service) (server.Options, error) { return scanning.ServerOptions(s.Scanning) },
		"audit":        func(config.Service) (server.Options, error) { return audit.ServerOptions(secret.New(s.AuditKey)) },
	}
	// Listen first, so that services calling each other know the addresses.
	listeners := map[string]net.Listener{}
	for name := range services {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners[name] = lis
		s.gatewayEnv["PYTHORIX_"+strings.ToUpper(name)+"_ADDR"] = lis.Addr().String()
	}
	s.Scanning.IntegrationsAddr = listeners["integrations"].Addr().String()
	for name, options := range services {
		probe, err := options(config.Service{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		cfg := servertest.Config(t, name, dir, probe.Migrations)
		if redisURL != "" {
			cfg.RedisURL = secret.New(redisURL)
		}
		cfg.DatabaseURL = secret.New(rewriteDB(cfg.DatabaseURL.Reveal()))
		if !cfg.DatabaseMigrationURL.IsZero() {
			cfg.DatabaseMigrationURL = secret.New(rewriteDB(cfg.DatabaseMigrationURL.Reveal()))
		}
		s.databases[name] = cfg.DatabaseURL.Reveal()
		cfg.RedisNamespace = ns
		cfg.TenancyAddr = listeners["tenancy"].Addr().String()
		cfg.IdentityAddr = listeners["identity"].Addr().String()
		cfg.AuditAddr = listeners["audit"].Addr().String()
		opts, err := options(cfg)
		if err != nil {
			t.Fatal(err)
		}
		opts.Listener = listeners[name]
		_, stop := servertest.StartStoppable(t, cfg, opts)
		s.stop[name] = stop
		suiteT := t // a restarted service lives as long as the suite, not the caller's subtest
		s.restart[name] = func(t testing.TB) {
			t.Helper()
			opts, err := options(cfg)
			if err != nil {
				t.Fatal(err)
			}
			lis, err := net.Listen("tcp", listeners[name].Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			opts.Listener = lis
			_, stop := servertest.StartStoppable(suiteT, cfg, opts)
			s.stop[name] = stop
		}
	}
	s.Gateway = s.startGateway(t, gwLis)
	pem, err := os.ReadFile(pki.CAPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	s.roots = x509.NewCertPool()
	s.roots.AppendCertsFromPEM(pem)
	s.Client = s.client()
	s.waitReady(t)
	return s
}

func (s *Suite) client() *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// startGateway runs a gateway replica on lis until the test ends.
func (s *Suite) startGateway(t testing.TB, lis net.Listener) *gateway.Gateway {
	t.Helper()
	cfg, err := gateway.LoadConfig(s.gatewayEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg, gateway.Options{Listener: lis, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("gateway: %v", err)
		}
	})
	return gw
}

// Replica starts a second gateway on the same services and returns its URL.
func (s *Suite) Replica(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.startGateway(t, lis)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return "https://localhost:" + port
}

func (s *Suite) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := s.Client.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("suite never became ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pkiDirOf recovers the suite's PKI directory from identity's configuration.
func pkiDirOf(c *identity.Config) string { return strings.TrimSuffix(c.Mail.CAFile, "/ca.crt") }

func secretOf(s string) secret.String { return secret.New(s) }
