package mtls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// ServerCredentials accept any peer that presents a certificate from the trust
// domain's CA; which peer may call which RPC is decided per call by the
// peer-authentication interceptor. Internal traffic is TLS 1.3 only.
func ServerCredentials(src *Source) credentials.TransportCredentials {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	tlsconfig.HookMTLSServerConfig(cfg, src, src, tlsconfig.AuthorizeMemberOf(src.TrustDomain()))
	return credentials.NewTLS(cfg)
}

// ClientCredentials dial a server that must present exactly the given SPIFFE ID.
func ClientCredentials(src *Source, server spiffeid.ID) credentials.TransportCredentials {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	tlsconfig.HookMTLSClientConfig(cfg, src, src, tlsconfig.AuthorizeID(server))
	return credentials.NewTLS(cfg)
}

// ServiceID is the SPIFFE ID of a suite service: spiffe://<td>/svc/<name>.
func ServiceID(td spiffeid.TrustDomain, service string) (spiffeid.ID, error) {
	return spiffeid.FromSegments(td, "svc", service)
}

// ServiceName returns the service name in a suite SPIFFE ID, or an error when
// the ID is not of the form /svc/<name>.
func ServiceName(id spiffeid.ID) (string, error) {
	var name string
	if n, err := fmt.Sscanf(id.Path(), "/svc/%s", &name); err != nil || n != 1 || name == "" {
		return "", fmt.Errorf("mtls: %s is not a service identity", id)
	}
	return name, nil
}

// ErrNoPeerIdentity means the call did not arrive over mTLS with a SPIFFE certificate.
var ErrNoPeerIdentity = errors.New("mtls: no verified peer identity")

// PeerID returns the verified SPIFFE ID of the caller of an incoming gRPC call.
func PeerID(ctx context.Context) (spiffeid.ID, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return spiffeid.ID{}, ErrNoPeerIdentity
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return spiffeid.ID{}, ErrNoPeerIdentity
	}
	id, err := x509svid.IDFromCert(info.State.PeerCertificates[0])
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("%w: %w", ErrNoPeerIdentity, err)
	}
	return id, nil
}

// Reconnect is the dial option for every internal connection: a peer that
// went away (restarted, rescheduled) is retried from 100 ms and at least
// every 2 s, so that it serves again within about 2 s of coming back,
// rather than after gRPC's default back-off of up to 2 minutes.
func Reconnect() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
		MinConnectTimeout: 5 * time.Second,
	})
}
