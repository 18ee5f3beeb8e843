package scanner_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"testing"

	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

func with(base map[string]string, kv ...string) map[string]string {
	out := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestHeaderProfiles scans real HTTPS sites serving many header profiles and
// checks the header score and grade against the Observatory's arithmetic
// (../shared/SCORING.md), worked out by hand in each comment.
func TestHeaderProfiles(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cert := p.cert(t, pki.LeafOptions{DNSNames: []string{"localhost"}})
	const session = "__Host-sid=s3cr3t; Path=/; Secure; HttpOnly; SameSite=Lax"
	cases := []struct {
		name      string
		headers   map[string]string
		cookie    string
		cors      bool // reflect the Origin with credentials
		noRedir   bool // the plain-HTTP side answers 200 instead of redirecting
		wantScore int
		wantGrade string
	}{
		// CSP +10, cookies +5, Referrer +5, frame-ancestors +5, CORP +10.
		{"hardened", hardened, session, false, false, 135, "A+"},
		// CSP -25, HSTS -20, XFO -20, XCTO -5.
		{"bare", map[string]string{}, "", false, false, 30, "D"},
		// HSTS -10 leaves 90, so the CSP's +5 counts: 100 - 10 + 5.
		{"short HSTS", map[string]string{"Strict-Transport-Security": "max-age=300", "X-Content-Type-Options": "nosniff",
			"X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'self'"}, "", false, false, 95, "A"},
		// unsafe-inline in script-src -20: 80, no bonuses.
		{"unsafe-inline", map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff",
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
			"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'"}, "", false, false, 80, "B+"},
		// Report-only CSP -25: 75.
		{"report-only CSP", map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff",
			"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy-Report-Only": "default-src 'none'"}, "", false, false, 75, "B"},
		// unsafe-url -5 leaves 95: 100 - 5 + 10 + 5 + 5 + 10.
		{"unsafe referrer", with(hardened, "Referrer-Policy", "unsafe-url"), session, false, false, 125, "A+"},
		// A session cookie without HttpOnly -30 (the worst cookie result wins): 70.
		{"session cookie without HttpOnly", hardened, "sessionid=s3cr3t; Path=/; Secure; SameSite=Lax", false, false, 70, "B"},
		// No redirect from HTTP -20: 80.
		{"no HTTPS redirect", hardened, "", false, true, 80, "B+"},
		// What the Observatory misses and we catch: a reflected origin with credentials, -50.
		{"reflected CORS origin", hardened, session, true, false, 50, "C"},
		// XCTO missing -5, XFO missing but CSP frame-ancestors +5, CORP invalid -5: 90 + 10 + 5 + 5.
		{"frame-ancestors only", with(hardened, "X-Frame-Options", "", "X-Content-Type-Options", "",
			"Cross-Origin-Resource-Policy", "everyone"), "", false, false, 110, "A+"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var plain []http.HandlerFunc
			if c.noRedir {
				plain = append(plain, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "plain") })
			}
			s := startSite(t, cert, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.headers {
					w.Header().Set(k, v)
				}
				if o := r.Header.Get("Origin"); c.cors && o != "" {
					w.Header().Set("Access-Control-Allow-Origin", o)
					w.Header().Set("Access-Control-Allow-Credentials", "true")
				}
				if r.URL.Path != "/" {
					http.NotFound(w, r)
					return
				}
				if c.cookie != "" {
					w.Header().Add("Set-Cookie", c.cookie)
				}
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = io.WriteString(w, "<!doctype html><title>profile</title><p>hello</p>")
			}, plain...)
			res, err := newScanner(t, p.roots, s.httpPort(), 0).Scan(context.Background(), scanner.Target{Host: s.host(), Path: "/"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.HeaderScore != c.wantScore || res.HeaderGrade != c.wantGrade || res.Grade != c.wantGrade {
				t.Errorf("score %d grade %s (capped %s), want %d %s", res.HeaderScore, res.HeaderGrade, res.Grade, c.wantScore, c.wantGrade)
				for _, tt := range res.Tests {
					t.Logf("  %s %s %+d", tt.Name, tt.Result, tt.Modifier)
				}
			}
		})
	}
}
