// Command pythorix-certs writes the development CA, one SPIFFE certificate
// per service and the gateway's HTTPS certificate (make certs).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pythorix/pythorix/platform/pki"
)

func main() {
	dir := flag.String("dir", ".data/pki", "directory to write into (the CA is kept if present)")
	td := flag.String("trust-domain", envOr("PYTHORIX_TRUST_DOMAIN", "pythorix.local"), "SPIFFE trust domain")
	hosts := flag.String("hosts", "", "extra comma-separated DNS names or IPs for every certificate")
	flag.Parse()
	var extra []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			extra = append(extra, h)
		}
	}
	if err := pki.WriteSuite(*dir, *td, extra); err != nil {
		fmt.Fprintln(os.Stderr, "pythorix-certs:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "pythorix-certs: wrote CA %s and certificates for %s\n", pki.CAPath(*dir), strings.Join(pki.Services, ", "))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
