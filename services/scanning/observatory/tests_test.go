package observatory

import "testing"

// Expected results of the tables below were checked against
// @mdn/mdn-http-observatory 1.4.8, except the CORS reflection and the
// COOP/COEP cases, which that version does not score.

const hstsYear = "Strict-Transport-Security: max-age=31536000"

var cookieCases = []resultCase{
	{"none", spec{}, resCookiesNotFound},
	{"secure httponly session with samesite", spec{headers: []string{"Set-Cookie: sessionid=1; Secure; HttpOnly; SameSite=Lax"}}, resCookiesSecureSameSite},
	{"attributes are case-insensitive", spec{headers: []string{"Set-Cookie: sessionid=1; SECURE; httponly; samesite=STRICT"}}, resCookiesSecureSameSite},
	{"secure without samesite", spec{headers: []string{"Set-Cookie: theme=dark; Secure"}}, resCookiesSecure},
	{"not secure but hsts", spec{headers: []string{hstsYear, "Set-Cookie: theme=dark"}}, resCookiesInsecureHSTS},
	{"not secure but preloaded", spec{host: "preloaded.example", headers: []string{"Set-Cookie: theme=dark"}}, resCookiesInsecureHSTS},
	{"session not secure but hsts", spec{headers: []string{hstsYear, "Set-Cookie: sessionid=1; HttpOnly"}}, resCookiesSessionInsecureHSTS},
	{"not secure", spec{headers: []string{"Set-Cookie: theme=dark"}}, resCookiesInsecure},
	{"samesite invalid value", spec{headers: []string{"Set-Cookie: theme=dark; Secure; SameSite=bogus"}}, resCookiesSameSiteInvalid},
	{"samesite without value", spec{headers: []string{"Set-Cookie: theme=dark; Secure; SameSite"}}, resCookiesSameSiteInvalid},
	{"samesite empty", spec{headers: []string{"Set-Cookie: theme=dark; Secure; SameSite="}}, resCookiesSameSiteInvalid},
	{"samesite none without secure", spec{headers: []string{"Set-Cookie: theme=dark; SameSite=None"}}, resCookiesSameSiteInvalid},
	{"samesite none with secure", spec{headers: []string{"Set-Cookie: theme=dark; Secure; SameSite=None"}}, resCookiesSecureSameSite},
	{"anti-csrf without samesite", spec{headers: []string{"Set-Cookie: csrftoken=1; Secure"}}, resCookiesAntiCSRFNoSameSite},
	{"session without httponly", spec{headers: []string{"Set-Cookie: sessionid=1; Secure; SameSite=Lax"}}, resCookiesSessionNoHTTPOnly},
	{"session not secure", spec{headers: []string{"Set-Cookie: PHPSESSID=1; HttpOnly"}}, resCookiesSessionInsecure},
	{"login cookie is a session cookie", spec{headers: []string{"Set-Cookie: Login_Token=1; HttpOnly; SameSite=Lax"}}, resCookiesSessionInsecure},
	{"worst cookie wins", spec{headers: []string{"Set-Cookie: theme=dark; Secure; SameSite=Lax", "Set-Cookie: sessionid=1", "Set-Cookie: csrftoken=1; Secure"}}, resCookiesSessionInsecure},
	{"heroku affinity cookie ignored", spec{headers: []string{"Set-Cookie: heroku-session-affinity=1"}}, resCookiesNotFound},
	{"cookie without name ignored", spec{headers: []string{"Set-Cookie: sessionid"}}, resCookiesNotFound},
	{"foreign domain rejected", spec{headers: []string{"Set-Cookie: sessionid=1; Domain=other.example"}}, resCookiesNotFound},
	{"public suffix domain rejected", spec{host: "shop.example.co.uk", headers: []string{"Set-Cookie: sessionid=1; Domain=co.uk"}}, resCookiesNotFound},
	{"parent domain accepted", spec{host: "www.site.example", headers: []string{"Set-Cookie: theme=1; Domain=.site.example"}}, resCookiesInsecure},
	{"host prefix without secure dropped", spec{headers: []string{"Set-Cookie: __Host-sess=1; HttpOnly; Path=/"}}, resCookiesNotFound},
	{"host prefix with domain dropped", spec{headers: []string{"Set-Cookie: __Host-id=1; Secure; Path=/; Domain=site.example"}}, resCookiesNotFound},
	{"secure prefix kept", spec{headers: []string{"Set-Cookie: __Secure-id=1; Secure; SameSite=Strict"}}, resCookiesSecureSameSite},
	{"expired cookie still counts", spec{headers: []string{"Set-Cookie: sessionid=; Max-Age=0"}}, resCookiesSessionInsecure},
	{"last cookie of a name wins", spec{headers: []string{"Set-Cookie: theme=1", "Set-Cookie: theme=2; Secure; SameSite=Lax"}}, resCookiesSecureSameSite},
	{"cookie set on a redirect counts", spec{httpsHops: []hop{{url: "https://site.example/", status: 302, headers: []string{"Set-Cookie: sessionid=1; Secure", "Location: /final"}}}}, resCookiesSessionNoHTTPOnly},
	{"invalid samesite on a redirect is only missing", spec{httpsHops: []hop{{url: "https://site.example/", status: 302, headers: []string{"Set-Cookie: theme=1; Secure; SameSite=bogus"}}}}, resCookiesSecure},
	{"no cookie left overrides invalid samesite", spec{headers: []string{"Set-Cookie: __Host-a=1; SameSite=bogus"}}, resCookiesNotFound},
	{"cookies of the http session without https", spec{noHTTPS: true, headers: []string{"Set-Cookie: theme=1; Secure; SameSite=Lax"}}, resCookiesSecureSameSite},
}

func TestCookies(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameCookies, cookieCases)
}

var hstsCases = []resultCase{
	{"missing", spec{}, resHSTSMissing},
	{"no https", spec{noHTTPS: true, headers: []string{hstsYear}}, resHSTSNoHTTPS},
	{"invalid certificate", spec{certBad: true, headers: []string{hstsYear}}, resHSTSInvalidCert},
	{"one year", spec{headers: []string{hstsYear + "; includeSubDomains; preload"}}, resHSTSLong},
	{"six months", spec{headers: []string{"Strict-Transport-Security: max-age=15552000"}}, resHSTSLong},
	{"just short of six months", spec{headers: []string{"Strict-Transport-Security: max-age=15551999"}}, resHSTSShort},
	{"negative", spec{headers: []string{"Strict-Transport-Security: max-age=-1"}}, resHSTSShort},
	{"upper case and spaces", spec{headers: []string{"Strict-Transport-Security:  MAX-AGE=31536000 ; INCLUDESUBDOMAINS"}}, resHSTSLong},
	{"space before the number", spec{headers: []string{"Strict-Transport-Security: max-age= 600"}}, resHSTSShort},
	{"unreadable number counts as long", spec{headers: []string{"Strict-Transport-Security: max-age=abc"}}, resHSTSLong},
	{"quoted number counts as long", spec{headers: []string{`Strict-Transport-Security: max-age="600"`}}, resHSTSLong},
	{"last max-age wins", spec{headers: []string{"Strict-Transport-Security: max-age=600; max-age=31536000"}}, resHSTSLong},
	{"no max-age", spec{headers: []string{"Strict-Transport-Security: includeSubDomains"}}, resHSTSInvalid},
	{"space before equals", spec{headers: []string{"Strict-Transport-Security: max-age = 31536000"}}, resHSTSInvalid},
	{"empty", spec{headers: []string{"Strict-Transport-Security:"}}, resHSTSInvalid},
	{"sent twice", spec{headers: []string{hstsYear, hstsYear}}, resHSTSInvalid},
	{"preloaded", spec{host: "preloaded.example"}, resHSTSPreloaded},
	{"preloaded through parent", spec{host: "www.sub.preloaded.example"}, resHSTSPreloaded},
	{"preload overrides invalid certificate", spec{host: "preloaded.example", certBad: true}, resHSTSPreloaded},
	{"parent without includeSubDomains", spec{host: "www.exact.example"}, resHSTSMissing},
}

func TestHSTS(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameHSTS, hstsCases)
}

func chain(urls ...string) []hop {
	hops := make([]hop, len(urls))
	for i, u := range urls {
		hops[i] = hop{url: u, status: 301}
		if i == len(urls)-1 {
			hops[i].status = 200
		} else {
			hops[i].headers = []string{"Location: " + urls[i+1]}
		}
	}
	return hops
}

var redirectionCases = []resultCase{
	{"nothing on http", spec{}, resRedirNoHTTP},
	{"no redirect", spec{httpChain: chain("http://site.example/")}, resRedirMissing},
	{"to https on the same host", spec{httpChain: chain("http://site.example/", "https://site.example/")}, resRedirToHTTPS},
	{"then to another https host", spec{httpChain: chain("http://site.example/", "https://site.example/", "https://www.site.example/")}, resRedirToHTTPS},
	{"http first", spec{httpChain: chain("http://site.example/", "http://site.example/x", "https://site.example/")}, resRedirNotInitial},
	{"https on another host first", spec{httpChain: chain("http://site.example/", "https://www.site.example/")}, resRedirOffHost},
	{"ends on http", spec{httpChain: chain("http://site.example/", "http://other.example/")}, resRedirNotToHTTPS},
	{"back to http", spec{httpChain: chain("http://site.example/", "https://site.example/", "http://site.example/y")}, resRedirNotToHTTPS},
	{"invalid certificate", spec{certBad: true, httpChain: chain("http://site.example/", "https://site.example/")}, resRedirInvalidCert},
	{"invalid certificate never reached", spec{certBad: true, httpChain: chain("http://site.example/")}, resRedirMissing},
	{"all preloaded", spec{host: "preloaded.example", httpChain: chain("http://preloaded.example/", "https://www.preloaded.example/")}, resRedirAllPreloaded},
	{"preloaded host, unlisted target", spec{host: "preloaded.example", httpChain: chain("http://preloaded.example/", "https://other.example/")}, resRedirOffHost},
}

func TestRedirection(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameRedirection, redirectionCases)
}

func referrerMeta(v string) string { return `<meta name="referrer" content="` + v + `">` }

var referrerCases = []resultCase{
	{"missing", spec{}, resReferrerNone},
	{"no-referrer", spec{headers: []string{"Referrer-Policy: no-referrer"}}, resReferrerPrivate},
	{"same-origin", spec{headers: []string{"Referrer-Policy: same-origin"}}, resReferrerPrivate},
	{"strict-origin", spec{headers: []string{"Referrer-Policy: strict-origin"}}, resReferrerPrivate},
	{"strict-origin-when-cross-origin any case", spec{headers: []string{"Referrer-Policy:  Strict-Origin-When-Cross-Origin "}}, resReferrerPrivate},
	{"unsafe-url", spec{headers: []string{"Referrer-Policy: unsafe-url"}}, resReferrerUnsafe},
	{"origin", spec{headers: []string{"Referrer-Policy: origin"}}, resReferrerUnsafe},
	{"origin-when-cross-origin", spec{headers: []string{"Referrer-Policy: origin-when-cross-origin"}}, resReferrerUnsafe},
	{"no-referrer-when-downgrade", spec{headers: []string{"Referrer-Policy: no-referrer-when-downgrade"}}, resReferrerUnsafe},
	{"unknown", spec{headers: []string{"Referrer-Policy: bogus"}}, resReferrerInvalid},
	{"empty", spec{headers: []string{"Referrer-Policy:"}}, resReferrerInvalid},
	{"last valid token wins", spec{headers: []string{"Referrer-Policy: no-referrer, unsafe-url"}}, resReferrerUnsafe},
	{"unknown token skipped", spec{headers: []string{"Referrer-Policy: no-referrer, bogus"}}, resReferrerPrivate},
	{"two headers join", spec{headers: []string{"Referrer-Policy: unsafe-url", "Referrer-Policy: same-origin"}}, resReferrerPrivate},
	{"meta only", spec{headers: []string{"Content-Type: text/html"}, body: htmlPage(referrerMeta("no-referrer"))}, resReferrerPrivate},
	{"meta after header", spec{headers: []string{"Content-Type: text/html", "Referrer-Policy: unsafe-url"}, body: htmlPage(referrerMeta("same-origin"))}, resReferrerPrivate},
	{"last meta wins", spec{headers: []string{"Content-Type: text/html"}, body: htmlPage(referrerMeta("no-referrer") + referrerMeta("origin"))}, resReferrerUnsafe},
	{"meta name is trimmed and case-folded", spec{headers: []string{"Content-Type: text/html"}, body: htmlPage(`<meta name=" Referrer " content="origin">`)}, resReferrerUnsafe},
	{"meta with http-equiv is not a referrer meta", spec{headers: []string{"Content-Type: text/html"}, body: htmlPage(`<meta http-equiv="x" name="referrer" content="origin">`)}, resReferrerNone},
}

func TestReferrerPolicy(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameReferrer, referrerCases)
}

func scriptTag(src string, integrity bool) string {
	if integrity {
		return `<script src="` + src + `" integrity="sha384-abc" crossorigin="anonymous"></script>`
	}
	return `<script src="` + src + `"></script>`
}

func htmlSite(body string) spec {
	return spec{headers: []string{"Content-Type: text/html; charset=utf-8"}, body: htmlPage(body)}
}

var sriCases = []resultCase{
	{"not html", spec{headers: []string{"Content-Type: application/json"}, body: "{}"}, resSRINotHTML},
	{"no content type", spec{body: htmlPage(scriptTag("http://cdn.other.example/a.js", false))}, resSRINotHTML},
	{"no scripts", htmlSite("<p>hi</p>"), resSRINoScripts},
	{"inline script only", htmlSite("<script>go()</script>"), resSRISameOrigin},
	{"relative script", htmlSite(scriptTag("/app.js", false)), resSRISameOrigin},
	{"relative script with integrity", htmlSite(scriptTag("/app.js", true)), resSRIAllSecure},
	{"same registrable domain", htmlSite(scriptTag("https://static.site.example/a.js", false)), resSRISameOrigin},
	{"same registrable domain over http", htmlSite(scriptTag("http://static.site.example/a.js", false)), resSRISameOrigin},
	{"external https without integrity", htmlSite(scriptTag("https://cdn.other.example/a.js", false)), resSRIMissingExternal},
	{"external https with integrity", htmlSite(scriptTag("https://cdn.other.example/a.js", true)), resSRIExternalSecure},
	{"external http with integrity", htmlSite(scriptTag("http://cdn.other.example/a.js", true)), resSRIInsecure},
	{"external http without integrity", htmlSite(scriptTag("http://cdn.other.example/a.js", false)), resSRIMissingInsecure},
	{"protocol-relative without integrity", htmlSite(scriptTag("//cdn.other.example/a.js", false)), resSRIMissingInsecure},
	{"protocol-relative with integrity", htmlSite(scriptTag("//cdn.other.example/a.js", true)), resSRIInsecure},
	{"worst script wins", htmlSite(scriptTag("https://cdn.other.example/a.js", false) + scriptTag("http://cdn.other.example/b.js", false)), resSRIMissingInsecure},
	{"private suffix is not a site boundary", spec{host: "foo.github.io", headers: []string{"Content-Type: text/html"}, body: htmlPage(scriptTag("https://bar.github.io/a.js", false))}, resSRISameOrigin},
	{"script in noscript counts", htmlSite("<noscript>" + scriptTag("https://cdn.other.example/a.js", false) + "</noscript>"), resSRIMissingExternal},
	{"script in template is unseen", htmlSite("<template>" + scriptTag("https://cdn.other.example/a.js", false) + "</template>"), resSRINoScripts},
	{"svg script has no src", htmlSite(`<svg><script href="https://cdn.other.example/a.js"></script></svg>`), resSRISameOrigin},
	{"leading space makes protocol-relative relative", htmlSite(scriptTag("  //cdn.other.example/a.js", false)), resSRISameOrigin},
	{"scheme without slashes", htmlSite(scriptTag("https:cdn.other.example/a.js", false)), resSRIMissingExternal},
	{"upper-case url", htmlSite(scriptTag("HTTPS://CDN.OTHER.EXAMPLE/a.js", false)), resSRIMissingExternal},
	{"other scheme counts as relative", htmlSite(scriptTag("data:text/javascript,go()", false)), resSRISameOrigin},
	{"xhtml", spec{headers: []string{"Content-Type: application/xhtml+xml"}, body: htmlPage(scriptTag("https://cdn.other.example/a.js", true))}, resSRIExternalSecure},
}

func TestSubresourceIntegrity(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameSRI, sriCases)
}

var xctoCases = []resultCase{
	{"missing", spec{}, resXCTOMissing},
	{"empty", spec{headers: []string{"X-Content-Type-Options:"}}, resXCTOMissing},
	{"nosniff", spec{headers: []string{"X-Content-Type-Options: nosniff"}}, resXCTONosniff},
	{"nosniff any case", spec{headers: []string{"X-Content-Type-Options:  NoSniff "}}, resXCTONosniff},
	{"invalid", spec{headers: []string{"X-Content-Type-Options: bogus"}}, resXCTOInvalid},
	{"sent twice", spec{headers: []string{"X-Content-Type-Options: nosniff", "X-Content-Type-Options: nosniff"}}, resXCTOInvalid},
}

func TestXContentTypeOptions(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameXCTO, xctoCases)
}

var xfoCases = []resultCase{
	{"missing", spec{}, resXFOMissing},
	{"deny", spec{headers: []string{"X-Frame-Options: DENY"}}, resXFODenyOrSame},
	{"sameorigin", spec{headers: []string{"X-Frame-Options:  sameorigin "}}, resXFODenyOrSame},
	{"allow-from", spec{headers: []string{"X-Frame-Options: ALLOW-FROM https://a.example"}}, resXFOAllowFrom},
	{"invalid", spec{headers: []string{"X-Frame-Options: bogus"}}, resXFOInvalid},
	{"sent twice", spec{headers: []string{"X-Frame-Options: DENY", "X-Frame-Options: DENY"}}, resXFOInvalid},
	{"frame-ancestors", spec{headers: []string{"X-Frame-Options: bogus", cspHeader("default-src 'self'; frame-ancestors 'none'")}}, resXFOViaCSP},
	{"frame-ancestors any value", spec{headers: []string{cspHeader("default-src 'self'; frame-ancestors *")}}, resXFOViaCSP},
	{"frame-ancestors in meta counts in version 4", spec{headers: []string{"Content-Type: text/html", cspHeader("default-src 'self'")}, body: htmlPage(cspMeta("frame-ancestors 'none'"))}, resXFOViaCSP},
	{"frame-ancestors in an invalid policy", spec{headers: []string{cspHeader("frame-ancestors 'none'; frame-ancestors 'self'")}}, resXFOMissing},
	{"frame-ancestors in report-only", spec{headers: []string{"Content-Security-Policy-Report-Only: frame-ancestors 'none'"}}, resXFOMissing},
}

func TestXFrameOptions(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameXFO, xfoCases)
}

var corpCases = []resultCase{
	{"missing", spec{}, resCORPMissing},
	{"blank", spec{headers: []string{"Cross-Origin-Resource-Policy:  "}}, resCORPMissing},
	{"same-origin", spec{headers: []string{"Cross-Origin-Resource-Policy: same-origin"}}, resCORPSameOrigin},
	{"same-site any case", spec{headers: []string{"Cross-Origin-Resource-Policy:  Same-Site "}}, resCORPSameSite},
	{"cross-origin", spec{headers: []string{"Cross-Origin-Resource-Policy: cross-origin"}}, resCORPCrossOrigin},
	{"invalid", spec{headers: []string{"Cross-Origin-Resource-Policy: bogus"}}, resCORPInvalid},
}

func TestCrossOriginResourcePolicy(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameCORP, corpCases)
}

var corsCases = []resultCase{
	{"none", spec{}, resCORSNone},
	{"wildcard", spec{headers: []string{"Access-Control-Allow-Origin:  * "}}, resCORSPublic},
	{"one origin", spec{headers: []string{"Access-Control-Allow-Origin: https://app.example"}}, resCORSRestricted},
	{"empty", spec{headers: []string{"Access-Control-Allow-Origin:"}}, resCORSNone},
}

// corsReflectionCases are where we depart from the Observatory, whose -50
// never fires.
var corsReflectionCases = []resultCase{
	{"reflected with credentials", spec{origin: "https://evil.example", headers: []string{"Access-Control-Allow-Origin: https://evil.example", "Access-Control-Allow-Credentials: true"}}, resCORSUniversal},
	{"reflected with credentials in any case", spec{origin: "https://Evil.example", headers: []string{"Access-Control-Allow-Origin: https://evil.example", "Access-Control-Allow-Credentials:  TRUE "}}, resCORSUniversal},
	{"reflected without credentials", spec{origin: "https://evil.example", headers: []string{"Access-Control-Allow-Origin: https://evil.example"}}, resCORSRestricted},
	{"credentials for another origin", spec{origin: "https://evil.example", headers: []string{"Access-Control-Allow-Origin: https://app.example", "Access-Control-Allow-Credentials: true"}}, resCORSRestricted},
	{"credentials without an origin sent", spec{headers: []string{"Access-Control-Allow-Origin: https://app.example", "Access-Control-Allow-Credentials: true"}}, resCORSRestricted},
}

func TestCrossOriginResourceSharing(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameCORS, append(append([]resultCase{}, corsCases...), corsReflectionCases...))
}

func v6(s spec) spec { s.version = 6; return s }

var coopCases = []resultCase{
	{"missing", v6(spec{}), resCOOPMissing},
	{"same-origin", v6(spec{headers: []string{"Cross-Origin-Opener-Policy: same-origin"}}), resCOOPSameOrigin},
	{"same-origin with report-to", v6(spec{headers: []string{`Cross-Origin-Opener-Policy: same-origin; report-to="coop"`}}), resCOOPSameOrigin},
	{"parameter without value", v6(spec{headers: []string{"Cross-Origin-Opener-Policy: same-origin; report-to"}}), resCOOPSameOrigin},
	{"same-origin-allow-popups", v6(spec{headers: []string{"Cross-Origin-Opener-Policy: same-origin-allow-popups"}}), resCOOPAllowPopups},
	{"noopener-allow-popups", v6(spec{headers: []string{"Cross-Origin-Opener-Policy: noopener-allow-popups"}}), resCOOPNoopenerPopups},
	{"unsafe-none", v6(spec{headers: []string{"Cross-Origin-Opener-Policy: unsafe-none"}}), resCOOPUnsafeNone},
	{"quoted string", v6(spec{headers: []string{`Cross-Origin-Opener-Policy: "same-origin"`}}), resCOOPInvalid},
	{"bad parameter", v6(spec{headers: []string{"Cross-Origin-Opener-Policy: same-origin; report-to=coop endpoint"}}), resCOOPInvalid},
	{"sent twice", v6(spec{headers: []string{"Cross-Origin-Opener-Policy: same-origin", "Cross-Origin-Opener-Policy: same-origin"}}), resCOOPInvalid},
	{"unknown token", v6(spec{headers: []string{"Cross-Origin-Opener-Policy: bogus"}}), resCOOPInvalid},
}

var coepCases = []resultCase{
	{"missing", v6(spec{}), resCOEPMissing},
	{"require-corp", v6(spec{headers: []string{"Cross-Origin-Embedder-Policy: require-corp"}}), resCOEPRequireCorp},
	{"credentialless", v6(spec{headers: []string{`Cross-Origin-Embedder-Policy: credentialless; report-to="e"`}}), resCOEPCredentialless},
	{"unsafe-none", v6(spec{headers: []string{"Cross-Origin-Embedder-Policy: unsafe-none"}}), resCOEPUnsafeNone},
	{"invalid", v6(spec{headers: []string{"Cross-Origin-Embedder-Policy: require-corp, credentialless"}}), resCOEPInvalid},
}

func TestCrossOriginOpenerPolicy(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameCOOP, coopCases)
}

func TestCrossOriginEmbedderPolicy(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameCOEP, coepCases)
}
