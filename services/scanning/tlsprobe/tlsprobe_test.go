package tlsprobe

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

var now = time.Now()

// testCA is a root created for the tests.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

var ca = sync.OnceValue(func() *testCA {
	key := ecKey()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root"},
		NotBefore: now.Add(-10 * 365 * 24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testCA{c, key, pool}
})

var rsa2048 = sync.OnceValue(func() crypto.Signer { return rsaKey(2048) })

func ecKey() crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func rsaKey(bits int) crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// leaf describes a server certificate; zero fields get sane defaults.
type leaf struct {
	names      []string
	notBefore  time.Time
	notAfter   time.Time
	key        crypto.Signer
	selfSigned bool
	sigAlg     x509.SignatureAlgorithm
}

func (l leaf) cert(t *testing.T) tls.Certificate {
	t.Helper()
	if l.names == nil {
		l.names = []string{"localhost"}
	}
	if l.notBefore.IsZero() {
		l.notBefore = now.Add(-time.Hour)
	}
	if l.notAfter.IsZero() {
		l.notAfter = now.Add(90 * 24 * time.Hour)
	}
	if l.key == nil {
		l.key = ecKey()
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: l.names[0]},
		DNSNames: l.names, NotBefore: l.notBefore, NotAfter: l.notAfter, SignatureAlgorithm: l.sigAlg,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := ca().cert, ca().key
	if l.selfSigned {
		parent, signer = tmpl, l.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, l.key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: l.key}
}

// serve starts a TLS server on 127.0.0.1 that completes handshakes and
// closes; it returns the port.
func serve(t *testing.T, cert tls.Certificate, cfg *tls.Config) int {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cfg.Certificates = []tls.Certificate{cert}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				tls.Server(c, cfg).Handshake()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func probe(t *testing.T, port int, o Options) *Report {
	t.Helper()
	if o.RootCAs == nil {
		o.RootCAs = ca().pool
	}
	o.Timeout = 2 * time.Second
	r, err := Probe(context.Background(), "localhost", port, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ids(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.CheckID)
	}
	return out
}

func want(t *testing.T, r *Report, cap string, checks ...string) {
	t.Helper()
	if r.Cap != cap {
		t.Errorf("Cap = %q, want %q (findings %v)", r.Cap, cap, ids(r))
	}
	for _, c := range checks {
		if !slices.Contains(ids(r), c) {
			t.Errorf("missing finding %s in %v", c, ids(r))
		}
	}
}

func TestModern(t *testing.T) {
	port := serve(t, leaf{}.cert(t), nil)
	var dials, paces int
	r := probe(t, port, Options{
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials++
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		Pace: func(context.Context) error { paces++; return nil },
	})
	if !r.Reachable || !r.Trusted || r.Expired || r.NameMismatch || !r.ForwardSecrecy || !r.AEAD {
		t.Errorf("report %+v", r)
	}
	if !slices.Equal(r.Versions, []string{"TLS 1.2", "TLS 1.3"}) {
		t.Errorf("Versions = %v", r.Versions)
	}
	if r.Cap != "" || len(r.Findings) != 0 {
		t.Errorf("Cap %q, findings %+v", r.Cap, r.Findings)
	}
	if r.Handshakes < 5 || r.Handshakes > 10 || dials != r.Handshakes || paces != r.Handshakes-1 {
		t.Errorf("handshakes %d, dials %d, paces %d", r.Handshakes, dials, paces)
	}
	if len(r.Chain) != 1 || r.Chain[0].Subject != "localhost" || r.Chain[0].KeyType != "ECDSA" || r.Chain[0].KeyBits != 256 ||
		r.Chain[0].Issuer != "Test Root" || !r.NotAfter.Equal(r.Chain[0].NotAfter) {
		t.Errorf("chain %+v", r.Chain)
	}
}

func TestProtocols(t *testing.T) {
	t.Run("tls12 only", func(t *testing.T) {
		r := probe(t, serve(t, leaf{}.cert(t), &tls.Config{MaxVersion: tls.VersionTLS12}), Options{})
		want(t, r, "A-", finding.TLSNoTLS13)
		if !r.ForwardSecrecy || !r.AEAD {
			t.Errorf("FS %v AEAD %v", r.ForwardSecrecy, r.AEAD)
		}
	})
	t.Run("tls10", func(t *testing.T) {
		r := probe(t, serve(t, leaf{}.cert(t), &tls.Config{MinVersion: tls.VersionTLS10}), Options{})
		want(t, r, "B", finding.TLSLegacyProtocol)
		if !slices.Equal(r.Versions, []string{"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}) {
			t.Errorf("Versions = %v", r.Versions)
		}
		var subjects []string
		for _, f := range r.Findings {
			if f.CheckID == finding.TLSLegacyProtocol {
				subjects = append(subjects, f.Subject)
			}
		}
		if !slices.Equal(subjects, []string{"TLS 1.0", "TLS 1.1"}) {
			t.Errorf("legacy subjects %v", subjects)
		}
	})
}

func TestCiphers(t *testing.T) {
	t.Run("rsa kex cbc", func(t *testing.T) {
		cfg := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}}
		r := probe(t, serve(t, leaf{key: rsa2048()}.cert(t), cfg), Options{})
		want(t, r, "B", finding.TLSNoForwardSecrecy, finding.TLSNoAEAD, finding.TLSNoTLS13)
		if r.ForwardSecrecy || r.AEAD || slices.Contains(ids(r), finding.TLSWeakCipher) {
			t.Errorf("FS %v AEAD %v findings %v", r.ForwardSecrecy, r.AEAD, ids(r))
		}
	})
	t.Run("3des", func(t *testing.T) {
		cfg := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA}}
		r := probe(t, serve(t, leaf{key: rsa2048()}.cert(t), cfg), Options{})
		want(t, r, "B", finding.TLSWeakCipher, finding.TLSNoTLS13)
		if len(r.Findings) != 2 || !r.ForwardSecrecy || !r.AEAD {
			t.Errorf("FS %v AEAD %v findings %v", r.ForwardSecrecy, r.AEAD, ids(r))
		}
	})
}

func TestCertificates(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name    string
		leaf    leaf
		cap     string
		checks  []string
		trusted bool
	}{
		{"self-signed", leaf{selfSigned: true}, "F", []string{finding.TLSCertUntrusted}, false},
		{"expired", leaf{notBefore: now.Add(-30 * day), notAfter: now.Add(-day)}, "F", []string{finding.TLSCertExpired}, true},
		{"name mismatch", leaf{names: []string{"other.example"}}, "F", []string{finding.TLSCertNameMismatch}, true},
		{"expiring soon", leaf{notAfter: now.Add(5 * day)}, "", []string{finding.TLSCertExpiringSoon}, true},
		{"weak key", leaf{key: rsaKey(1024)}, "", []string{finding.TLSCertWeakKey}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := probe(t, serve(t, tc.leaf.cert(t), nil), Options{})
			want(t, r, tc.cap, tc.checks...)
			if r.Trusted != tc.trusted || len(r.Findings) != len(tc.checks) {
				t.Errorf("Trusted %v, findings %+v", r.Trusted, r.Findings)
			}
			for _, f := range r.Findings {
				if f.Location != "https://localhost:"+strings.Split(f.Location, ":")[2] || !strings.Contains(f.Evidence, "subject=") || f.Detail == "" {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
}

func TestWeakSignature(t *testing.T) {
	l := leaf{sigAlg: x509.ECDSAWithSHA1}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now, NotAfter: now.Add(time.Hour), SignatureAlgorithm: x509.ECDSAWithSHA1}
	if _, err := x509.CreateCertificate(rand.Reader, tmpl, ca().cert, ecKey().Public(), ca().key); err != nil {
		t.Skip("cannot create SHA-1 signed certificates:", err)
	}
	r := probe(t, serve(t, l.cert(t), nil), Options{})
	// crypto/x509 also refuses SHA-1 signatures, so the chain is untrusted.
	want(t, r, "F", finding.TLSCertWeakSignature, finding.TLSCertUntrusted)
}

func TestUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := probe(t, port, Options{})
	want(t, r, "F", finding.TLSUnavailable)
	if r.Reachable || r.Handshakes != 1 {
		t.Errorf("report %+v", r)
	}
}

func TestCanceled(t *testing.T) {
	port := serve(t, leaf{}.cert(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Probe(ctx, "localhost", port, Options{RootCAs: ca().pool}); err == nil {
		t.Fatal("want error")
	}
	ctx, cancel = context.WithCancel(context.Background())
	_, err := Probe(ctx, "localhost", port, Options{RootCAs: ca().pool, Pace: func(ctx context.Context) error {
		cancel()
		return ctx.Err()
	}})
	if err == nil {
		t.Fatal("want error when canceled mid-probe")
	}
}

func TestLocation(t *testing.T) {
	for in, want := range map[string]string{"a.example:443": "https://a.example/", "a.example:8443": "https://a.example:8443/",
		"::1:443": "https://[::1]/", "::1:8443": "https://[::1]:8443/"} {
		i := strings.LastIndex(in, ":")
		port := 443
		if in[i+1:] == "8443" {
			port = 8443
		}
		if got := location(in[:i], port); got != want {
			t.Errorf("location(%s) = %s, want %s", in, got, want)
		}
	}
}
