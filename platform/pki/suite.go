package pki

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Services are the suite's workloads that get a SPIFFE certificate.
var Services = []string{"identity", "tenancy", "scanning", "audit", "integrations", "gateway"}

// SPIFFEID returns the identity of a service in a trust domain.
func SPIFFEID(trustDomain, service string) string {
	return fmt.Sprintf("spiffe://%s/svc/%s", trustDomain, service)
}

// Paths name the files of one service's certificate in a PKI directory.
type Paths struct{ Cert, Key string }

// ServicePaths returns where WriteSuite puts a service's certificate.
func ServicePaths(dir, service string) Paths {
	return Paths{Cert: filepath.Join(dir, service+".crt"), Key: filepath.Join(dir, service+".key")}
}

// GatewayHTTPSPaths returns where WriteSuite puts the gateway's public HTTPS certificate.
func GatewayHTTPSPaths(dir string) Paths {
	return Paths{Cert: filepath.Join(dir, "gateway-https.crt"), Key: filepath.Join(dir, "gateway-https.key")}
}

// CAPath returns the CA certificate's path in a PKI directory.
func CAPath(dir string) string { return filepath.Join(dir, "ca.crt") }

// WriteSuite creates (or, with an existing CA, reuses) the development CA in dir
// and issues one SPIFFE certificate per service plus the gateway's HTTPS
// certificate for localhost. Existing leaf certificates are replaced.
func WriteSuite(dir, trustDomain string, hosts []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caCert, caKey := CAPath(dir), filepath.Join(dir, "ca.key")
	ca, err := LoadCA(caCert, caKey)
	if err != nil {
		if !os.IsNotExist(err) {
			return fmt.Errorf("existing CA unreadable (remove %s to start over): %w", dir, err)
		}
		if ca, err = NewCA("Pythorix development CA", 5*365*24*time.Hour); err != nil {
			return err
		}
		if err := ca.Write(caCert, caKey); err != nil {
			return err
		}
	}
	dns, ips := splitHosts(append([]string{"localhost", "127.0.0.1", "::1"}, hosts...))
	for _, svc := range Services {
		leaf, err := ca.Issue(LeafOptions{
			CommonName: svc,
			SPIFFEID:   SPIFFEID(trustDomain, svc),
			DNSNames:   append([]string{svc}, dns...),
			IPs:        ips,
			Validity:   90 * 24 * time.Hour,
		})
		if err != nil {
			return fmt.Errorf("issue %s: %w", svc, err)
		}
		p := ServicePaths(dir, svc)
		if err := leaf.Write(p.Cert, p.Key); err != nil {
			return err
		}
	}
	https, err := ca.Issue(LeafOptions{CommonName: "localhost", DNSNames: dns, IPs: ips, Validity: 90 * 24 * time.Hour})
	if err != nil {
		return fmt.Errorf("issue gateway https: %w", err)
	}
	p := GatewayHTTPSPaths(dir)
	return https.Write(p.Cert, p.Key)
}

func splitHosts(hosts []string) (dns []string, ips []net.IP) {
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}
