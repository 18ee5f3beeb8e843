package scanner_test

import (
	"context"
	"testing"

	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

// BenchmarkScanHardenedSite is one whole scan of a local HTTPS site: the TLS
// probe's handshakes, both redirect chains, the probes and the grading.
func BenchmarkScanHardenedSite(b *testing.B) {
	p := newPKI(b)
	s := startSite(b, p.cert(b, pki.LeafOptions{DNSNames: []string{"localhost"}}), hardenedSite)
	sc := newScanner(b, p.roots, s.httpPort(), 0)
	target := scanner.Target{Host: s.host(), Path: "/"}
	requests := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := sc.Scan(context.Background(), target, nil)
		if err != nil || res.Grade != "A+" {
			b.Fatalf("%v %+v", err, res)
		}
		requests += res.Requests
	}
	b.ReportMetric(float64(requests)/float64(b.N), "req/scan")
}
