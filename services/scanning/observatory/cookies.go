package observatory

import (
	"net/url"
	"slices"
	"strings"
)

// cookie is one Set-Cookie line as tough-cookie (the Observatory's cookie
// jar) parses it in its strict mode.
type cookie struct {
	name     string
	domain   string // the Domain attribute, lower case, without a leading dot
	path     string // the Path attribute when it starts with "/"
	secure   bool
	httpOnly bool
	sameSite string // "strict", "lax", "none", or "" when absent or invalid
}

// parseSetCookie parses a Set-Cookie line; ok is false where tough-cookie
// drops the line (no "=" or an empty name, or a control character).
func parseSetCookie(line string) (c cookie, ok bool) {
	line = jsTrim(line)
	if line == "" {
		return c, false
	}
	pair, attrs, hasAttrs := strings.Cut(line, ";")
	for _, t := range []string{"\n", "\r", "\x00"} {
		if i := strings.Index(pair, t); i >= 0 {
			pair = pair[:i]
		}
	}
	eq := strings.IndexByte(pair, '=')
	if eq <= 0 {
		return c, false
	}
	c.name = jsTrim(pair[:eq])
	value := jsTrim(pair[eq+1:])
	if hasControl(c.name) || hasControl(value) {
		return c, false
	}
	if !hasAttrs {
		return c, true
	}
	for _, av := range strings.Split(jsTrim(attrs), ";") {
		av = jsTrim(av)
		if av == "" {
			continue
		}
		key, val, hasVal := strings.Cut(av, "=")
		key = jsLower(jsTrim(key))
		if hasVal {
			val = jsTrim(val)
		}
		switch key {
		case "domain":
			if d := strings.TrimPrefix(jsTrim(val), "."); d != "" {
				c.domain = jsLower(d)
			}
		case "path":
			if strings.HasPrefix(val, "/") {
				c.path = val
			} else {
				c.path = ""
			}
		case "secure":
			c.secure = true
		case "httponly":
			c.httpOnly = true
		case "samesite":
			switch v := jsLower(val); v {
			case "strict", "lax", "none":
				c.sameSite = v
			default:
				c.sameSite = ""
			}
		}
	}
	return c, true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

// invalidSameSite is the Observatory's check of a raw Set-Cookie line: a
// SameSite attribute (or a cookie named SameSite) without one of Lax,
// Strict or None.
func invalidSameSite(line string) bool {
	for _, p := range strings.Split(jsTrim(line), ";") {
		parts := strings.Split(jsTrim(p), "=")
		if jsLower(jsTrim(parts[0])) != "samesite" {
			continue
		}
		if len(parts) < 2 || parts[1] == "" {
			return true
		}
		switch jsLower(jsTrim(parts[1])) {
		case "lax", "strict", "none":
		default:
			return true
		}
	}
	return false
}

// prefixProblem reports how a __Host- or __Secure- cookie breaks the rules
// of its prefix (RFC 6265bis), or "".
func prefixProblem(c cookie) string {
	switch {
	case strings.HasPrefix(c.name, "__Secure-") && !c.secure:
		return "__Secure- cookie without the Secure attribute"
	case strings.HasPrefix(c.name, "__Host-") && !c.secure:
		return "__Host- cookie without the Secure attribute"
	case strings.HasPrefix(c.name, "__Host-") && c.domain != "":
		return "__Host- cookie with a Domain attribute"
	case strings.HasPrefix(c.name, "__Host-") && c.path != "/":
		return "__Host- cookie without Path=/"
	}
	return ""
}

// jarCookie is a cookie the jar kept, with where it came from.
type jarCookie struct {
	cookie
	line     string // the Set-Cookie line as received
	location string // the URL of the response that set it
}

// jar reproduces the tough-cookie jar the Observatory reads: it drops what
// the jar rejects (a Domain that is a public suffix or does not cover the
// host, a broken __Secure-/__Host- prefix) and keeps one cookie per name,
// domain and path, the last one set. Expired cookies stay in it.
type jar struct {
	keys    []string
	cookies map[string]*jarCookie
}

func (j *jar) set(decoded, raw, location string) {
	c, ok := parseSetCookie(decoded)
	if !ok {
		return
	}
	u, err := url.Parse(location)
	if err != nil {
		return
	}
	host := canonicalDomain(u.Hostname())
	domain, hostOnly := host, true
	if c.domain != "" {
		cdomain := canonicalDomain(c.domain)
		if !cookieDomainAllowed(cdomain) || !domainMatch(host, cdomain) {
			return
		}
		domain, hostOnly = cdomain, false
	}
	path := c.path
	if path == "" {
		// http-cookie-agent passes the request path with its query (the "?"
		// escaped) as the cookie's request URL.
		p := u.EscapedPath()
		if u.RawQuery != "" || u.ForceQuery {
			p += "%3F" + u.RawQuery
		}
		path = defaultCookiePath(p)
	}
	if strings.HasPrefix(c.name, "__Secure-") && !c.secure {
		return
	}
	if strings.HasPrefix(c.name, "__Host-") && !(c.secure && hostOnly && path == "/") {
		return
	}
	key := domain + "\x00" + path + "\x00" + c.name
	if j.cookies == nil {
		j.cookies = map[string]*jarCookie{}
	}
	if _, seen := j.cookies[key]; !seen {
		j.keys = append(j.keys, key)
	}
	j.cookies[key] = &jarCookie{cookie: c, line: raw, location: location}
}

func (j *jar) all() []*jarCookie {
	out := make([]*jarCookie, 0, len(j.keys))
	for _, k := range j.keys {
		c := j.cookies[k]
		if c.name == "" || c.name == "heroku-session-affinity" {
			continue
		}
		out = append(out, c)
	}
	return out
}

func defaultCookiePath(p string) string {
	if !strings.HasPrefix(p, "/") || p == "/" {
		return "/"
	}
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/"
	}
	return p[:i]
}

func isSession(name string) bool {
	n := jsLower(name)
	return strings.Contains(n, "login") || strings.Contains(n, "sess")
}

func isAntiCSRF(name string) bool { return strings.Contains(jsLower(name), "csrf") }

// cookieOrder ranks the failing results, least bad first; the worst seen
// wins.
var cookieOrder = []string{
	resCookiesInsecureHSTS,
	resCookiesInsecure,
	resCookiesSessionInsecureHSTS,
	resCookiesSameSiteInvalid,
	resCookiesAntiCSRFNoSameSite,
	resCookiesSessionNoHTTPOnly,
	resCookiesSessionInsecure,
}

func worse(next, cur string) string { return worseIn(cookieOrder, next, cur) }

// worseIn returns whichever of two results comes later in order (the worse
// one); cur == "" means none yet.
func worseIn(order []string, next, cur string) string {
	if cur == "" || slices.Index(order, next) > slices.Index(order, cur) {
		return next
	}
	return cur
}

type cookieOutcome struct {
	outcome
	jar  []*jarCookie
	hsts bool
}

func evalCookies(s *site, hsts bool) cookieOutcome {
	out := cookieOutcome{hsts: hsts}
	for _, line := range s.autoH.cookies {
		if invalidSameSite(line) {
			out.result = worse(resCookiesSameSiteInvalid, out.result)
		}
	}
	j := &jar{}
	for _, r := range s.jarFrom {
		hv := newHeaderView(r.Header)
		for i, line := range hv.cookies {
			j.set(line, hv.rawSet[i], r.URL)
		}
	}
	out.jar = j.all()
	if len(out.jar) == 0 {
		out.result, out.pass = resCookiesNotFound, true
		return out
	}
	missingSameSite := false
	for _, c := range out.jar {
		session, csrf := isSession(c.name), isAntiCSRF(c.name)
		if !c.secure && c.sameSite == "none" {
			out.result = worse(resCookiesSameSiteInvalid, out.result)
		}
		if !c.secure {
			if hsts {
				out.result = worse(resCookiesInsecureHSTS, out.result)
			} else {
				out.result = worse(resCookiesInsecure, out.result)
			}
		}
		if csrf && c.sameSite == "" {
			out.result = worse(resCookiesAntiCSRFNoSameSite, out.result)
		}
		if session && !c.secure {
			if hsts {
				out.result = worse(resCookiesSessionInsecureHSTS, out.result)
			} else {
				out.result = worse(resCookiesSessionInsecure, out.result)
			}
		}
		if session && !c.httpOnly {
			out.result = worse(resCookiesSessionNoHTTPOnly, out.result)
		}
		if c.sameSite == "" {
			missingSameSite = true
		}
	}
	switch {
	case out.result != "":
	case missingSameSite:
		out.result = resCookiesSecure
	default:
		out.result = resCookiesSecureSameSite
	}
	out.pass = out.result == resCookiesSecure || out.result == resCookiesSecureSameSite
	return out
}
