package scanning

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pythorix/pythorix/platform/egress"
)

// Verification methods as stored and as named in the API.
const (
	MethodDNS  = "DNS_TXT"
	MethodHTTP = "HTTP_FILE"
)

// Verifier proves ownership of a host with its asset's token: a TXT record at
// _pythorix-challenge.<host>, or the file https://<host>/.well-known/pythorix-verification.txt.
type Verifier struct {
	resolver *net.Resolver
	client   *http.Client
}

// NewVerifier uses dnsServer ("host:port", empty for the system resolver)
// and fetches files through the egress guard (trusting rootCAs instead of the
// system roots when given).
func NewVerifier(guard *egress.Guard, dnsServer string, extraRoots *x509.CertPool) *Verifier {
	r := net.DefaultResolver
	if custom := egress.Resolver(dnsServer); custom != nil {
		r = custom
	}
	c := guard.Client(egress.ClientOptions{ReadOnly: true, MaxRedirects: 0, Timeout: 10 * time.Second, RootCAs: extraRoots})
	return &Verifier{resolver: r, client: c}
}

// Check runs one method and says why it failed.
func (v *Verifier) Check(ctx context.Context, method, host, token string) (bool, string) {
	name := strings.ToLower(host)
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[:i]
	}
	hostOnly := name
	if h, _, err := net.SplitHostPort(name); err == nil {
		hostOnly = h
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch method {
	case MethodDNS:
		records, err := v.resolver.LookupTXT(ctx, "_pythorix-challenge."+hostOnly)
		if err != nil {
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				return false, "no TXT record at _pythorix-challenge." + hostOnly
			}
			return false, "DNS lookup failed"
		}
		for _, r := range records {
			if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(r)), []byte(token)) == 1 {
				return true, ""
			}
		}
		return false, "the TXT record does not hold this asset's token"
	case MethodHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+name+"/.well-known/pythorix-verification.txt", nil)
		if err != nil {
			return false, "invalid host"
		}
		resp, err := v.client.Do(req)
		if err != nil {
			if errors.Is(err, egress.ErrBlocked) {
				return false, "the host resolves to an address that may not be contacted"
			}
			return false, "the verification file could not be fetched over HTTPS"
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, "the verification file answered HTTP " + resp.Status
		}
		body, _, err := egress.ReadBody(resp.Body, 1024)
		if err != nil {
			return false, "the verification file could not be read"
		}
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(string(body))), []byte(token)) == 1 {
			return true, ""
		}
		return false, "the verification file does not hold this asset's token"
	}
	return false, "unknown method"
}
