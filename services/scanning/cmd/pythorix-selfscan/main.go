// Command pythorix-selfscan scans the suite's own gateway with the same
// read-only scanner the service runs, prints the grade and the findings, and
// fails unless the grade is at least the one asked for (A+ by default).
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/pythorix/pythorix/services/scanning"
	"github.com/pythorix/pythorix/services/scanning/catalog"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pythorix-selfscan:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("pythorix-selfscan", flag.ContinueOnError)
	target := fs.String("target", "localhost:8443/healthz", "the gateway: host:port and a path that answers 200")
	caFile := fs.String("ca", ".data/pki/ca.crt", "CA certificate the gateway's HTTPS certificate chains to (empty: system roots)")
	httpPort := fs.String("http-port", "", "port of the plain-HTTP listener for the redirection check (empty: 80)")
	want := fs.String("want", "A+", "the lowest grade that passes")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var roots *x509.CertPool
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("-ca: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return errors.New("-ca: no PEM certificate in the file")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := scanning.SelfScan(ctx, *target, roots, *httpPort)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "%s: grade %s, score %d (headers %s %d, TLS cap %q), %d requests\n",
			*target, res.Grade, res.Score, res.HeaderGrade, res.HeaderScore, res.Cap, res.Requests)
		for _, t := range res.Tests {
			fmt.Fprintf(out, "  %-30s %-45s %+d\n", t.Name, t.Result, t.Modifier)
		}
		for _, f := range res.Findings {
			sev := f.Severity
			if c, ok := catalog.Lookup(f.CheckID); ok && sev == 0 {
				sev = c.Severity
			}
			fmt.Fprintf(out, "  [%s] %s %s %s\n", sev, f.CheckID, f.Subject, f.Detail)
		}
	}
	if !scanner.GradeAtLeast(res.Grade, *want) {
		return fmt.Errorf("grade %s is below %s", res.Grade, *want)
	}
	return nil
}
