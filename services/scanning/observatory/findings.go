package observatory

import (
	"strings"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

// findings collects what Evaluate reports, one per check, place and
// subject.
type findings struct {
	list []finding.Finding
	seen map[string]bool
}

func (f *findings) add(fd finding.Finding) {
	key := fd.CheckID + "\x00" + fd.Location + "\x00" + fd.Subject
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	if f.seen[key] {
		return
	}
	f.seen[key] = true
	f.list = append(f.list, fd)
}

// header adds a finding about a header of the graded response.
func (f *findings) header(s *site, id, name, detail string) {
	f.add(finding.Finding{
		CheckID:  id,
		Location: s.autoURL,
		Subject:  name,
		Detail:   detail,
		Evidence: s.autoH.evidence(name),
	})
}

func (f *findings) csp(s *site, o cspOutcome) {
	const name = "content-security-policy"
	evidence := s.autoH.evidence(name)
	if len(s.meta.cspTags) > 0 {
		evidence = strings.TrimPrefix(evidence+"\n"+strings.Join(s.meta.cspTags, "\n"), "\n")
	}
	add := func(id, detail string) {
		f.add(finding.Finding{CheckID: id, Location: s.autoURL, Subject: name, Detail: detail, Evidence: evidence})
	}
	switch o.result {
	case resCSPNotImplemented:
		add(finding.CSPMissing, "No Content-Security-Policy header or meta element sets an enforced policy.")
		return
	case resCSPReportOnly:
		f.add(finding.Finding{
			CheckID: finding.CSPReportOnly, Location: s.autoURL, Subject: name,
			Detail:   "Content-Security-Policy-Report-Only is set, but no policy is enforced.",
			Evidence: s.autoH.evidence("content-security-policy-report-only"),
		})
		return
	case resCSPHeaderInvalid:
		if !o.flags.strictDynamicNoNonce {
			add(finding.CSPInvalid, "The policy cannot be parsed: an empty or too short policy, a repeated directive, or a malformed source.")
			return
		}
		add(finding.CSPInvalid, "script-src uses 'strict-dynamic' without a nonce or hash.")
	}
	if o.flags.unsafeInline {
		add(finding.CSPUnsafeInline, "script-src or object-src allows 'unsafe-inline', data: or an overly broad source (or is not restricted at all).")
	}
	if o.flags.insecureActive {
		add(finding.CSPInsecureActive, "The policy allows scripts or other active content over http: or ftp:.")
	}
	if o.flags.unsafeEval {
		add(finding.CSPUnsafeEval, "script-src or style-src allows 'unsafe-eval'.")
	}
	if o.flags.insecurePassive {
		add(finding.CSPInsecurePassive, "img-src or media-src allows loading over http: or ftp:.")
	}
}

func (f *findings) cookies(s *site, o cookieOutcome) {
	// Cookies the Observatory's jar kept.
	for _, c := range o.jar {
		session := isSession(c.name)
		sev := finding.Severity(0)
		if session {
			sev = finding.Medium
			if !c.secure {
				sev = finding.High
			}
		}
		add := func(id, detail string) {
			f.add(finding.Finding{
				CheckID: id, Severity: sev, Location: c.location, Subject: c.name,
				Detail: detail, Evidence: "Set-Cookie: " + c.line,
			})
		}
		if !c.secure {
			d := "Cookie " + c.name + " is set without the Secure attribute."
			if session {
				d = "Session cookie " + c.name + " is set without the Secure attribute."
			}
			add(finding.CookieInsecure, d)
		}
		if session && !c.httpOnly {
			add(finding.CookieHTTPOnly, "Session cookie "+c.name+" is set without the HttpOnly attribute.")
		}
		if c.sameSite == "" {
			d := "Cookie " + c.name + " is set without a valid SameSite attribute."
			if isAntiCSRF(c.name) {
				d = "Anti-CSRF cookie " + c.name + " is set without a valid SameSite attribute."
			}
			add(finding.CookieSameSiteMissing, d)
		}
		if c.sameSite == "none" && !c.secure {
			add(finding.CookieSameSiteInvalid, "Cookie "+c.name+" sets SameSite=None without Secure.")
		}
	}
	// Every Set-Cookie line, for what the jar hides: invalid SameSite values
	// and broken name prefixes (the jar silently drops those cookies).
	for _, r := range s.jarFrom {
		hv := newHeaderView(r.Header)
		for i, line := range hv.cookies {
			c, ok := parseSetCookie(line)
			if !ok || c.name == "" {
				continue
			}
			sev := finding.Severity(0)
			if isSession(c.name) {
				sev = finding.Medium
				if !c.secure {
					sev = finding.High
				}
			}
			if invalidSameSite(line) {
				f.add(finding.Finding{
					CheckID: finding.CookieSameSiteInvalid, Severity: sev, Location: r.URL, Subject: c.name,
					Detail:   "Cookie " + c.name + " sets SameSite to a value other than Strict, Lax or None.",
					Evidence: "Set-Cookie: " + hv.rawSet[i],
				})
			}
			if p := prefixProblem(c); p != "" {
				f.add(finding.Finding{
					CheckID: finding.CookiePrefixInvalid, Severity: sev, Location: r.URL, Subject: c.name,
					Detail: "Cookie " + c.name + ": " + p + "; browsers reject it.", Evidence: "Set-Cookie: " + hv.rawSet[i],
				})
			}
		}
	}
}

func (f *findings) cors(s *site, o outcome) {
	const name = "access-control-allow-origin"
	evidence := s.autoH.evidence(name)
	switch o.result {
	case resCORSUniversal:
		if ev := s.autoH.evidence("access-control-allow-credentials"); ev != "" {
			evidence += "\n" + ev
		}
		f.add(finding.Finding{
			CheckID: finding.CORSReflectedOrigin, Location: s.autoURL, Subject: name, Evidence: evidence,
			Detail: "The Origin sent (" + s.in.SentOrigin + ") is reflected in Access-Control-Allow-Origin with Access-Control-Allow-Credentials: true.",
		})
	case resCORSPublic:
		f.add(finding.Finding{
			CheckID: finding.CORSWildcard, Location: s.autoURL, Subject: name, Evidence: evidence,
			Detail: "Access-Control-Allow-Origin: * lets any site read this response (without credentials).",
		})
	}
}

func (f *findings) redirection(s *site, o redirOutcome) {
	if o.pass {
		return
	}
	var route []string
	for _, r := range s.chain {
		line := r.URL
		if loc := r.Header.Get("Location"); loc != "" {
			line += " -> Location: " + loc
		}
		route = append(route, line)
	}
	add := func(id, detail string) {
		f.add(finding.Finding{
			CheckID: id, Location: o.location, Subject: "location", Detail: detail,
			Evidence: strings.Join(route, "\n"),
		})
	}
	switch o.result {
	case resRedirMissing:
		add(finding.HTTPRedirectMissing, "Plain HTTP answers without redirecting to HTTPS.")
	case resRedirNotToHTTPS:
		add(finding.HTTPRedirectInsecure, "Plain HTTP redirects, but the redirects end on plain HTTP.")
	case resRedirNotInitial:
		add(finding.HTTPRedirectInsecure, "Plain HTTP first redirects to another plain HTTP URL instead of HTTPS on the same host.")
	case resRedirOffHost:
		add(finding.HTTPRedirectInsecure, "Plain HTTP first redirects to HTTPS on another host, so HSTS for this host is never seen.")
	case resRedirInvalidCert:
		add(finding.HTTPRedirectInsecure, "The redirect from plain HTTP reaches HTTPS with a certificate that does not verify.")
	}
}

func (f *findings) referrer(s *site, o outcome) {
	switch o.result {
	case resReferrerUnsafe:
		f.header(s, finding.ReferrerUnsafe, "referrer-policy", "Referrer-Policy sends the referrer (or origin) to other sites or over HTTP.")
	case resReferrerInvalid:
		f.header(s, finding.ReferrerInvalid, "referrer-policy", "Referrer-Policy holds no recognised policy, so browsers use their default.")
	}
}

func (f *findings) hsts(s *site, o hstsOutcome) {
	const name = "strict-transport-security"
	switch o.result {
	case resHSTSMissing:
		f.header(s, finding.HSTSMissing, name, "The HTTPS response sets no Strict-Transport-Security header.")
	case resHSTSNoHTTPS:
		f.header(s, finding.HSTSMissing, name, "The site does not answer over HTTPS, so it cannot set HSTS.")
	case resHSTSInvalid:
		f.header(s, finding.HSTSInvalid, name, "Strict-Transport-Security has no max-age or is sent more than once.")
	case resHSTSInvalidCert:
		f.header(s, finding.HSTSInvalid, name, "Browsers ignore Strict-Transport-Security because the certificate does not verify.")
	case resHSTSShort:
		f.header(s, finding.HSTSShort, name, "Strict-Transport-Security max-age is shorter than six months (15552000 s).")
	}
}

func (f *findings) sri(s *site, o sriOutcome) {
	for _, sc := range o.offenders {
		fd := finding.Finding{
			Location: s.autoURL, Subject: sc.raw,
			Evidence: `<script src="` + sc.raw + `">`,
		}
		switch sc.result {
		case resSRIMissingExternal:
			fd.CheckID, fd.Detail = finding.SRIMissing, "An external script loads over HTTPS without an integrity attribute."
		case resSRIInsecure:
			fd.CheckID, fd.Detail = finding.SRIInsecureExternal, "An external script has an integrity attribute but loads over HTTP or a protocol-relative URL."
			fd.Evidence = `<script src="` + sc.raw + `" integrity="...">`
		case resSRIMissingInsecure:
			fd.CheckID, fd.Detail = finding.SRIInsecureExternal, "An external script loads over HTTP or a protocol-relative URL without an integrity attribute."
		default:
			continue
		}
		f.add(fd)
	}
}

// headerResults are the failing results of the tests that look at one
// header, and the finding each reports.
var headerResults = map[string]struct{ id, header, detail string }{
	resXCTOMissing: {finding.XCTOMissing, "x-content-type-options", "No X-Content-Type-Options: nosniff header is set."},
	resXCTOInvalid: {finding.XCTOMissing, "x-content-type-options", "X-Content-Type-Options is set to something other than nosniff."},
	resXFOMissing: {finding.FramingMissing, "x-frame-options",
		"Neither X-Frame-Options nor a CSP frame-ancestors directive limits framing."},
	resXFOInvalid: {finding.FramingInvalid, "x-frame-options",
		"X-Frame-Options is not DENY, SAMEORIGIN or ALLOW-FROM, and no CSP frame-ancestors is set."},
	resCORPInvalid: {finding.CORPInvalid, "cross-origin-resource-policy",
		"Cross-Origin-Resource-Policy is not same-origin, same-site or cross-origin."},
	resCORPMissing: {finding.CORPMissing, "cross-origin-resource-policy", "No Cross-Origin-Resource-Policy header is set."},
	resCOOPInvalid: {finding.COOPInvalid, "cross-origin-opener-policy", "Cross-Origin-Opener-Policy cannot be recognised."},
	resCOOPMissing: {finding.COOPMissing, "cross-origin-opener-policy", "No Cross-Origin-Opener-Policy header is set."},
	resCOEPInvalid: {finding.COEPInvalid, "cross-origin-embedder-policy", "Cross-Origin-Embedder-Policy cannot be recognised."},
	resCOEPMissing: {finding.COEPMissing, "cross-origin-embedder-policy", "No Cross-Origin-Embedder-Policy header is set."},
}

// singleHeader reports the finding of a one-header test's failing result.
func (f *findings) singleHeader(s *site, o outcome) {
	if r, ok := headerResults[o.result]; ok {
		f.header(s, r.id, r.header, r.detail)
	}
}

func (f *findings) permissionsPolicy(s *site) {
	if _, ok := s.autoH.get("permissions-policy"); !ok {
		f.header(s, finding.PermissionsMissing, "permissions-policy", "No Permissions-Policy header is set.")
	}
}
