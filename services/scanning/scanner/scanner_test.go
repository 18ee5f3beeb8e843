package scanner_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/services/scanning/finding"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

// site is a real HTTPS site on loopback, with a plain-HTTP side that
// redirects to it, recording every request it gets.
type site struct {
	tls, plain *httptest.Server
	mu         sync.Mutex
	seen       []*http.Request
	at         []time.Time
}

func (s *site) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, r)
	s.at = append(s.at, time.Now())
}

// host is the site's address by name: its certificates are for localhost.
func (s *site) host() string {
	return strings.Replace(strings.TrimPrefix(s.tls.URL, "https://"), "127.0.0.1", "localhost", 1)
}

func (s *site) httpPort() string {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.plain.URL, "http://"))
	return port
}

type pkiSet struct {
	ca    *pki.CA
	roots *x509.CertPool
}

func newPKI(t testing.TB) pkiSet {
	t.Helper()
	ca, err := pki.NewCA("scanner test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return pkiSet{ca: ca, roots: roots}
}

func (p pkiSet) cert(t testing.TB, o pki.LeafOptions) tls.Certificate {
	t.Helper()
	leaf, err := p.ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
}

// startSite starts the site; plain, when given, replaces the plain-HTTP
// side's redirect.
func startSite(t testing.TB, cert tls.Certificate, h http.HandlerFunc, plain ...http.HandlerFunc) *site {
	t.Helper()
	s := &site{}
	s.tls = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		h(w, r)
	}))
	s.tls.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.tls.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS probe fails handshakes on purpose
	s.tls.StartTLS()
	t.Cleanup(s.tls.Close)
	s.plain = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		if len(plain) > 0 {
			plain[0](w, r)
			return
		}
		http.Redirect(w, r, "https://"+s.host()+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(s.plain.Close)
	return s
}

func newScanner(t testing.TB, roots *x509.CertPool, httpPort string, delay time.Duration) *scanner.Scanner {
	t.Helper()
	guard, err := egress.NewGuard("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scanner.New(scanner.Options{Guard: guard, RootCAs: roots, HTTPPort: httpPort, Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

var hardened = map[string]string{
	"Content-Security-Policy":      "default-src 'none'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	"Strict-Transport-Security":    "max-age=63072000; includeSubDomains",
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "no-referrer",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Embedder-Policy": "require-corp",
	"Permissions-Policy":           "camera=()",
}

func securityTxt(w http.ResponseWriter, expires time.Time) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "# report here\nContact: mailto:security@example.test\nExpires: "+expires.UTC().Format(time.RFC3339)+"\n")
}

func hardenedSite(w http.ResponseWriter, r *http.Request) {
	for k, v := range hardened {
		w.Header().Set(k, v)
	}
	switch r.URL.Path {
	case "/":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Add("Set-Cookie", "__Host-sid=s3cr3tcookie; Path=/; Secure; HttpOnly; SameSite=Lax")
		_, _ = io.WriteString(w, "<!doctype html><title>ok</title><img src=/logo.png>")
	case "/.well-known/security.txt":
		securityTxt(w, time.Now().Add(200*24*time.Hour))
	default:
		http.NotFound(w, r)
	}
}

func ids(res *scanner.Result) map[string]scanner.Finding {
	out := map[string]scanner.Finding{}
	for _, f := range res.Findings {
		out[f.CheckID] = f
	}
	return out
}

func TestHardenedSiteGradesAPlusWithReadOnlyRequests(t *testing.T) {
	p := newPKI(t)
	s := startSite(t, p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}}), hardenedSite)
	res, err := newScanner(t, p.roots, s.httpPort(), 0).Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Grade != "A+" || !res.Graded || res.Cap != "" || res.HeaderScore < 100 {
		t.Fatalf("grade %s score %d cap %q tests %+v findings %+v", res.Grade, res.HeaderScore, res.Cap, res.Tests, res.Findings)
	}
	if len(res.Findings) != 0 {
		t.Errorf("a hardened site has findings: %+v", res.Findings)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.Requests != len(s.seen)+res.TLS.Handshakes {
		t.Errorf("requests %d, the site saw %d and %d handshakes", res.Requests, len(s.seen), res.TLS.Handshakes)
	}
	for _, r := range s.seen {
		if r.Method != http.MethodGet || r.UserAgent() != egress.UserAgent {
			t.Errorf("%s %s with User-Agent %q", r.Method, r.URL, r.UserAgent())
		}
	}
}

func TestWeakSiteFindings(t *testing.T) {
	p := newPKI(t)
	s := startSite(t, p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}}), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "Apache/2.4.29 (Ubuntu)")
		if o := r.Header.Get("Origin"); o != "" {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Add("Set-Cookie", "sessionid=s3cr3tcookie; Path=/")
			_, _ = io.WriteString(w, `<html><script src="http://cdn.example/app.js"></script><img src="http://cdn.example/a.png"></html>`)
		case "/.git/HEAD":
			_, _ = io.WriteString(w, "ref: refs/heads/main\n")
		case "/.env":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "# app\nDB_PASSWORD=hunter2hunter2\nAPP_NAME=shop\n")
		case "/.well-known/security.txt":
			securityTxt(w, time.Now().Add(-time.Hour))
		default:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\nKeyError: 'x'")
		}
	})
	res, err := newScanner(t, p.roots, s.httpPort(), 0).Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(res)
	for _, id := range []string{finding.CORSReflectedOrigin, finding.ServerVersionDisclosed, finding.VerboseErrors, finding.ExposedGit,
		finding.ExposedEnv, finding.MixedContentActive, finding.MixedContentPassive, finding.SecurityTxtInvalid, finding.CSPMissing,
		finding.HSTSMissing, finding.CookieInsecure, finding.CookieHTTPOnly} {
		if _, ok := got[id]; !ok {
			t.Errorf("no %s finding", id)
		}
	}
	if res.Grade != "F" {
		t.Errorf("grade %s, score %d", res.Grade, res.Score)
	}
	for _, f := range res.Findings {
		if strings.Contains(f.Evidence, "hunter2") || strings.Contains(f.Evidence, "s3cr3tcookie") {
			t.Errorf("%s evidence holds a secret: %q", f.CheckID, f.Evidence)
		}
		if len(f.Fingerprint) != 32 {
			t.Errorf("%s fingerprint %q", f.CheckID, f.Fingerprint)
		}
	}
	if !strings.Contains(got[finding.SecurityTxtInvalid].Detail, "expired") {
		t.Errorf("security.txt detail: %s", got[finding.SecurityTxtInvalid].Detail)
	}
}

func TestSoft404SitesDoNotReportExposedFiles(t *testing.T) {
	p := newPKI(t)
	s := startSite(t, p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}}), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ref: refs/heads/main\nKEY=value\n") // the same for every path
	})
	res, err := newScanner(t, p.roots, s.httpPort(), 0).Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(res)
	for _, id := range []string{finding.ExposedGit, finding.ExposedEnv, finding.SecurityTxtInvalid} {
		if _, ok := got[id]; ok {
			t.Errorf("soft 404 reported as %s", id)
		}
	}
	if _, ok := got[finding.SecurityTxtMissing]; !ok {
		t.Error("security.txt should read as missing")
	}
}

func TestCertificateProblemsCapTheGrade(t *testing.T) {
	p := newPKI(t)
	expired := p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
	s := startSite(t, expired, hardenedSite)
	res, err := newScanner(t, p.roots, s.httpPort(), 0).Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cap != "F" || res.Grade != "F" {
		t.Fatalf("expired certificate: cap %q grade %s", res.Cap, res.Grade)
	}
	if _, ok := ids(res)[finding.TLSCertExpired]; !ok {
		t.Error("no expiry finding")
	}
	// The headers were still read and graded.
	if res.HeaderGrade == "" || len(res.Tests) == 0 {
		t.Errorf("headers not graded: %q %v", res.HeaderGrade, res.Tests)
	}
}

func TestPolitenessDelaySpacesRequests(t *testing.T) {
	p := newPKI(t)
	s := startSite(t, p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}}), hardenedSite)
	const delay = 30 * time.Millisecond
	if _, err := newScanner(t, p.roots, s.httpPort(), delay).Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i < len(s.at); i++ {
		if gap := s.at[i].Sub(s.at[i-1]); gap < delay {
			t.Errorf("requests %d and %d only %s apart", i-1, i, gap)
		}
	}
}

func TestGuardAndReachability(t *testing.T) {
	p := newPKI(t)
	s := startSite(t, p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}}), hardenedSite)
	strict, err := egress.NewGuard()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scanner.New(scanner.Options{Guard: strict, RootCAs: p.roots, HTTPPort: s.httpPort()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil); !errors.Is(err, scanner.ErrUnreachable) {
		t.Fatalf("loopback without the operator's leave: %v", err)
	}
	s.mu.Lock()
	n := len(s.seen)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("the guard let %d requests through", n)
	}

	// Nothing listens: a transient failure, worth a retry.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if _, err := newScanner(t, p.roots, "1", 0).Scan(context.Background(), scanner.Target{Host: addr, Path: "/"}, nil); !errors.Is(err, scanner.ErrUnreachable) {
		t.Fatalf("closed port: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newScanner(t, p.roots, s.httpPort(), 0).Scan(ctx, scanner.Target{Host: s.host(), Path: "/"}, nil); err == nil {
		t.Fatal("a canceled scan succeeded")
	}
}

// A redirect to another host (here the same server under its IP address)
// is not followed: the grant covers the target only.
func TestRedirectsStayOnTheTarget(t *testing.T) {
	p := newPKI(t)
	var s *site
	s = startSite(t, p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}),
		func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				http.Redirect(w, r, s.tls.URL+"/elsewhere", http.StatusFound)
				return
			}
			http.NotFound(w, r)
		})
	if _, err := newScanner(t, p.roots, s.httpPort(), 0).Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.seen {
		if r.URL.Path == "/elsewhere" {
			t.Fatal("followed a redirect off the target")
		}
	}
}

func TestTargetsAreValidated(t *testing.T) {
	sc := newScanner(t, nil, "", 0)
	for _, h := range []string{"", "host:0", "host:99999", "host:x", "[::1"} {
		if _, err := sc.Scan(context.Background(), scanner.Target{Host: h, Path: "/"}, nil); err == nil || errors.Is(err, scanner.ErrUnreachable) {
			t.Errorf("%q: %v", h, err)
		}
	}
	guard, _ := egress.NewGuard()
	if _, err := scanner.New(scanner.Options{Guard: guard, HTTPPort: "http"}); err == nil {
		t.Error("a bad HTTP port was accepted")
	}
	if _, err := scanner.New(scanner.Options{}); err == nil {
		t.Error("a scanner without a guard was built")
	}
}

// Bytes a hostile page controls end up in a finding's fields: they must be
// storable (valid UTF-8, no NUL) and carry no secret.
func TestHostileBytesInFindingsAreStorable(t *testing.T) {
	p := newPKI(t)
	s := startSite(t, p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}}), func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<img src=\"http://u:s3cr3tpass@cdn.example/\xff\x00a.png?access_token=s3cr3ttoken\">")
	})
	res, err := newScanner(t, p.roots, s.httpPort(), 0).Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mixed bool
	for _, f := range res.Findings {
		for _, v := range []string{f.Location, f.Subject, f.Detail, f.Evidence} {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) || strings.Contains(v, "s3cr3t") {
				t.Errorf("%s: %q", f.CheckID, v)
			}
		}
		mixed = mixed || f.CheckID == finding.MixedContentPassive
	}
	if !mixed {
		t.Error("no mixed-content finding")
	}
}
