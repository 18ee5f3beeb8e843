package observatory

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

// fuzzHeader reads "Name: value" lines into a header map as given (names
// not canonicalised, so odd spellings reach the code too).
func fuzzHeader(blob string) http.Header {
	h := http.Header{}
	for _, line := range strings.Split(blob, "\n") {
		name, value, _ := strings.Cut(line, ":")
		h[name] = append(h[name], strings.TrimPrefix(value, " "))
	}
	return h
}

// fuzzChain reads "URL status" lines into an http chain.
func fuzzChain(blob string) []Response {
	var out []Response
	for _, line := range strings.Split(blob, "\n") {
		if line == "" {
			continue
		}
		u, st, _ := strings.Cut(line, " ")
		status, _ := strconv.Atoi(st)
		out = append(out, Response{URL: u, Status: status, Header: http.Header{"Set-Cookie": {st}, "Location": {st}}})
	}
	return out
}

func FuzzEvaluate(f *testing.F) {
	seeds := []struct {
		headers, body, chain string
		status               int
		cert                 bool
		origin               string
	}{
		{strings.Join(perfectHeaders, "\n"), htmlPage(scriptTag("https://cdn.other.example/a.js", true)), "http://site.example/ 301\nhttps://site.example/ 200", 200, true, ""},
		{"Content-Type: text/html\nContent-Security-Policy: default-src 'self'; script-src 'nonce-a' 'strict-dynamic' https:", htmlPage(cspMeta("img-src http:") + referrerMeta("origin")), "", 200, false, ""},
		{"content-security-policy: a\nContent-Security-Policy: default-src https://a/%zz\nSet-Cookie: __Host-x=1; Domain=..; Path", "<meta http-equiv=content-security-policy content=\"default-src https://a/%zz\">", "http://x 302", 401, true, "null"},
		{"Set-Cookie: a\x00b=1; SameSite\nStrict-Transport-Security: max-age=99999999999999999999999\nReferrer-Policy: ,,,", "<svg><script href=x></script></svg><noscript><script src=//x></script></noscript>", "http://[::1]/ 200", 200, true, ""},
		{"Access-Control-Allow-Origin: https://e.example\nAccess-Control-Allow-Credentials: true\nCross-Origin-Opener-Policy: same-origin; a=\"\\\"\"", "<script src=\"https:x\"></script><script src=\"https://exa mple/\"></script><script src=\"http://%zz/\"></script>", "", 200, true, "https://e.example"},
		{"X-Frame-Options: \xa0DENY\xa0\nContent-Type: application/xhtml+xml", "<template><meta http-equiv=content-security-policy content=\"default-src 'none'\"></template>", "http://a 301\nhttp://b 301\nhttps://c 200", 302, true, ""},
	}
	for _, s := range seeds {
		f.Add(s.headers, s.body, s.chain, s.status, s.cert, s.origin)
	}
	f.Fuzz(func(t *testing.T, headers, body, chainBlob string, status int, cert bool, origin string) {
		for _, version := range []int{4, 6} {
			in := Input{
				HTTPChain:  fuzzChain(chainBlob),
				CertValid:  cert,
				SentOrigin: origin,
				Preloaded:  preloadList,
				Options:    Options{Version: version},
			}
			if status != 0 {
				in.Final = &Response{URL: "https://site.example/", Status: status, Header: fuzzHeader(headers), Body: []byte(body)}
			}
			in.HTTPSChain = []Response{{URL: "https://site.example/x?y=1", Status: 302, Header: fuzzHeader(headers)}}
			o := evaluate(in)
			if o.Grade == "" {
				if o.Tests != nil || o.Score != 0 {
					t.Fatalf("ungraded outcome with tests: %+v", o)
				}
				continue
			}
			if o.Score < 0 || Grade(o.Score) != o.Grade {
				t.Fatalf("score %d grade %q", o.Score, o.Grade)
			}
			if want := map[int]int{4: 10, 6: 12}[version]; len(o.Tests) != want {
				t.Fatalf("%d tests, want %d", len(o.Tests), want)
			}
			for _, tt := range o.Tests {
				if _, ok := results[tt.Result]; !ok {
					t.Fatalf("unknown result %q", tt.Result)
				}
			}
			for _, fd := range o.Findings {
				if !slices.Contains(finding.IDs, fd.CheckID) {
					t.Fatalf("unknown check id %q", fd.CheckID)
				}
			}
		}
	})
}

func FuzzParseCSP(f *testing.F) {
	for _, s := range []string{
		"default-src 'none'", "script-src 'self'\x1escript-src 'self' https://a/", "a", "", ";;;",
		"default-src https://a/%zz\x1edefault-src https://a/%zz", "report-uri /a; report-uri /b\x1ereport-uri /c",
		"script-src\xa0'nonce-x' 'strict-dynamic'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, blob string) {
		list := strings.Split(blob, "\x1e")
		p, err := parseCSP(list)
		if err == nil {
			for d, set := range p {
				if len(set) == 0 {
					t.Fatalf("directive %q with no sources", d)
				}
			}
		}
		_, _ = parseCSPMeta(list)
	})
}

func FuzzParseSetCookie(f *testing.F) {
	for _, s := range []string{
		"sessionid=1; Secure; HttpOnly; SameSite=Lax", "a", "=b", "a=1;;; Domain=.; Path", "__Host-x=1; Secure; Path=/",
		"a=1\r\nSet-Cookie: b=2", "SameSite=Lax=1",
	} {
		f.Add(s, "https://Site.Example/a/b?c=d/e")
	}
	f.Fuzz(func(t *testing.T, line, location string) {
		c, ok := parseSetCookie(line)
		if ok && hasControl(c.name) {
			t.Fatalf("control character in name %q", c.name)
		}
		_ = invalidSameSite(line)
		_ = prefixProblem(c)
		j := &jar{}
		j.set(line, line, location)
		_ = j.all()
	})
}

func FuzzParseHSTS(f *testing.F) {
	for _, s := range []string{"max-age=31536000; includeSubDomains; preload", "max-age=", "max-age=-0", "max-age=1e9", "", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		switch r := parseHSTS(v); r {
		case resHSTSLong, resHSTSShort, resHSTSInvalid:
		default:
			t.Fatalf("result %q", r)
		}
	})
}

func FuzzClassifyScriptSrc(f *testing.F) {
	for _, s := range []string{
		"/a.js", "//cdn.example/a.js", "https://cdn.example/a.js", "HTTPS:cdn.example", "https://[::1]:8443/", "https://u@h:99999/",
		"http://%e2%82%ac.example/", "https://xn--bcher-kva.example/", "https://bücher.example/", "#x", "  //x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s := classifyScriptSrc(raw)
		if s.kind == srcFullURL && s.scheme != "" {
			_, _ = registrableDomain(s.host, true)
		}
		_, _ = registrableDomain(raw, true)
		_, _ = registrableDomain(raw, false)
		_ = canonicalDomain(raw)
		_ = cookieDomainAllowed(canonicalDomain(raw))
	})
}

func FuzzParseSFToken(f *testing.F) {
	for _, s := range []string{"same-origin", `same-origin; report-to="x"`, "a;b=?1;c=1.5;d=:YQ==:", "-1.2345", `"\`, "*a/b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if tok, ok := parseSFToken(v); ok && tok == "" {
			t.Fatalf("empty token from %q", v)
		}
	})
}
