package observatory

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// whatwgIDNA approximates the URL Standard's domain-to-ASCII.
var whatwgIDNA = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.CheckHyphens(false),
	idna.StrictDomainName(false),
	idna.VerifyDNSLength(false),
)

func isIP(host string) bool {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	_, err := netip.ParseAddr(h)
	return err == nil
}

// validHostname is tldts's shallow check: 1-255 characters, labels of at
// most 63, letters, digits, "-", "_" and non-ASCII only, no empty label and
// no label starting or ending with "-".
func validHostname(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= utf8.RuneSelf) {
				return false
			}
		}
	}
	return true
}

// registrableDomain is tldts's domain of a host: the public suffix plus one
// label. With icannOnly (tldts's default, used by the SRI test) private
// suffixes such as github.io are not suffixes. ok is false where tldts gives
// null: an IP address, an invalid host name, or a host that is itself a
// public suffix.
func registrableDomain(host string, icannOnly bool) (string, bool) {
	h := strings.ToLower(host)
	if isIP(h) {
		return "", false
	}
	h = strings.TrimSuffix(h, ".")
	if !validHostname(h) {
		return "", false
	}
	labels := strings.Split(h, ".")
	suffixLabels := 1 // the default rule "*"
	if icannOnly {
		for k := 1; k <= len(labels); k++ {
			s := strings.Join(labels[len(labels)-k:], ".")
			if ps, icann := publicsuffix.PublicSuffix(s); ps == s && icann {
				suffixLabels = k
			}
		}
	} else {
		ps, _ := publicsuffix.PublicSuffix(h)
		suffixLabels = strings.Count(ps, ".") + 1
	}
	if suffixLabels >= len(labels) {
		return "", false
	}
	return strings.Join(labels[len(labels)-suffixLabels-1:], "."), true
}

// canonicalDomain is tough-cookie's canonical form of a domain.
func canonicalDomain(d string) string {
	d = strings.TrimPrefix(jsTrim(d), ".")
	if strings.Trim(d, "[]") != d || isIP(d) {
		return strings.ToLower(strings.Trim(d, "[]"))
	}
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf || d[i] == 0 {
			if a, err := whatwgIDNA.ToASCII(d); err == nil {
				return a
			}
			return ""
		}
	}
	return strings.ToLower(d)
}

var specialUseDomains = map[string]bool{"local": true, "example": true, "invalid": true, "localhost": true, "test": true}

// cookieDomainAllowed is tough-cookie's public-suffix check of a Domain
// attribute (special-use names allowed, private suffixes counted).
func cookieDomainAllowed(cdomain string) bool {
	labels := strings.Split(cdomain, ".")
	tld := labels[len(labels)-1]
	if specialUseDomains[tld] && (len(labels) > 1 || tld == "localhost" || tld == "invalid") {
		return true
	}
	if _, ok := registrableDomain(cdomain, false); ok {
		return true
	}
	return isIP(cdomain) && strings.Contains(cdomain, ":")
}

// domainMatch is RFC 6265's domain-match of a request host and a cookie
// domain.
func domainMatch(host, cdomain string) bool {
	if host == cdomain {
		return true
	}
	if cdomain == "" || !strings.HasSuffix(host, cdomain) {
		return false
	}
	i := len(host) - len(cdomain)
	return i > 0 && host[i-1] == '.' && !isIP(host)
}

// scriptSrcKind classifies a <script src> the way the Observatory's SRI
// test does, after jsdom reflected the attribute against about:blank.
type scriptSrcKind int

const (
	srcRelativeOrigin   scriptSrcKind = iota // a path, or a URL of another scheme
	srcRelativeProtocol                      // "//host/..."
	srcFullURL                               // http: or https:
)

type scriptSrc struct {
	kind   scriptSrcKind
	text   string // what script.src returns
	host   string // the normalized host of a full URL, when it parsed
	scheme string // "http" or "https" for a full URL that parsed, else ""
}

// classifyScriptSrc emulates HTMLScriptElement.src in a document without a
// URL: an absolute URL comes back normalized, anything else that fails to
// parse comes back as written, and the Observatory's regular expressions
// then look at that text.
func classifyScriptSrc(raw string) scriptSrc {
	s := strings.TrimFunc(raw, func(r rune) bool { return r <= 0x20 })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
	if scheme, rest, ok := splitScheme(s); ok {
		if scheme != "http" && scheme != "https" {
			return scriptSrc{kind: srcRelativeOrigin, text: s}
		}
		if host, ok := parseSpecialHost(rest); ok {
			return scriptSrc{kind: srcFullURL, text: scheme + "://" + host, host: host, scheme: scheme}
		}
	} else if strings.HasPrefix(s, "#") {
		return scriptSrc{kind: srcRelativeOrigin, text: "about:blank" + s}
	}
	// Parsing failed: the attribute comes back as written.
	switch {
	case len(raw) > 2 && strings.HasPrefix(raw, "//") && raw[2] != '/':
		return scriptSrc{kind: srcRelativeProtocol, text: raw}
	case strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://"):
		// The Observatory's scan fails outright on such a URL (new URL
		// throws); we count it as an external script of unknown scheme.
		return scriptSrc{kind: srcFullURL, text: raw}
	}
	return scriptSrc{kind: srcRelativeOrigin, text: raw}
}

func splitScheme(s string) (scheme, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return strings.ToLower(s[:i]), s[i+1:], true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// parseSpecialHost reads the host of an http(s) URL after "scheme:" as the
// URL Standard does (any run of slashes or backslashes first), or reports
// that the URL does not parse.
func parseSpecialHost(rest string) (string, bool) {
	rest = strings.TrimLeft(rest, "/\\")
	end := strings.IndexAny(rest, "/\\?#")
	if end < 0 {
		end = len(rest)
	}
	auth := rest[:end]
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		auth = auth[i+1:]
	}
	host, port := auth, ""
	if strings.HasPrefix(auth, "[") {
		i := strings.IndexByte(auth, ']')
		if i < 0 {
			return "", false
		}
		host, port = auth[:i+1], auth[i+1:]
		if port != "" && port[0] != ':' {
			return "", false
		}
		port = strings.TrimPrefix(port, ":")
		if _, err := netip.ParseAddr(host[1 : len(host)-1]); err != nil {
			return "", false
		}
	} else if i := strings.LastIndexByte(auth, ':'); i >= 0 {
		host, port = auth[:i], auth[i+1:]
	}
	if len(port) > 5 || strings.TrimLeft(port, "0123456789") != "" {
		return "", false
	}
	if host == "" {
		return "", false
	}
	if strings.HasPrefix(host, "[") {
		return strings.ToLower(host), true
	}
	decoded, ok := percentDecodeLoose(host)
	if !ok {
		return "", false
	}
	ascii := strings.ToLower(decoded)
	for i := 0; i < len(decoded); i++ {
		if decoded[i] >= utf8.RuneSelf {
			a, err := whatwgIDNA.ToASCII(decoded)
			if err != nil {
				return "", false
			}
			ascii = a
			break
		}
	}
	if ascii == "" || strings.ContainsAny(ascii, "\x00\t\n\r #%/:<>?@[\\]^|\x7f") || hasControl(ascii) {
		return "", false
	}
	return ascii, true
}

// percentDecodeLoose decodes %XX escapes, leaving malformed ones as they are.
func percentDecodeLoose(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	out := b.String()
	return out, utf8.ValidString(out)
}
