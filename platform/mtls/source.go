package mtls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Files names a workload's certificate, its private key and the trusted CA bundle.
type Files struct {
	Cert string `env:"CERT"`
	Key  string `env:"KEY"`
	CA   string `env:"CA"`
}

// Validate reports a missing path.
func (f Files) Validate() error {
	var missing []string
	for name, p := range map[string]string{"cert": f.Cert, "key": f.Key, "ca": f.CA} {
		if p == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("mtls: missing file paths: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Source serves the current SVID and trust bundle read from Files. It implements
// x509svid.Source and x509bundle.Source, so go-spiffe's tlsconfig consults it
// on every handshake and a reload takes effect for the next connection.
type Source struct {
	files Files
	td    spiffeid.TrustDomain
	log   *slog.Logger

	mu     sync.RWMutex
	svid   *x509svid.SVID
	bundle *x509bundle.Bundle
	stamp  string
}

var (
	_ x509svid.Source   = (*Source)(nil)
	_ x509bundle.Source = (*Source)(nil)
)

// NewSource loads the files once; it fails when they are missing or invalid,
// or when the certificate's SPIFFE ID is outside the trust domain.
func NewSource(files Files, trustDomain string, log *slog.Logger) (*Source, error) {
	if err := files.Validate(); err != nil {
		return nil, err
	}
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, fmt.Errorf("mtls: trust domain %q: %w", trustDomain, err)
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Source{files: files, td: td, log: log}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// ID is the SPIFFE ID of the current certificate.
func (s *Source) ID() spiffeid.ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.svid.ID
}

// TrustDomain is the trust domain peers must belong to.
func (s *Source) TrustDomain() spiffeid.TrustDomain { return s.td }

// GetX509SVID implements x509svid.Source.
func (s *Source) GetX509SVID() (*x509svid.SVID, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.svid, nil
}

// GetX509BundleForTrustDomain implements x509bundle.Source.
func (s *Source) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if td != s.td {
		return nil, fmt.Errorf("mtls: no bundle for trust domain %q", td)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bundle, nil
}

// Watch polls the files every interval and reloads them when any changes,
// until ctx ends. A change that fails to load keeps the previous material.
func (s *Source) Watch(ctx context.Context, interval time.Duration) {
	watch(ctx, interval, s.changed, s.reload, s.log.With("cert", s.files.Cert))
}

func (s *Source) changed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return stampOf(s.files.Cert, s.files.Key, s.files.CA) != s.stamp
}

func (s *Source) reload() error {
	stamp := stampOf(s.files.Cert, s.files.Key, s.files.CA)
	svid, err := x509svid.Load(s.files.Cert, s.files.Key)
	if err != nil {
		return fmt.Errorf("mtls: load certificate %s: %w", s.files.Cert, err)
	}
	if svid.ID.TrustDomain() != s.td {
		return fmt.Errorf("mtls: certificate %s has SPIFFE ID %s outside trust domain %s", s.files.Cert, svid.ID, s.td)
	}
	bundle, err := x509bundle.Load(s.td, s.files.CA)
	if err != nil {
		return fmt.Errorf("mtls: load CA bundle %s: %w", s.files.CA, err)
	}
	s.mu.Lock()
	s.svid, s.bundle, s.stamp = svid, bundle, stamp
	s.mu.Unlock()
	return nil
}

// KeyPair serves a plain (non-SPIFFE) TLS certificate from files and reloads
// it when they change; the gateway's public HTTPS listener uses it.
type KeyPair struct {
	cert, key string
	log       *slog.Logger

	mu    sync.RWMutex
	pair  *tls.Certificate
	stamp string
}

// NewKeyPair loads the certificate and key once.
func NewKeyPair(certFile, keyFile string, log *slog.Logger) (*KeyPair, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("mtls: key pair needs both a certificate and a key file")
	}
	if log == nil {
		log = slog.Default()
	}
	k := &KeyPair{cert: certFile, key: keyFile, log: log}
	if err := k.reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// GetCertificate is suitable for tls.Config.GetCertificate.
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.pair, nil
}

// Watch reloads the pair when its files change, until ctx ends.
func (k *KeyPair) Watch(ctx context.Context, interval time.Duration) {
	watch(ctx, interval, func() bool {
		k.mu.RLock()
		defer k.mu.RUnlock()
		return stampOf(k.cert, k.key) != k.stamp
	}, k.reload, k.log.With("cert", k.cert))
}

func (k *KeyPair) reload() error {
	stamp := stampOf(k.cert, k.key)
	pair, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		return fmt.Errorf("mtls: load key pair %s: %w", k.cert, err)
	}
	k.mu.Lock()
	k.pair, k.stamp = &pair, stamp
	k.mu.Unlock()
	return nil
}

func watch(ctx context.Context, interval time.Duration, changed func() bool, reload func() error, log *slog.Logger) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !changed() {
			continue
		}
		if err := reload(); err != nil {
			// Keep serving the previous material: a half-written rotation must
			// not take the service down. The next tick tries again.
			log.WarnContext(ctx, "certificate reload failed; keeping previous", "error", err)
			continue
		}
		log.InfoContext(ctx, "certificate reloaded")
	}
}

// stampOf summarises the files' identity (size and modification time) so a
// rotation by rename or in-place write is noticed without reading contents.
func stampOf(paths ...string) string {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			b.WriteString("missing;")
			continue
		}
		fmt.Fprintf(&b, "%d:%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}
