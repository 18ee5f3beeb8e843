package observatory

import (
	"slices"
	"strings"
	"testing"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

func TestGrade(t *testing.T) {
	t.Parallel()
	cases := []struct {
		score int
		want  string
	}{
		{145, "A+"}, {100, "A+"}, {99, "A"}, {95, "A"}, {90, "A"}, {89, "A-"}, {85, "A-"}, {80, "B+"},
		{79, "B"}, {70, "B"}, {65, "B-"}, {60, "C+"}, {55, "C"}, {50, "C"}, {45, "C-"}, {40, "D+"},
		{35, "D"}, {30, "D"}, {25, "D-"}, {24, "F"}, {0, "F"}, {-40, "F"},
	}
	for _, c := range cases {
		if got := Grade(c.score); got != c.want {
			t.Errorf("Grade(%d) = %q, want %q", c.score, got, c.want)
		}
	}
}

var perfectHeaders = []string{
	"Content-Type: text/html; charset=utf-8",
	cspHeader("default-src 'none'; script-src 'self' https://cdn.other.example; frame-ancestors 'none'"),
	"Set-Cookie: __Host-session=1; Secure; HttpOnly; SameSite=Strict; Path=/",
	"Referrer-Policy: no-referrer",
	"X-Content-Type-Options: nosniff",
	"Cross-Origin-Resource-Policy: same-origin",
	"Cross-Origin-Opener-Policy: same-origin",
	"Cross-Origin-Embedder-Policy: require-corp",
	"Permissions-Policy: camera=()",
}

func perfectSite() spec {
	return spec{
		host:      "preloaded.example",
		headers:   perfectHeaders,
		body:      htmlPage(scriptTag("https://cdn.other.example/a.js", true)),
		httpChain: chain("http://preloaded.example/", "https://preloaded.example/"),
	}
}

// siteCases check the score arithmetic on whole sites; the version 4
// scores were checked against @mdn/mdn-http-observatory 1.4.8.
var siteCases = []struct {
	name      string
	site      spec
	wantScore int
	wantGrade string
}{
	// +10 CSP, +5 cookies, +5 referrer, +5 HSTS preload, +5 SRI, +5 XFO via CSP, +10 CORP.
	{"perfect site", perfectSite(), 145, "A+"},
	{"bare site", spec{httpChain: chain("http://site.example/")}, 10, "F"},
	{"bare site with a redirect", spec{httpChain: chain("http://site.example/", "https://site.example/")}, 30, "D"},
	{"bonuses kept at exactly 90", func() spec {
		s := perfectSite()
		s.headers = slices.DeleteFunc(slices.Clone(s.headers), func(h string) bool { return strings.HasPrefix(h, "X-Content") || strings.HasPrefix(h, "Referrer") })
		s.headers = append(s.headers, "Referrer-Policy: unsafe-url")
		return s
	}(), 130, "A+"},
	{"bonuses dropped when penalties pass 10", func() spec {
		s := perfectSite()
		s.host = "site.example"
		s.httpChain = chain("http://site.example/", "https://site.example/")
		s.headers = append(slices.DeleteFunc(slices.Clone(s.headers), func(h string) bool { return strings.HasPrefix(h, "X-Content") }), "Strict-Transport-Security: max-age=600")
		return s
	}(), 85, "A-"},
	{"score floors at zero", spec{
		headers: []string{
			"Content-Type: text/html", "Set-Cookie: sessionid=1", "Referrer-Policy: unsafe-url",
			"Cross-Origin-Resource-Policy: bogus",
		},
		body:      htmlPage(scriptTag("http://cdn.other.example/a.js", false)),
		httpChain: chain("http://site.example/"),
	}, 0, "F"},
	{"unauthorized is graded", spec{status: 401, headers: []string{cspHeader("default-src 'none'")}}, 55, "C"},
	{"forbidden is graded", spec{status: 403}, 30, "D"},
	{"redirect status is graded", spec{status: 302}, 30, "D"},
	{"http only site", spec{noHTTPS: true, httpChain: chain("http://site.example/")}, 10, "F"},
}

func TestSiteScores(t *testing.T) {
	t.Parallel()
	for _, c := range siteCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := c.site.evaluate(t)
			if o.Score != c.wantScore || o.Grade != c.wantGrade {
				t.Errorf("score %d grade %q, want %d %q; tests %+v", o.Score, o.Grade, c.wantScore, c.wantGrade, o.Tests)
			}
			if o.Version != 4 || len(o.Tests) != 10 {
				t.Errorf("version %d with %d tests, want 4 with 10", o.Version, len(o.Tests))
			}
		})
	}
}

func TestTestOrder(t *testing.T) {
	t.Parallel()
	want := []string{NameCSP, NameCookies, NameCORS, NameRedirection, NameReferrer, NameHSTS, NameSRI, NameXCTO, NameXFO, NameCORP}
	for version, names := range map[int][]string{4: want, 5: want, 6: append(slices.Clone(want), NameCOOP, NameCOEP)} {
		s := perfectSite()
		s.version = version
		o := s.evaluate(t)
		var got []string
		for _, tt := range o.Tests {
			got = append(got, tt.Name)
		}
		if !slices.Equal(got, names) || o.Version != version {
			t.Errorf("version %d: tests %v (version %d), want %v", version, got, o.Version, names)
		}
	}
}

func TestVersions(t *testing.T) {
	t.Parallel()
	// The perfect site, framing limited by X-Frame-Options instead of CSP.
	deny := perfectSite()
	deny.headers = append(slices.Clone(deny.headers), "X-Frame-Options: DENY")
	deny.headers[1] = cspHeader("default-src 'none'; script-src 'self' https://cdn.other.example")
	cases := []struct {
		name    string
		site    spec
		version int
		want    int
	}{
		{"version 4 gives DENY nothing", deny, 4, 140},
		{"zero means version 4", deny, 0, 140},
		{"version 5 gives DENY five", deny, 5, 145},
		{"version 6 scores COOP and COEP", perfectSite(), 6, 165},
		{"later versions mean the latest", perfectSite(), 9, 165},
		{"version 6 penalises invalid COOP", spec{headers: []string{"Cross-Origin-Opener-Policy: bogus"}}, 6, 25},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := c.site
			s.version = c.version
			if o := s.evaluate(t); o.Score != c.want {
				t.Errorf("score %d, want %d; tests %+v", o.Score, c.want, o.Tests)
			}
		})
	}
}

func TestNotGraded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   Input
	}{
		{"nothing answered", Input{}},
		{"not found", spec{status: 404}.input()},
		{"server error", spec{status: 500}.input()},
		{"informational", spec{status: 101}.input()},
		{"http only and not found", spec{noHTTPS: true, status: 404}.input()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := Evaluate(c.in)
			if o.Grade != "" || o.Score != 0 || o.Tests != nil || o.Findings != nil || o.Version != 4 {
				t.Errorf("got %+v, want an ungraded outcome", o)
			}
		})
	}
}

func findingFor(fs []finding.Finding, id, subject string) (finding.Finding, bool) {
	for _, f := range fs {
		if f.CheckID == id && f.Subject == subject {
			return f, true
		}
	}
	return finding.Finding{}, false
}

func TestFindings(t *testing.T) {
	t.Parallel()
	const final = "https://site.example/"
	bad := spec{
		origin: "https://evil.example",
		headers: []string{
			"Content-Type: text/html",
			cspHeader("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' http://cdn.example; img-src http:"),
			"Set-Cookie: sessionid=1; SameSite=Lax",
			"Set-Cookie: theme=dark; Secure; SameSite=bogus",
			"Set-Cookie: __Host-id=1; Secure; Path=/app",
			"Set-Cookie: pref=1; Secure; HttpOnly; SameSite=None",
			"Referrer-Policy: unsafe-url",
			"Strict-Transport-Security: max-age=600",
			"X-Content-Type-Options: sniff",
			"X-Frame-Options: ALLOWALL",
			"Cross-Origin-Resource-Policy: everyone",
			"Cross-Origin-Opener-Policy: bogus",
			"Access-Control-Allow-Origin: https://evil.example",
			"Access-Control-Allow-Credentials: true",
		},
		body:      htmlPage(scriptTag("https://cdn.other.example/a.js", false) + scriptTag("http://cdn.other.example/b.js", true)),
		httpChain: chain("http://site.example/", "http://www.site.example/", "https://www.site.example/"),
	}
	o := bad.evaluate(t)
	cases := []struct {
		id, subject, location string
		severity              finding.Severity
		evidence              string // a substring of the evidence
	}{
		{finding.CSPUnsafeInline, "content-security-policy", final, 0, "Content-Security-Policy: default-src 'self'"},
		{finding.CSPUnsafeEval, "content-security-policy", final, 0, "'unsafe-eval'"},
		{finding.CSPInsecureActive, "content-security-policy", final, 0, "http://cdn.example"},
		{finding.CSPInsecurePassive, "content-security-policy", final, 0, "img-src http:"},
		{finding.CookieInsecure, "sessionid", final, finding.High, "Set-Cookie: sessionid=1; SameSite=Lax"},
		{finding.CookieHTTPOnly, "sessionid", final, finding.High, "Set-Cookie: sessionid=1"},
		{finding.CookieSameSiteInvalid, "theme", final, 0, "SameSite=bogus"},
		{finding.CookieSameSiteMissing, "theme", final, 0, "SameSite=bogus"},
		{finding.CookiePrefixInvalid, "__Host-id", final, 0, "Path=/app"},
		{finding.ReferrerUnsafe, "referrer-policy", final, 0, "Referrer-Policy: unsafe-url"},
		{finding.HSTSShort, "strict-transport-security", final, 0, "Strict-Transport-Security: max-age=600"},
		{finding.XCTOMissing, "x-content-type-options", final, 0, "X-Content-Type-Options: sniff"},
		{finding.FramingInvalid, "x-frame-options", final, 0, "X-Frame-Options: ALLOWALL"},
		{finding.CORPInvalid, "cross-origin-resource-policy", final, 0, "everyone"},
		{finding.COOPInvalid, "cross-origin-opener-policy", final, 0, "bogus"},
		{finding.COEPMissing, "cross-origin-embedder-policy", final, 0, ""},
		{finding.PermissionsMissing, "permissions-policy", final, 0, ""},
		{finding.CORSReflectedOrigin, "access-control-allow-origin", final, 0, "Access-Control-Allow-Credentials: true"},
		{finding.SRIMissing, "https://cdn.other.example/a.js", final, 0, `<script src="https://cdn.other.example/a.js">`},
		{finding.SRIInsecureExternal, "http://cdn.other.example/b.js", final, 0, "http://cdn.other.example/b.js"},
		{finding.HTTPRedirectInsecure, "location", "http://site.example/", 0, "Location: http://www.site.example/"},
	}
	for _, c := range cases {
		f, ok := findingFor(o.Findings, c.id, c.subject)
		if !ok {
			t.Errorf("no %s finding on %q", c.id, c.subject)
			continue
		}
		if f.Location != c.location || f.Severity != c.severity || !strings.Contains(f.Evidence, c.evidence) || f.Detail == "" {
			t.Errorf("%s on %q = %+v", c.id, c.subject, f)
		}
	}
	if tt := testResult(t, o, NameCORS); tt.Modifier != -50 || tt.Pass {
		t.Errorf("CORS test %+v, want -50 and failing", tt)
	}
	for _, f := range o.Findings {
		if !slices.Contains(finding.IDs, f.CheckID) {
			t.Errorf("unknown check id %q", f.CheckID)
		}
	}
	// pref is Secure, HttpOnly and SameSite=None: nothing to report.
	for _, f := range o.Findings {
		if f.Subject == "pref" {
			t.Errorf("unexpected finding %+v", f)
		}
	}
}

func TestFindingsOfResults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		site    spec
		id      string
		subject string
	}{
		{"csp missing", spec{}, finding.CSPMissing, "content-security-policy"},
		{"csp invalid", spec{headers: []string{cspHeader("img-src 'self'; img-src 'none'")}}, finding.CSPInvalid, "content-security-policy"},
		{"csp strict-dynamic without nonce", spec{headers: []string{cspHeader("default-src 'none'; script-src 'strict-dynamic'")}}, finding.CSPInvalid, "content-security-policy"},
		{"csp report only", spec{headers: []string{"Content-Security-Policy-Report-Only: default-src 'none'"}}, finding.CSPReportOnly, "content-security-policy"},
		{"framing missing", spec{}, finding.FramingMissing, "x-frame-options"},
		{"xcto missing", spec{}, finding.XCTOMissing, "x-content-type-options"},
		{"referrer invalid", spec{headers: []string{"Referrer-Policy: bogus"}}, finding.ReferrerInvalid, "referrer-policy"},
		{"hsts missing", spec{}, finding.HSTSMissing, "strict-transport-security"},
		{"hsts no https", spec{noHTTPS: true}, finding.HSTSMissing, "strict-transport-security"},
		{"hsts invalid", spec{headers: []string{"Strict-Transport-Security: preload"}}, finding.HSTSInvalid, "strict-transport-security"},
		{"hsts invalid certificate", spec{certBad: true}, finding.HSTSInvalid, "strict-transport-security"},
		{"redirect missing", spec{httpChain: chain("http://site.example/")}, finding.HTTPRedirectMissing, "location"},
		{"redirect ends on http", spec{httpChain: chain("http://site.example/", "http://other.example/")}, finding.HTTPRedirectInsecure, "location"},
		{"redirect off host", spec{httpChain: chain("http://site.example/", "https://www.site.example/")}, finding.HTTPRedirectInsecure, "location"},
		{"redirect to invalid certificate", spec{certBad: true, httpChain: chain("http://site.example/", "https://site.example/")}, finding.HTTPRedirectInsecure, "location"},
		{"corp missing", spec{}, finding.CORPMissing, "cross-origin-resource-policy"},
		{"coop missing", spec{}, finding.COOPMissing, "cross-origin-opener-policy"},
		{"coep invalid", spec{headers: []string{"Cross-Origin-Embedder-Policy: bogus"}}, finding.COEPInvalid, "cross-origin-embedder-policy"},
		{"cors wildcard", spec{headers: []string{"Access-Control-Allow-Origin: *"}}, finding.CORSWildcard, "access-control-allow-origin"},
		{"secure prefix without secure", spec{headers: []string{"Set-Cookie: __Secure-id=1"}}, finding.CookiePrefixInvalid, "__Secure-id"},
		{"samesite none without secure", spec{headers: []string{"Set-Cookie: id=1; SameSite=None"}}, finding.CookieSameSiteInvalid, "id"},
		{"sri over protocol-relative url", htmlSite(scriptTag("//cdn.other.example/a.js", false)), finding.SRIInsecureExternal, "//cdn.other.example/a.js"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := c.site.evaluate(t)
			if _, ok := findingFor(o.Findings, c.id, c.subject); !ok {
				t.Errorf("no %s finding on %q in %+v", c.id, c.subject, o.Findings)
			}
		})
	}
}

func TestPassingSiteHasOnlyInformationalFindings(t *testing.T) {
	t.Parallel()
	o := perfectSite().evaluate(t)
	if len(o.Findings) != 0 {
		t.Errorf("perfect site findings: %+v", o.Findings)
	}
	// Secure session cookies that miss something are graded Medium.
	s := spec{headers: []string{"Set-Cookie: sessionid=1; Secure; SameSite=Lax"}}
	f, ok := findingFor(s.evaluate(t).Findings, finding.CookieHTTPOnly, "sessionid")
	if !ok || f.Severity != finding.Medium {
		t.Errorf("httponly finding %+v, %v; want Medium", f, ok)
	}
}

func TestHeaderBytesAreLatin1(t *testing.T) {
	t.Parallel()
	// Node reads header bytes as Latin-1, so 0xA0 is a no-break space that
	// trim and \s treat as white space.
	s := spec{headers: []string{"X-Content-Type-Options: nosniff\xa0", "Content-Security-Policy: default-src\xa0'none'"}}
	o := s.evaluate(t)
	if r := testResult(t, o, NameXCTO).Result; r != resXCTONosniff {
		t.Errorf("XCTO %s", r)
	}
	if r := testResult(t, o, NameCSP).Result; r != resCSPDefaultNone {
		t.Errorf("CSP %s", r)
	}
}
