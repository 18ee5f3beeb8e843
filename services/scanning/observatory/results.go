package observatory

// Test names, as the Observatory reports them.
const (
	NameCSP         = "content-security-policy"
	NameCookies     = "cookies"
	NameCORS        = "cross-origin-resource-sharing"
	NameRedirection = "redirection"
	NameReferrer    = "referrer-policy"
	NameHSTS        = "strict-transport-security"
	NameSRI         = "subresource-integrity"
	NameXCTO        = "x-content-type-options"
	NameXFO         = "x-frame-options"
	NameCORP        = "cross-origin-resource-policy"
	NameCOOP        = "cross-origin-opener-policy"
	NameCOEP        = "cross-origin-embedder-policy"
)

const (
	defaultVersion = 4 // what the npm package 1.4.8 runs
	latestVersion  = 6
	// minExtraCredit: bonuses count only when the penalties alone leave at
	// least this score.
	minExtraCredit = 90
	// hstsSixMonths is the Observatory's "six months" (a little short of
	// 15768000, which many sites round down).
	hstsSixMonths = 15552000
	// maxRedirectHops is how many redirects the Observatory follows.
	maxRedirectHops = 10
)

// Result keys, as the Observatory reports them.
const (
	resCSPDefaultNone         = "csp-implemented-with-no-unsafe-default-src-none"
	resCSPNoUnsafe            = "csp-implemented-with-no-unsafe"
	resCSPUnsafeInlineStyle   = "csp-implemented-with-unsafe-inline-in-style-src-only"
	resCSPInsecurePassive     = "csp-implemented-with-insecure-scheme-in-passive-content-only"
	resCSPUnsafeEval          = "csp-implemented-with-unsafe-eval"
	resCSPUnsafeInline        = "csp-implemented-with-unsafe-inline"
	resCSPInsecureScheme      = "csp-implemented-with-insecure-scheme"
	resCSPHeaderInvalid       = "csp-header-invalid"
	resCSPNotImplemented      = "csp-not-implemented"
	resCSPReportOnly          = "csp-not-implemented-but-reporting-enabled"
	resCSPDuplicateDirectives = "csp-implemented-but-duplicate-directives"

	resCookiesSecureSameSite      = "cookies-secure-with-httponly-sessions-and-samesite"
	resCookiesSecure              = "cookies-secure-with-httponly-sessions"
	resCookiesNotFound            = "cookies-not-found"
	resCookiesInsecureHSTS        = "cookies-without-secure-flag-but-protected-by-hsts"
	resCookiesSessionInsecureHSTS = "cookies-session-without-secure-flag-but-protected-by-hsts"
	resCookiesInsecure            = "cookies-without-secure-flag"
	resCookiesSameSiteInvalid     = "cookies-samesite-flag-invalid"
	resCookiesAntiCSRFNoSameSite  = "cookies-anticsrf-without-samesite-flag"
	resCookiesSessionNoHTTPOnly   = "cookies-session-without-httponly-flag"
	resCookiesSessionInsecure     = "cookies-session-without-secure-flag"

	resCORSNone       = "cross-origin-resource-sharing-not-implemented"
	resCORSPublic     = "cross-origin-resource-sharing-implemented-with-public-access"
	resCORSRestricted = "cross-origin-resource-sharing-implemented-with-restricted-access"
	resCORSUniversal  = "cross-origin-resource-sharing-implemented-with-universal-access"

	resRedirAllPreloaded  = "redirection-all-redirects-preloaded"
	resRedirToHTTPS       = "redirection-to-https"
	resRedirNoHTTP        = "redirection-not-needed-no-http"
	resRedirOffHost       = "redirection-off-host-from-http"
	resRedirNotInitial    = "redirection-not-to-https-on-initial-redirection"
	resRedirNotToHTTPS    = "redirection-not-to-https"
	resRedirMissing       = "redirection-missing"
	resRedirInvalidCert   = "redirection-invalid-cert"
	resReferrerPrivate    = "referrer-policy-private"
	resReferrerNone       = "referrer-policy-not-implemented"
	resReferrerUnsafe     = "referrer-policy-unsafe"
	resReferrerInvalid    = "referrer-policy-header-invalid"
	resHSTSPreloaded      = "hsts-preloaded"
	resHSTSLong           = "hsts-implemented-max-age-at-least-six-months"
	resHSTSShort          = "hsts-implemented-max-age-less-than-six-months"
	resHSTSMissing        = "hsts-not-implemented"
	resHSTSInvalid        = "hsts-header-invalid"
	resHSTSNoHTTPS        = "hsts-not-implemented-no-https"
	resHSTSInvalidCert    = "hsts-invalid-cert"
	resXCTONosniff        = "x-content-type-options-nosniff"
	resXCTOMissing        = "x-content-type-options-not-implemented"
	resXCTOInvalid        = "x-content-type-options-header-invalid"
	resXFOViaCSP          = "x-frame-options-implemented-via-csp"
	resXFODenyOrSame      = "x-frame-options-sameorigin-or-deny"
	resXFOAllowFrom       = "x-frame-options-allow-from-origin"
	resXFOMissing         = "x-frame-options-not-implemented"
	resXFOInvalid         = "x-frame-options-header-invalid"
	resCORPSameOrigin     = "corp-implemented-with-same-origin"
	resCORPSameSite       = "corp-implemented-with-same-site"
	resCORPCrossOrigin    = "corp-implemented-with-cross-origin"
	resCORPMissing        = "corp-not-implemented"
	resCORPInvalid        = "corp-header-invalid"
	resSRIAllSecure       = "sri-implemented-and-all-scripts-loaded-securely"
	resSRIExternalSecure  = "sri-implemented-and-external-scripts-loaded-securely"
	resSRINotHTML         = "sri-not-implemented-response-not-html"
	resSRINoScripts       = "sri-not-implemented-but-no-scripts-loaded"
	resSRISameOrigin      = "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
	resSRIMissingExternal = "sri-not-implemented-but-external-scripts-loaded-securely"
	resSRIInsecure        = "sri-implemented-but-external-scripts-not-loaded-securely"
	resSRIMissingInsecure = "sri-not-implemented-and-external-scripts-not-loaded-securely"
	resHTMLNotParseable   = "html-not-parseable"

	resCOOPSameOrigin     = "coop-implemented-with-same-origin"
	resCOOPAllowPopups    = "coop-implemented-with-same-origin-allow-popups"
	resCOOPNoopenerPopups = "coop-implemented-with-noopener-allow-popups"
	resCOOPUnsafeNone     = "coop-implemented-with-unsafe-none"
	resCOOPMissing        = "coop-not-implemented"
	resCOOPInvalid        = "coop-header-invalid"
	resCOEPRequireCorp    = "coep-implemented-with-require-corp"
	resCOEPCredentialless = "coep-implemented-with-credentialless"
	resCOEPUnsafeNone     = "coep-implemented-with-unsafe-none"
	resCOEPMissing        = "coep-not-implemented"
	resCOEPInvalid        = "coep-header-invalid"
)

// result describes one result key: its score modifier and our wording.
type result struct {
	modifier    int
	description string
}

// results is the Observatory's score table (algorithm version 4), in our
// own words.
var results = map[string]result{
	resCSPDefaultNone:         {10, "Content Security Policy sets default-src 'none' and allows no unsafe sources."},
	resCSPNoUnsafe:            {5, "Content Security Policy allows neither 'unsafe-inline' nor 'unsafe-eval'."},
	resCSPUnsafeInlineStyle:   {0, "Content Security Policy allows unsafe or overly broad sources in style-src only."},
	resCSPInsecurePassive:     {-10, "Content Security Policy lets images or media load over plain HTTP."},
	resCSPUnsafeEval:          {-10, "Content Security Policy allows 'unsafe-eval'."},
	resCSPUnsafeInline:        {-20, "Content Security Policy allows inline script, data: or overly broad script or object sources."},
	resCSPInsecureScheme:      {-20, "Content Security Policy lets active content load over plain HTTP."},
	resCSPHeaderInvalid:       {-25, "Content Security Policy cannot be parsed."},
	resCSPNotImplemented:      {-25, "No Content Security Policy is set."},
	resCSPReportOnly:          {-25, "Content Security Policy is only reported (Report-Only), not enforced."},
	resCSPDuplicateDirectives: {0, "Content Security Policy repeats report-uri or report-to directives."},

	resCookiesSecureSameSite:      {5, "All cookies are Secure, session cookies are HttpOnly, and all set SameSite."},
	resCookiesSecure:              {0, "All cookies are Secure and session cookies are HttpOnly, but not all set SameSite."},
	resCookiesNotFound:            {0, "No cookies are set."},
	resCookiesInsecureHSTS:        {-5, "Cookies lack the Secure flag; HSTS keeps them off plain HTTP."},
	resCookiesSessionInsecureHSTS: {-10, "A session cookie lacks the Secure flag; HSTS keeps it off plain HTTP."},
	resCookiesInsecure:            {-20, "Cookies lack the Secure flag or are set over plain HTTP."},
	resCookiesSameSiteInvalid:     {-20, "A cookie sets SameSite to an invalid value, or to None without Secure."},
	resCookiesAntiCSRFNoSameSite:  {-20, "An anti-CSRF cookie is set without SameSite."},
	resCookiesSessionNoHTTPOnly:   {-30, "A session cookie lacks the HttpOnly flag."},
	resCookiesSessionInsecure:     {-40, "A session cookie lacks the Secure flag or is set over plain HTTP."},

	resCORSNone:       {0, "Content is not shared cross-origin through CORS."},
	resCORSPublic:     {0, "Public content is shared with any origin (Access-Control-Allow-Origin: *)."},
	resCORSRestricted: {0, "Content is shared through CORS with specific origins only."},
	resCORSUniversal:  {-50, "Any origin is reflected in Access-Control-Allow-Origin together with credentials."},

	resRedirAllPreloaded: {0, "Every host on the redirect path is on the HSTS preload list."},
	resRedirToHTTPS:      {0, "Plain HTTP redirects to HTTPS on the same host."},
	resRedirNoHTTP:       {0, "The site does not answer on plain HTTP."},
	resRedirOffHost:      {-5, "Plain HTTP first redirects to HTTPS on another host."},
	resRedirNotInitial:   {-10, "Plain HTTP first redirects to another plain HTTP URL."},
	resRedirNotToHTTPS:   {-20, "Plain HTTP redirects, but not to HTTPS."},
	resRedirMissing:      {-20, "Plain HTTP does not redirect to HTTPS."},
	resRedirInvalidCert:  {-20, "The redirect to HTTPS reaches an invalid certificate."},

	resReferrerPrivate: {5, "Referrer-Policy keeps the referrer private."},
	resReferrerNone:    {0, "No Referrer-Policy is set."},
	resReferrerUnsafe:  {-5, "Referrer-Policy leaks the referrer (origin, origin-when-cross-origin, unsafe-url or no-referrer-when-downgrade)."},
	resReferrerInvalid: {-5, "Referrer-Policy holds no recognised policy."},

	resHSTSPreloaded:   {5, "The host is on the HSTS preload list."},
	resHSTSLong:        {0, "Strict-Transport-Security max-age is at least six months."},
	resHSTSShort:       {-10, "Strict-Transport-Security max-age is shorter than six months."},
	resHSTSMissing:     {-20, "No Strict-Transport-Security header is set."},
	resHSTSInvalid:     {-20, "Strict-Transport-Security cannot be parsed (no max-age, or sent more than once)."},
	resHSTSNoHTTPS:     {-20, "HSTS cannot be set: the site does not answer over HTTPS."},
	resHSTSInvalidCert: {-20, "HSTS cannot take effect: the certificate does not verify."},

	resSRIAllSecure:       {5, "Scripts use Subresource Integrity and load from the site itself."},
	resSRIExternalSecure:  {5, "External scripts use Subresource Integrity and load over HTTPS."},
	resSRINotHTML:         {0, "The page is not HTML, so Subresource Integrity does not apply."},
	resSRINoScripts:       {0, "The page loads no scripts."},
	resSRISameOrigin:      {0, "Scripts load from the site itself, without Subresource Integrity."},
	resSRIMissingExternal: {-5, "External scripts load over HTTPS without Subresource Integrity."},
	resSRIInsecure:        {-20, "External scripts use Subresource Integrity but load over HTTP or a protocol-relative URL."},
	resSRIMissingInsecure: {-50, "External scripts load over HTTP or a protocol-relative URL without Subresource Integrity."},
	resHTMLNotParseable:   {-20, "The page claims to be HTML but cannot be parsed."},

	resXCTONosniff: {0, "X-Content-Type-Options is nosniff."},
	resXCTOMissing: {-5, "No X-Content-Type-Options header is set."},
	resXCTOInvalid: {-5, "X-Content-Type-Options is not nosniff."},

	resXFOViaCSP:     {5, "Framing is controlled by the CSP frame-ancestors directive."},
	resXFODenyOrSame: {0, "X-Frame-Options is DENY or SAMEORIGIN."},
	resXFOAllowFrom:  {0, "X-Frame-Options uses ALLOW-FROM."},
	resXFOMissing:    {-20, "Neither X-Frame-Options nor CSP frame-ancestors is set."},
	resXFOInvalid:    {-20, "X-Frame-Options cannot be recognised."},

	resCORPSameOrigin:  {10, "Cross-Origin-Resource-Policy is same-origin."},
	resCORPSameSite:    {10, "Cross-Origin-Resource-Policy is same-site."},
	resCORPCrossOrigin: {0, "Cross-Origin-Resource-Policy is cross-origin."},
	resCORPMissing:     {0, "No Cross-Origin-Resource-Policy header is set."},
	resCORPInvalid:     {-5, "Cross-Origin-Resource-Policy cannot be recognised."},

	// Scored only from algorithm version 6, with the modifiers of SCORING.md.
	resCOOPSameOrigin:     {10, "Cross-Origin-Opener-Policy is same-origin."},
	resCOOPAllowPopups:    {0, "Cross-Origin-Opener-Policy is same-origin-allow-popups."},
	resCOOPNoopenerPopups: {0, "Cross-Origin-Opener-Policy is noopener-allow-popups."},
	resCOOPUnsafeNone:     {0, "Cross-Origin-Opener-Policy is unsafe-none."},
	resCOOPMissing:        {0, "No Cross-Origin-Opener-Policy header is set."},
	resCOOPInvalid:        {-5, "Cross-Origin-Opener-Policy cannot be recognised."},
	resCOEPRequireCorp:    {10, "Cross-Origin-Embedder-Policy is require-corp."},
	resCOEPCredentialless: {10, "Cross-Origin-Embedder-Policy is credentialless."},
	resCOEPUnsafeNone:     {0, "Cross-Origin-Embedder-Policy is unsafe-none."},
	resCOEPMissing:        {0, "No Cross-Origin-Embedder-Policy header is set."},
	resCOEPInvalid:        {-5, "Cross-Origin-Embedder-Policy cannot be recognised."},
}

// modifier is a result's score modifier under an algorithm version.
func modifier(version int, key string) int {
	if key == resXFODenyOrSame && version >= 5 {
		return 5
	}
	return results[key].modifier
}

// gradeChart maps a score floored to a multiple of 5 (0..100) to a letter.
var gradeChart = map[int]string{
	100: "A+", 95: "A", 90: "A", 85: "A-", 80: "B+", 75: "B", 70: "B", 65: "B-", 60: "C+",
	55: "C", 50: "C", 45: "C-", 40: "D+", 35: "D", 30: "D", 25: "D-",
	20: "F", 15: "F", 10: "F", 5: "F", 0: "F",
}

// Grade maps a score to a letter per the Observatory's chart.
func Grade(score int) string {
	score = max(score, 0)
	return gradeChart[min(score-score%5, 100)]
}
