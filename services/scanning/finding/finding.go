// Package finding holds what every part of the scanner shares: severities,
// the ids of every check, and a finding as a check reports it. A check says
// only what it saw (check id, where, on what, evidence); the catalog
// (package catalog) supplies the title, CWE, remediation, references and
// compliance mapping, so a check's description lives in one data file.
package finding

// Severity ranks a finding; the values follow the API's Severity enum.
type Severity int

// Severities, least to most severe.
const (
	Info Severity = iota + 1
	Low
	Medium
	High
	Critical
)

// String returns the API's name of a severity: INFO .. CRITICAL.
func (s Severity) String() string {
	switch s {
	case Info:
		return "INFO"
	case Low:
		return "LOW"
	case Medium:
		return "MEDIUM"
	case High:
		return "HIGH"
	case Critical:
		return "CRITICAL"
	}
	return "UNSPECIFIED"
}

// Finding is one issue a check observed.
type Finding struct {
	// CheckID is one of the ids below; the catalog describes it.
	CheckID string
	// Severity overrides the catalog's default when non-zero (a check may
	// grade one instance worse, e.g. a session cookie without Secure).
	Severity Severity
	// Location is the URL where the issue was observed.
	Location string
	// Subject names what at that location: a header, cookie or file name.
	// With CheckID and Location it identifies the issue across scans.
	Subject string
	// Detail is a one-line, instance-specific explanation.
	Detail string
	// Evidence is what the scanner saw. The scanner bounds it to 5 KB and
	// redacts secrets before it is stored.
	Evidence string
}

// Check ids. Every id a check can emit is listed here, and the catalog has
// an entry for each (a test enforces both directions).
const (
	// TLS and certificates.
	TLSUnavailable         = "tls.unavailable"
	TLSLegacyProtocol      = "tls.protocol.legacy"
	TLSNoTLS13             = "tls.protocol.no_tls13"
	TLSWeakCipher          = "tls.cipher.weak"
	TLSNoForwardSecrecy    = "tls.cipher.no_forward_secrecy"
	TLSNoAEAD              = "tls.cipher.no_aead"
	TLSCertUntrusted       = "tls.cert.untrusted"
	TLSCertExpired         = "tls.cert.expired"
	TLSCertExpiringSoon    = "tls.cert.expiring_soon"
	TLSCertNameMismatch    = "tls.cert.name_mismatch"
	TLSCertWeakKey         = "tls.cert.weak_key"
	TLSCertWeakSignature   = "tls.cert.weak_signature"
	HTTPRedirectMissing    = "http.redirect.missing"
	HTTPRedirectInsecure   = "http.redirect.insecure"
	HSTSMissing            = "headers.hsts.missing"
	HSTSInvalid            = "headers.hsts.invalid"
	HSTSShort              = "headers.hsts.short"
	CSPMissing             = "headers.csp.missing"
	CSPInvalid             = "headers.csp.invalid"
	CSPReportOnly          = "headers.csp.report_only"
	CSPUnsafeInline        = "headers.csp.unsafe_inline"
	CSPUnsafeEval          = "headers.csp.unsafe_eval"
	CSPInsecureActive      = "headers.csp.insecure_active"
	CSPInsecurePassive     = "headers.csp.insecure_passive"
	FramingMissing         = "headers.framing.missing"
	FramingInvalid         = "headers.framing.invalid"
	XCTOMissing            = "headers.xcto.missing"
	ReferrerUnsafe         = "headers.referrer.unsafe"
	ReferrerInvalid        = "headers.referrer.invalid"
	PermissionsMissing     = "headers.permissions_policy.missing"
	COOPMissing            = "headers.coop.missing"
	COOPInvalid            = "headers.coop.invalid"
	COEPMissing            = "headers.coep.missing"
	COEPInvalid            = "headers.coep.invalid"
	CORPMissing            = "headers.corp.missing"
	CORPInvalid            = "headers.corp.invalid"
	CookieInsecure         = "cookies.secure.missing"
	CookieHTTPOnly         = "cookies.httponly.missing"
	CookieSameSiteMissing  = "cookies.samesite.missing"
	CookieSameSiteInvalid  = "cookies.samesite.invalid"
	CookiePrefixInvalid    = "cookies.prefix.invalid"
	CORSReflectedOrigin    = "cors.origin_reflected_credentials"
	CORSWildcard           = "cors.wildcard"
	SRIMissing             = "sri.missing"
	SRIInsecureExternal    = "sri.insecure_external"
	MixedContentActive     = "content.mixed.active"
	MixedContentPassive    = "content.mixed.passive"
	ServerVersionDisclosed = "disclosure.server_version"
	ExposedGit             = "exposure.git"
	ExposedEnv             = "exposure.env"
	VerboseErrors          = "errors.verbose"
	SecurityTxtMissing     = "securitytxt.missing"
	SecurityTxtInvalid     = "securitytxt.invalid"
)

// IDs lists every check id, in the order above.
var IDs = []string{
	TLSUnavailable, TLSLegacyProtocol, TLSNoTLS13, TLSWeakCipher, TLSNoForwardSecrecy, TLSNoAEAD,
	TLSCertUntrusted, TLSCertExpired, TLSCertExpiringSoon, TLSCertNameMismatch, TLSCertWeakKey,
	TLSCertWeakSignature, HTTPRedirectMissing, HTTPRedirectInsecure, HSTSMissing, HSTSInvalid, HSTSShort,
	CSPMissing, CSPInvalid, CSPReportOnly, CSPUnsafeInline, CSPUnsafeEval, CSPInsecureActive,
	CSPInsecurePassive, FramingMissing, FramingInvalid, XCTOMissing, ReferrerUnsafe, ReferrerInvalid,
	PermissionsMissing, COOPMissing, COOPInvalid, COEPMissing, COEPInvalid, CORPMissing, CORPInvalid,
	CookieInsecure, CookieHTTPOnly, CookieSameSiteMissing, CookieSameSiteInvalid, CookiePrefixInvalid,
	CORSReflectedOrigin, CORSWildcard, SRIMissing, SRIInsecureExternal, MixedContentActive,
	MixedContentPassive, ServerVersionDisclosed, ExposedGit, ExposedEnv, VerboseErrors,
	SecurityTxtMissing, SecurityTxtInvalid,
}
