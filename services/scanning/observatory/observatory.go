package observatory

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

// Response is one HTTP response as the scanner saw it.
type Response struct {
	URL    string      // the request URL of this response
	Status int         // the HTTP status code
	Header http.Header // may hold several Set-Cookie, several CSP headers, etc.
	Body   []byte      // bounded (may be cut); HTML for the final response
}

// Options selects how to grade.
type Options struct {
	// Version is the Observatory's algorithm version. 0 and 4 mean version
	// 4, what the npm package 1.4.8 runs. 5 scores X-Frame-Options DENY or
	// SAMEORIGIN +5; 6 adds the COOP and COEP tests, with the modifiers of
	// SCORING.md.
	Version int
}

// Input is everything the Observatory's tests look at.
type Input struct {
	// Final is the last response of the https:// request (redirects
	// followed); nil when HTTPS gave no response.
	Final *Response
	// HTTPChain is every response of the request to http://host/path, first
	// to last, redirects followed by the caller (each entry is one hop; a 3xx
	// has a Location header). Empty when nothing answered on http.
	HTTPChain []Response
	// CertValid reports that the https certificate verified (trust, expiry,
	// name).
	CertValid bool
	// SentOrigin is the Origin header the scanner sent with the final https
	// request ("" if none).
	SentOrigin string
	// Preloaded reports whether a host is on the HSTS preload list (listed
	// itself, or under a listed parent with includeSubDomains); nil means
	// nothing is preloaded.
	Preloaded func(host string) bool

	// Host is the host name that was scanned. When empty it is taken from
	// the first URL of HTTPSChain, HTTPChain or Final, in that order.
	Host string
	// HTTPSChain is every response of the https:// request, first to last,
	// ending with Final. The Observatory's cookie jar sees cookies set on
	// every hop; when HTTPSChain is empty only Final's cookies are seen.
	HTTPSChain []Response
	// Options selects the algorithm version.
	Options Options
}

// Test is the outcome of one Observatory test.
type Test struct {
	Name        string // the Observatory's test name, e.g. "content-security-policy"
	Result      string // the Observatory's result key, e.g. "csp-implemented-with-no-unsafe"
	Modifier    int    // the score modifier of Result
	Pass        bool   // whether the Observatory counts the test as passed
	Description string // our own one-line wording of the result
}

// Outcome is the header grade of one site.
type Outcome struct {
	Version  int
	Tests    []Test // in the Observatory's order
	Score    int    // per SCORING.md: never below 0, not capped at 100
	Grade    string // "A+".."F"; "" when not graded (no response, or final status <200 or >=400 other than 401/403)
	Findings []finding.Finding
}

// site is the Observatory's view of one scan: the response its tests read
// ("auto"), the HTTPS response, the HTTP redirect chain and the cookie jar.
type site struct {
	in        *Input
	host      string
	auto      *Response
	autoURL   string
	autoH     headerView
	autoHTTPS bool // the tests ran against the https:// session
	https     *Response
	httpsH    headerView
	chain     []Response
	jarFrom   []Response
	isHTML    bool
	meta      metaHeaders
}

// Evaluate runs the Observatory's tests on what the scanner fetched and
// grades the result. A site that gave no usable answer (no response, or a
// final status the Observatory refuses) is not graded and has no tests and
// no findings.
func Evaluate(in Input) (out Outcome) {
	defer func() {
		// Inputs are hostile; a bug here must not take the scanner down.
		// The fuzz tests call evaluate directly, so they still see it.
		if r := recover(); r != nil {
			out = Outcome{Version: normVersion(in.Options.Version)}
		}
	}()
	return evaluate(in)
}

func evaluate(in Input) (out Outcome) {
	version := normVersion(in.Options.Version)
	out.Version = version
	s := newSite(&in)
	if s == nil || !gradable(s.auto.Status) {
		return out
	}

	csp := evalCSP(s)
	hsts := evalHSTS(s)
	cookies := evalCookies(s, hsts.pass)
	cors := evalCORS(s)
	redir := evalRedirection(s)
	ref := evalReferrer(s)
	sri := evalSRI(s)
	xcto := evalXCTO(s)
	xfo := evalXFO(s, csp)
	corp := evalCORP(s)
	coop := evalCOOP(s)
	coep := evalCOEP(s)

	runs := []struct {
		name   string
		result string
		pass   bool
	}{
		{NameCSP, csp.result, csp.pass},
		{NameCookies, cookies.result, cookies.pass},
		{NameCORS, cors.result, cors.pass},
		{NameRedirection, redir.result, redir.pass},
		{NameReferrer, ref.result, ref.pass},
		{NameHSTS, hsts.result, hsts.pass},
		{NameSRI, sri.result, sri.pass},
		{NameXCTO, xcto.result, xcto.pass},
		{NameXFO, xfo.result, xfo.pass},
		{NameCORP, corp.result, corp.pass},
	}
	if version >= 6 {
		runs = append(runs,
			struct {
				name   string
				result string
				pass   bool
			}{NameCOOP, coop.result, coop.pass},
			struct {
				name   string
				result string
				pass   bool
			}{NameCOEP, coep.result, coep.pass})
	}

	total, uncurved := 100, 100
	for _, r := range runs {
		m := modifier(version, r.result)
		out.Tests = append(out.Tests, Test{
			Name: r.name, Result: r.result, Modifier: m, Pass: r.pass,
			Description: results[r.result].description,
		})
		total += m
		if m < 0 {
			uncurved += m
		}
	}
	score := uncurved
	if uncurved >= minExtraCredit {
		score = total
	}
	out.Score = max(score, 0)
	out.Grade = Grade(out.Score)

	f := &findings{}
	f.csp(s, csp)
	f.cookies(s, cookies)
	f.cors(s, cors)
	f.redirection(s, redir)
	f.referrer(s, ref)
	f.hsts(s, hsts)
	f.sri(s, sri)
	for _, o := range []outcome{xcto, xfo, corp, coop, coep} {
		f.singleHeader(s, o)
	}
	f.permissionsPolicy(s)
	out.Findings = f.list
	return out
}

func normVersion(v int) int {
	switch {
	case v >= latestVersion:
		return latestVersion
	case v == 5:
		return 5
	default:
		return defaultVersion
	}
}

// gradable is the Observatory's rule: 2xx, 3xx, 401 and 403 are graded.
func gradable(status int) bool {
	return status >= 200 && (status < 400 || status == 401 || status == 403)
}

func newSite(in *Input) *site {
	s := &site{in: in}
	chain := in.HTTPChain
	if len(chain) > maxRedirectHops+1 {
		chain = chain[:maxRedirectHops+1]
	}
	s.chain = chain
	switch {
	case in.Final != nil:
		s.auto = in.Final
		s.autoHTTPS = true
		s.https = in.Final
		s.jarFrom = in.HTTPSChain
		if len(s.jarFrom) == 0 {
			s.jarFrom = []Response{*in.Final}
		}
	case len(chain) > 0:
		// Without an HTTPS answer the Observatory grades the HTTP session.
		last := chain[len(chain)-1]
		s.auto = &last
		s.jarFrom = chain
	default:
		return nil
	}
	if len(s.jarFrom) > maxRedirectHops+1 {
		s.jarFrom = s.jarFrom[len(s.jarFrom)-(maxRedirectHops+1):]
	}
	s.autoURL = s.auto.URL
	s.autoH = newHeaderView(s.auto.Header)
	if s.https != nil {
		s.httpsH = s.autoH
	}
	s.host = scannedHost(in)
	ct, _ := s.autoH.get("content-type")
	mime, _, _ := strings.Cut(ct, ";")
	s.isHTML = mime == "text/html" || mime == "application/xhtml+xml"
	if s.isHTML && len(s.auto.Body) > 0 {
		s.meta = parseMeta(boundBody(s.auto.Body))
	}
	return s
}

func scannedHost(in *Input) string {
	if in.Host != "" {
		return strings.ToLower(in.Host)
	}
	var candidates []string
	if len(in.HTTPSChain) > 0 {
		candidates = append(candidates, in.HTTPSChain[0].URL)
	}
	if len(in.HTTPChain) > 0 {
		candidates = append(candidates, in.HTTPChain[0].URL)
	}
	if in.Final != nil {
		candidates = append(candidates, in.Final.URL)
	}
	for _, c := range candidates {
		if u, err := url.Parse(c); err == nil && u.Hostname() != "" {
			return strings.ToLower(u.Hostname())
		}
	}
	return ""
}

func (s *site) preloaded(host string) bool {
	return s.in.Preloaded != nil && host != "" && s.in.Preloaded(host)
}

// outcome is what each test reports to the grader and to the findings.
type outcome struct {
	result string
	pass   bool
}

func evalCORS(s *site) outcome {
	out := outcome{result: resCORSNone}
	acao, _ := s.autoH.get("access-control-allow-origin")
	if acao != "" {
		data := jsLower(jsTrim(jsPrefix(acao, 256)))
		creds, _ := s.autoH.get("access-control-allow-credentials")
		switch {
		case data == "*":
			out.result = resCORSPublic
		case s.in.SentOrigin != "" && strings.EqualFold(jsTrim(acao), strings.TrimSpace(s.in.SentOrigin)) &&
			jsLower(jsTrim(creds)) == "true":
			// The Observatory means to catch this but reads the Origin it
			// sent from a field that is never set; we catch it.
			out.result = resCORSUniversal
		default:
			out.result = resCORSRestricted
		}
	}
	out.pass = out.result != resCORSUniversal
	return out
}

var (
	referrerGood = []string{"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
	referrerBad  = []string{"origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade"}
)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func evalReferrer(s *site) outcome {
	var parts []string
	if v, ok := s.autoH.get("referrer-policy"); ok {
		parts = append(parts, v)
	}
	parts = append(parts, s.meta.referrer...)
	if len(parts) == 0 {
		return outcome{result: resReferrerNone, pass: true}
	}
	// The last recognised token wins; a meta element comes after the header.
	policy := ""
	for _, tok := range strings.Split(strings.Join(parts, ", "), ",") {
		t := jsLower(jsTrim(tok))
		if contains(referrerGood, t) || contains(referrerBad, t) {
			policy = t
		}
	}
	switch {
	case contains(referrerGood, policy):
		return outcome{result: resReferrerPrivate, pass: true}
	case contains(referrerBad, policy):
		return outcome{result: resReferrerUnsafe}
	}
	return outcome{result: resReferrerInvalid}
}

type hstsOutcome struct {
	outcome
	header string
}

func evalHSTS(s *site) hstsOutcome {
	out := hstsOutcome{outcome: outcome{result: resHSTSMissing}}
	switch {
	case s.https == nil:
		out.result = resHSTSNoHTTPS
	case !s.in.CertValid:
		out.result = resHSTSInvalidCert
	default:
		if v, ok := s.httpsH.get("strict-transport-security"); ok {
			out.header = v
			out.result = parseHSTS(v)
		}
	}
	if s.https != nil && s.preloaded(s.host) {
		out.result = resHSTSPreloaded
	}
	out.pass = out.result == resHSTSLong || out.result == resHSTSPreloaded
	return out
}

// parseHSTS grades a Strict-Transport-Security value as the Observatory
// does: a comma means the header was sent twice, the last max-age counts,
// and a max-age that parseInt cannot read counts as long enough.
func parseHSTS(v string) string {
	data := jsPrefix(v, 1024)
	if strings.Contains(data, ",") {
		return resHSTSInvalid
	}
	seen := false
	var maxAge float64
	valid := false
	for _, p := range strings.Split(data, ";") {
		p = jsLower(jsTrim(p))
		if strings.HasPrefix(p, "max-age=") {
			seen = true
			maxAge, valid = jsParseInt(jsPrefix(p[len("max-age="):], 120))
		}
	}
	if !seen {
		return resHSTSInvalid
	}
	if valid && maxAge < hstsSixMonths {
		return resHSTSShort
	}
	return resHSTSLong
}

type redirOutcome struct {
	outcome
	location string
}

func evalRedirection(s *site) redirOutcome {
	out := redirOutcome{}
	if len(s.chain) == 0 {
		out.result, out.pass = resRedirNoHTTP, true
		return out
	}
	route := make([]*url.URL, 0, len(s.chain))
	for _, r := range s.chain {
		u, err := url.Parse(r.URL)
		if err != nil {
			u = &url.URL{}
		}
		route = append(route, u)
	}
	out.location = s.chain[0].URL
	anyHTTPS := false
	for _, u := range route {
		if strings.EqualFold(u.Scheme, "https") {
			anyHTTPS = true
		}
	}
	scheme := func(i int) string { return strings.ToLower(route[i].Scheme) }
	host := func(i int) string { return strings.ToLower(route[i].Hostname()) }
	allPreloaded := true
	for i := range route {
		if !s.preloaded(host(i)) {
			allPreloaded = false
			break
		}
	}
	switch {
	case anyHTTPS && !s.in.CertValid:
		out.result = resRedirInvalidCert
	case allPreloaded:
		out.result = resRedirAllPreloaded
	case len(route) == 1:
		out.result = resRedirMissing
	case scheme(len(route)-1) != "https":
		out.result = resRedirNotToHTTPS
	case scheme(1) == "http":
		out.result = resRedirNotInitial
	case scheme(0) == "http" && scheme(1) == "https" && host(0) != host(1):
		out.result = resRedirOffHost
	default:
		out.result = resRedirToHTTPS
	}
	out.pass = out.result == resRedirToHTTPS || out.result == resRedirNoHTTP || out.result == resRedirAllPreloaded
	return out
}

func evalXCTO(s *site) outcome {
	v, _ := s.autoH.get("x-content-type-options")
	switch {
	case v == "":
		return outcome{result: resXCTOMissing}
	case jsLower(jsTrim(jsPrefix(v, 256))) == "nosniff":
		return outcome{result: resXCTONosniff, pass: true}
	}
	return outcome{result: resXCTOInvalid}
}

func evalXFO(s *site, csp cspOutcome) outcome {
	out := outcome{result: resXFOMissing}
	if v, _ := s.autoH.get("x-frame-options"); v != "" {
		xfo := jsLower(jsTrim(jsPrefix(v, 1024)))
		switch {
		case xfo == "deny" || xfo == "sameorigin":
			out.result = resXFODenyOrSame
		case strings.HasPrefix(xfo, "allow-from"):
			out.result = resXFOAllowFrom
		default:
			out.result = resXFOInvalid
		}
	}
	// The Observatory looks for frame-ancestors in the combined policy, so
	// in algorithm version 4 one set in a meta element counts here, although
	// browsers ignore it there.
	if _, ok := csp.directives["frame-ancestors"]; ok {
		out.result = resXFOViaCSP
	}
	out.pass = out.result != resXFOMissing && out.result != resXFOInvalid
	return out
}

func evalCORP(s *site) outcome {
	out := outcome{result: resCORPMissing, pass: true}
	v, _ := s.autoH.get("cross-origin-resource-policy")
	switch jsLower(jsTrim(jsPrefix(v, 256))) {
	case "":
	case "same-site":
		out.result = resCORPSameSite
	case "same-origin":
		out.result = resCORPSameOrigin
	case "cross-origin":
		out.result = resCORPCrossOrigin
	default:
		out.result, out.pass = resCORPInvalid, false
	}
	return out
}

func evalCOOP(s *site) outcome {
	v, ok := s.autoH.get("cross-origin-opener-policy")
	if !ok || v == "" {
		return outcome{result: resCOOPMissing, pass: true}
	}
	tok, valid := parseSFToken(jsTrim(jsPrefix(v, 1024)))
	if !valid {
		return outcome{result: resCOOPInvalid}
	}
	switch tok {
	case "same-origin":
		return outcome{result: resCOOPSameOrigin, pass: true}
	case "same-origin-allow-popups":
		return outcome{result: resCOOPAllowPopups, pass: true}
	case "noopener-allow-popups":
		return outcome{result: resCOOPNoopenerPopups, pass: true}
	case "unsafe-none":
		return outcome{result: resCOOPUnsafeNone, pass: true}
	}
	return outcome{result: resCOOPInvalid}
}

func evalCOEP(s *site) outcome {
	v, ok := s.autoH.get("cross-origin-embedder-policy")
	if !ok || v == "" {
		return outcome{result: resCOEPMissing, pass: true}
	}
	tok, valid := parseSFToken(jsTrim(jsPrefix(v, 1024)))
	if !valid {
		return outcome{result: resCOEPInvalid}
	}
	switch tok {
	case "require-corp":
		return outcome{result: resCOEPRequireCorp, pass: true}
	case "credentialless":
		return outcome{result: resCOEPCredentialless, pass: true}
	case "unsafe-none":
		return outcome{result: resCOEPUnsafeNone, pass: true}
	}
	return outcome{result: resCOEPInvalid}
}
