package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is returned for a connection to an address the guard refuses.
var ErrBlocked = errors.New("egress: destination address not allowed")

// nonPublic are ranges no request on a user's behalf may reach unless an
// operator allows them (loopback, private, link-local and cloud metadata,
// shared address space, documentation, benchmarking and reserved ranges).
var nonPublic = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
	"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
	"::/96", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
	"2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard decides which addresses may be dialled.
type Guard struct {
	allow    []netip.Prefix
	resolver *net.Resolver // nil: the system resolver
}

// Resolver answers from one DNS server ("host:port"); "" means the system
// resolver (nil).
func Resolver(server string) *net.Resolver {
	if server == "" {
		return nil
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, server)
	}}
}

// WithDNS returns a guard that resolves names with the DNS server given
// ("host:port"; "" keeps the system resolver). The address it resolves is
// still checked when dialled.
func (g *Guard) WithDNS(server string) *Guard {
	c := *g
	c.resolver = Resolver(server)
	return &c
}

// NewGuard allows public addresses plus the given CIDRs (e.g. "127.0.0.0/8"
// in local mode).
func NewGuard(allowCIDRs ...string) (*Guard, error) {
	g := &Guard{}
	for _, c := range allowCIDRs {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("egress: allowed range %q: %w", c, err)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// Allowed reports whether an address may be dialled.
func (g *Guard) Allowed(a netip.Addr) bool {
	// A zone ("fd00::1%eth0") would make every prefix test false, and the
	// kernel ignores it for a global address: judge the address without it.
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return false
	}
	for _, p := range g.allow {
		if p.Contains(a) {
			return true
		}
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return a.IsGlobalUnicast()
}

// control runs after name resolution, on the address about to be
// connected: the check and the connection concern the same IP.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !g.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlocked, address)
	}
	return nil
}

// DialContext dials through the guard.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: g.control, Resolver: g.resolver}
	return d.DialContext(ctx, network, address)
}

// UserAgent is what the scanner says it is.
const UserAgent = "Pythorix-IntelOps/1.0 (+defensive)"

// ClientOptions shape an outbound HTTP client.
type ClientOptions struct {
	// ReadOnly refuses every method but GET, HEAD and OPTIONS (scans).
	ReadOnly bool
	// MaxRedirects is how many redirects to follow (0: none, as for webhooks).
	// Every hop is dialled through the guard again.
	MaxRedirects int
	// Timeout bounds a whole request including the body read by the caller.
	Timeout time.Duration
	// RootCAs, when set, replaces the system roots (private deployments, tests).
	RootCAs *x509.CertPool
	// SkipVerify accepts any certificate. Only a scanner that has already
	// reported the certificate as invalid uses it, to still read the site's
	// headers; nothing secret is ever sent on such a client.
	SkipVerify bool
}

// Client returns an HTTP client whose every connection passes the guard.
func (g *Guard) Client(o ClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would connect for us, past the guard
		DialContext:            g.DialContext,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        30 * time.Second,
		MaxIdleConnsPerHost:    2,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs, InsecureSkipVerify: o.SkipVerify}, //nolint:gosec // see SkipVerify
	}
	var rt http.RoundTripper = tr
	rt = userAgent{rt}
	if o.ReadOnly {
		rt = readOnly{rt}
	}
	return &http.Client{Transport: rt, Timeout: o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > o.MaxRedirects {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

// ErrMethodNotAllowed is a request the read-only transport will not send.
var ErrMethodNotAllowed = errors.New("egress: only GET, HEAD and OPTIONS leave the scanner")

type readOnly struct{ next http.RoundTripper }

func (r readOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return r.next.RoundTrip(req)
	}
	return nil, fmt.Errorf("%w (got %s)", ErrMethodNotAllowed, req.Method)
}

type userAgent struct{ next http.RoundTripper }

func (u userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", UserAgent)
	return u.next.RoundTrip(req)
}

// ReadBody reads at most limit bytes of a body and reports whether it was cut.
func ReadBody(r io.Reader, limit int64) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(b)) > limit {
		return b[:limit], true, err
	}
	return b, false, err
}
