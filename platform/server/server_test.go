package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/platform/server/servertest"
)

type identityStub struct {
	identityv1.UnimplementedIdentityServiceServer
}

// startIdentity runs a server carrying the identity service's contract (all
// RPCs Unimplemented) so that the chain's decisions are observable: a call
// that passes every check reaches the handler and answers Unimplemented.
func startIdentity(t *testing.T) (pkiDir string, srv *server.Server) {
	t.Helper()
	pkiDir = servertest.PKI(t)
	opts := server.Options{Register: func(reg grpc.ServiceRegistrar, _ server.Deps) error {
		identityv1.RegisterIdentityServiceServer(reg, identityStub{})
		return nil
	}}
	srv = servertest.Start(t, servertest.Config(t, "identity", pkiDir, opts.Migrations), opts)
	return pkiDir, srv
}

// startIdentityWith is startIdentity with one free loopback address given
// to edit (for a listener the configuration names).
func startIdentityWith(t *testing.T, edit func(c *config.Service, addr string)) (string, config.Service, *server.Server) {
	t.Helper()
	pkiDir := servertest.PKI(t)
	opts := server.Options{Register: func(reg grpc.ServiceRegistrar, _ server.Deps) error {
		identityv1.RegisterIdentityServiceServer(reg, identityStub{})
		return nil
	}}
	cfg := servertest.Config(t, "identity", pkiDir, opts.Migrations)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	edit(&cfg, lis.Addr().String())
	lis.Close()
	return pkiDir, cfg, servertest.Start(t, cfg, opts)
}

func loadCA(t *testing.T, dir string) *pki.CA {
	t.Helper()
	ca, err := pki.LoadCA(pki.CAPath(dir), dir+"/ca.key")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func tlsCert(t *testing.T, ca *pki.CA, spiffeID string) tls.Certificate {
	t.Helper()
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "test", SPIFFEID: spiffeID, DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
}

func roots(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(pki.CAPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

// rawConn dials with a hand-built TLS config, as an attacker or a
// misconfigured peer would; the server's certificate is still verified.
func rawConn(t *testing.T, addr string, certs []tls.Certificate, rootPool *x509.CertPool) *grpc.ClientConn {
	t.Helper()
	creds := credentials.NewTLS(&tls.Config{Certificates: certs, RootCAs: rootPool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	_, srv := startIdentity(t)
	want := []string{"request_id", "logging", "recovery", "peer_authentication", "validation", "authorization"}
	if got := srv.ChainNames(); !slices.Equal(got, want) {
		t.Fatalf("chain = %v, want %v", got, want)
	}
}

func TestPeerAuthentication(t *testing.T) {
	t.Parallel()
	dir, srv := startIdentity(t)
	addr := srv.Addr().String()
	ca := loadCA(t, dir)
	otherCA, err := pki.NewCA("attacker CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rootPool := roots(t, dir)
	login := func(c *grpc.ClientConn) error {
		_, err := identityv1.NewIdentityServiceClient(c).Login(context.Background(),
			&identityv1.LoginRequest{Email: "a@example.com", Password: "x"})
		return err
	}
	lookup := func(c *grpc.ClientConn) error {
		_, err := identityv1.NewIdentityServiceClient(c).LookupUsers(context.Background(), &identityv1.LookupUsersRequest{})
		return err
	}
	getMe := func(c *grpc.ClientConn) error {
		_, err := identityv1.NewIdentityServiceClient(c).GetMe(context.Background(), &identityv1.GetMeRequest{})
		return err
	}
	as := func(svc string) *grpc.ClientConn { return servertest.Dial(t, dir, svc, "identity", addr) }
	withCert := func(c tls.Certificate) *grpc.ClientConn { return rawConn(t, addr, []tls.Certificate{c}, rootPool) }

	tests := []struct {
		name string
		conn *grpc.ClientConn
		call func(*grpc.ClientConn) error
		want codes.Code
	}{
		// Unimplemented means every check passed and the handler ran.
		{"gateway calls a public RPC", as("gateway"), login, codes.Unimplemented},
		{"gateway calls an internal RPC it is listed for", as("gateway"), lookup, codes.Unimplemented},
		{"tenancy calls an internal RPC it is listed for", as("tenancy"), lookup, codes.Unimplemented},
		{"scanning calls an internal RPC it is not listed for", as("scanning"), lookup, codes.PermissionDenied},
		{"a service other than the gateway calls a user-facing RPC", as("tenancy"), login, codes.PermissionDenied},
		{"gateway calls an authenticated RPC without a principal", as("gateway"), getMe, codes.Unauthenticated},
		{"unknown service name from the right CA", withCert(tlsCert(t, ca, "spiffe://pythorix.local/svc/intruder")), login, codes.PermissionDenied},
		{"SPIFFE ID that is not a service", withCert(tlsCert(t, ca, "spiffe://pythorix.local/user/alice")), login, codes.PermissionDenied},
		{"gateway's SPIFFE ID from another CA", withCert(tlsCert(t, otherCA, "spiffe://pythorix.local/svc/gateway")), login, codes.Unavailable},
		{"right CA, foreign trust domain", withCert(tlsCert(t, ca, "spiffe://evil.example/svc/gateway")), login, codes.Unavailable},
		{"certificate without a SPIFFE ID", withCert(tlsCert(t, ca, "")), login, codes.Unavailable},
		{"no client certificate", rawConn(t, addr, nil, rootPool), login, codes.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.conn)
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

func TestHealthReflectsDependencies(t *testing.T) {
	t.Parallel()
	dir, srv := startIdentity(t)
	conn := servertest.Dial(t, dir, "scanning", "identity", srv.Addr().String())
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never SERVING: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	t.Parallel()
	dir, srv := startIdentity(t)
	client := identityv1.NewIdentityServiceClient(servertest.Dial(t, dir, "gateway", "identity", srv.Addr().String()))
	tests := []struct {
		name  string
		req   *identityv1.SignupRequest
		field string
	}{
		{"bad email", &identityv1.SignupRequest{Email: "not-an-email", Password: "correct horse battery", Name: "A"}, "email"},
		{"short password", &identityv1.SignupRequest{Email: "a@example.com", Password: "short", Name: "A"}, "password"},
		{"password over 72 bytes", &identityv1.SignupRequest{Email: "a@example.com", Password: strings.Repeat("é", 37), Name: "A"}, "password"},
		{"missing name", &identityv1.SignupRequest{Email: "a@example.com", Password: "correct horse battery"}, "name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.Signup(context.Background(), tc.req)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %v, want InvalidArgument", st.Code())
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if !slices.Contains(fields, tc.field) {
				t.Fatalf("violations name %v, want %q (message %q)", fields, tc.field, st.Message())
			}
		})
	}
}

// handshake returns the serial of the certificate the server presents, or the
// handshake error.
func handshake(addr string, cert tls.Certificate, rootPool *x509.CertPool) (*big.Int, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: rootPool, ServerName: "localhost", NextProtos: []string{"h2"},
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// In TLS 1.3 the server checks the client certificate after the client's
	// handshake completes; a read surfaces a rejection.
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil && !isTimeout(err) {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRotatedCertificatesArePickedUpWithoutRestart(t *testing.T) {
	t.Parallel()
	dir, srv := startIdentity(t)
	addr := srv.Addr().String()
	ca := loadCA(t, dir)
	gatewayCert := tlsCert(t, ca, "spiffe://pythorix.local/svc/gateway")

	before, err := handshake(addr, gatewayCert, roots(t, dir))
	if err != nil {
		t.Fatal(err)
	}

	// Rotate the server's own certificate in place.
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "identity", SPIFFEID: "spiffe://pythorix.local/svc/identity", DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	p := pki.ServicePaths(dir, "identity")
	if err := leaf.Write(p.Cert, p.Key); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the server presents the rotated certificate", func() bool {
		serial, err := handshake(addr, gatewayCert, roots(t, dir))
		return err == nil && serial.Cmp(before) != 0 && serial.Cmp(leaf.Cert.SerialNumber) == 0
	})

	// Rotate the trust bundle: a peer from a new CA is refused until the
	// bundle file lists that CA, then accepted, still without a restart.
	newCA, err := pki.NewCA("rotated CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fromNewCA := tlsCert(t, newCA, "spiffe://pythorix.local/svc/gateway")
	if _, err := handshake(addr, fromNewCA, roots(t, dir)); err == nil {
		t.Fatal("a certificate from an untrusted CA was accepted before the bundle rotated")
	}
	bundle, err := os.ReadFile(pki.CAPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir() + "/new-ca.crt"
	if err := newCA.Write(tmp, t.TempDir()+"/new-ca.key"); err != nil {
		t.Fatal(err)
	}
	newPEM, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pki.CAPath(dir), append(bundle, newPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rotated bundle is trusted", func() bool {
		_, err := handshake(addr, fromNewCA, roots(t, dir))
		return err == nil
	})
}

// With PYTHORIX_METRICS_ADDR set, a service serves Prometheus metrics on
// that port alone, counting every RPC by code (refusals too).
func TestMetricsOnTheirOwnPort(t *testing.T) {
	t.Parallel()
	pkiDir, cfg, srv := startIdentityWith(t, func(c *config.Service, addr string) { c.MetricsAddr = addr })
	conn := servertest.Dial(t, pkiDir, "scanning", "identity", srv.Addr().String())
	_, _ = identityv1.NewIdentityServiceClient(conn).GetMe(context.Background(), &identityv1.GetMeRequest{})
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(body, `grpc_server_handled_total{grpc_code="PermissionDenied",grpc_method="GetMe"`) {
		if time.Now().After(deadline) {
			t.Fatalf("metrics: %.2000s", body)
		}
		time.Sleep(50 * time.Millisecond)
		resp, err := http.Get("http://" + cfg.MetricsAddr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "grpc_server_handling_seconds_bucket") {
		t.Errorf("runtime or latency metrics missing")
	}
}

// The probe listener answers health in plaintext, and nothing else.
func TestPlaintextHealthListener(t *testing.T) {
	t.Parallel()
	_, cfg, _ := startIdentityWith(t, func(c *config.Service, addr string) { c.HealthAddr = addr })
	conn, err := grpc.NewClient(cfg.HealthAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never SERVING: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := identityv1.NewIdentityServiceClient(conn).GetMe(context.Background(), &identityv1.GetMeRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("an RPC on the probe listener: %v", err)
	}
}
