package scanner

import (
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pythorix/pythorix/services/scanning/finding"
	"github.com/pythorix/pythorix/services/scanning/observatory"
)

// FuzzProbes feeds hostile bodies to the parsers of what the probes fetch
// (security.txt, .env, .git/HEAD, error pages, mixed content): none may
// panic, and every finding they make is storable once prepared.
func FuzzProbes(f *testing.F) {
	f.Add([]byte("Contact: mailto:a@b.c\nExpires: 2030-01-01T00:00:00Z\n"), "text/plain")
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nContact: https://x\n-----BEGIN PGP SIGNATURE-----\n"), "text/plain")
	f.Add([]byte("export DB_PASSWORD=x\nA=b\n"), "text/plain")
	f.Add([]byte("ref: refs/heads/main\n"), "")
	f.Add([]byte(`<script src="http://x/a.js"></script><img src="http://\xff">`), "text/html")
	f.Add([]byte("Traceback (most recent call last):\n  File \"x\""), "text/html; charset=utf-8")
	type findingSet = []finding.Finding
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		resp := &observatory.Response{URL: "https://example.com/", Status: 200, Header: http.Header{"Content-Type": {ctype}}, Body: body}
		found := []findingSet{securityTxt(resp, nil, "https://example.com", now), mixedContent(resp), verboseError(resp), disclosure(resp)}
		_, _ = dotenv(resp)
		_, _ = gitHead(resp)
		for _, set := range found {
			for _, p := range prepare(set) {
				for _, v := range []string{p.Location, p.Subject, p.Detail, p.Evidence} {
					if !utf8.ValidString(v) {
						t.Fatalf("%s: not storable: %q", p.CheckID, v)
					}
				}
			}
		}
	})
}
