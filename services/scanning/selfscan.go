package scanning

import (
	"context"
	"crypto/x509"

	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

// SelfScan scans the suite's own gateway (target is host:port/path) with the
// scanner the service runs, loopback allowed, no politeness delay.
func SelfScan(ctx context.Context, target string, roots *x509.CertPool, httpPort string) (*scanner.Result, error) {
	guard, err := egress.NewGuard("127.0.0.0/8", "::1/128")
	if err != nil {
		return nil, err
	}
	sc, err := scanner.New(scanner.Options{Guard: guard, RootCAs: roots, HTTPPort: httpPort})
	if err != nil {
		return nil, err
	}
	return sc.Scan(ctx, targetOf(target), func(int) {})
}
