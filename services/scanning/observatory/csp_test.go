package observatory

import (
	"reflect"
	"sort"
	"testing"
)

func cspHeader(v string) string { return "Content-Security-Policy: " + v }

func cspMeta(v string) string {
	return `<meta http-equiv="Content-Security-Policy" content="` + v + `">`
}

// The expected results were checked against @mdn/mdn-http-observatory 1.4.8.
var cspCases = []resultCase{
	{"missing", spec{}, resCSPNotImplemented},
	{"report only", spec{headers: []string{"Content-Security-Policy-Report-Only: default-src 'none'"}}, resCSPReportOnly},
	{"report only empty", spec{headers: []string{"Content-Security-Policy-Report-Only:"}}, resCSPNotImplemented},
	{"report only in meta is ignored", spec{
		headers: []string{"Content-Type: text/html"},
		body:    htmlPage(`<meta http-equiv="Content-Security-Policy-Report-Only" content="default-src 'none'">`),
	}, resCSPNotImplemented},
	{"empty header", spec{headers: []string{"Content-Security-Policy:"}}, resCSPHeaderInvalid},
	{"too short", spec{headers: []string{cspHeader("img-s")}}, resCSPHeaderInvalid},
	{"repeated directive", spec{headers: []string{cspHeader("default-src 'none'; script-src 'self'; script-src 'none'")}}, resCSPHeaderInvalid},
	{"repeated directive differing in case", spec{headers: []string{cspHeader("default-src 'none'; Script-Src 'self'; script-src 'none'")}}, resCSPHeaderInvalid},
	{"repeated report-uri", spec{headers: []string{cspHeader("default-src 'none'; report-uri /a; report-uri /b")}}, resCSPDuplicateDirectives},
	{"repeated report-to on a passive-only policy", spec{headers: []string{cspHeader("default-src 'self'; img-src http:; report-to a; report-to b")}}, resCSPDuplicateDirectives},
	{"default-src none", spec{headers: []string{cspHeader("default-src 'none'")}}, resCSPDefaultNone},
	{"directive names are case-insensitive", spec{headers: []string{cspHeader("DEFAULT-SRC 'NONE'")}}, resCSPDefaultNone},
	{"default-src none plus more sources", spec{headers: []string{cspHeader("default-src 'none' 'self'")}}, resCSPNoUnsafe},
	{"default-src self", spec{headers: []string{cspHeader("default-src 'self'")}}, resCSPNoUnsafe},
	{"script-src without object-src", spec{headers: []string{cspHeader("script-src 'self'")}}, resCSPUnsafeInline},
	{"unsafe-inline in script-src", spec{headers: []string{cspHeader("default-src 'self'; script-src 'self' 'unsafe-inline'")}}, resCSPUnsafeInline},
	{"unsafe-inline through default-src", spec{headers: []string{cspHeader("default-src 'self' 'unsafe-inline'")}}, resCSPUnsafeInline},
	{"nonce neutralises unsafe-inline", spec{headers: []string{cspHeader("default-src 'self'; script-src 'nonce-abc' 'unsafe-inline'")}}, resCSPNoUnsafe},
	{"hash neutralises unsafe-inline in style-src", spec{headers: []string{cspHeader("default-src 'self'; style-src 'sha256-abc' 'unsafe-inline'")}}, resCSPNoUnsafe},
	{"strict-dynamic with nonce drops broad sources", spec{headers: []string{cspHeader("default-src 'none'; script-src 'nonce-abc' 'strict-dynamic' https: 'self' 'unsafe-inline'")}}, resCSPDefaultNone},
	{"strict-dynamic without nonce", spec{headers: []string{cspHeader("default-src 'none'; script-src 'strict-dynamic'")}}, resCSPHeaderInvalid},
	{"data: in script-src", spec{headers: []string{cspHeader("default-src 'self'; script-src 'self' data:")}}, resCSPUnsafeInline},
	{"wildcard in script-src", spec{headers: []string{cspHeader("default-src 'self'; script-src *")}}, resCSPUnsafeInline},
	{"https: in object-src", spec{headers: []string{cspHeader("default-src 'self'; object-src https:")}}, resCSPUnsafeInline},
	{"http source in connect-src", spec{headers: []string{cspHeader("default-src 'self'; connect-src http://api.example")}}, resCSPInsecureScheme},
	{"ftp source in script-src", spec{headers: []string{cspHeader("default-src 'self'; script-src ftp://cdn.example")}}, resCSPInsecureScheme},
	{"http image source", spec{headers: []string{cspHeader("default-src 'self'; img-src http://img.example")}}, resCSPInsecurePassive},
	{"http media through default-src", spec{headers: []string{cspHeader("default-src 'self' http://media.example; script-src 'self'")}}, resCSPInsecureScheme},
	{"unsafe-eval", spec{headers: []string{cspHeader("default-src 'self'; script-src 'self' 'unsafe-eval'")}}, resCSPUnsafeEval},
	{"unsafe-inline in style-src only", spec{headers: []string{cspHeader("default-src 'self'; style-src 'self' 'unsafe-inline'")}}, resCSPUnsafeInlineStyle},
	{"broad style-src", spec{headers: []string{cspHeader("default-src 'none'; style-src https:")}}, resCSPUnsafeInlineStyle},
	{"empty source list means none", spec{headers: []string{cspHeader("default-src 'self'; script-src")}}, resCSPNoUnsafe},
	{"meta policy", spec{headers: []string{"Content-Type: text/html"}, body: htmlPage(cspMeta("default-src 'none'"))}, resCSPDefaultNone},
	{"meta with charset parameter", spec{headers: []string{"Content-Type: text/html; charset=utf-8"}, body: htmlPage(cspMeta("default-src 'none'"))}, resCSPDefaultNone},
	{"meta ignored unless the type is exactly text/html", spec{headers: []string{"Content-Type: Text/HTML"}, body: htmlPage(cspMeta("default-src 'none'"))}, resCSPNotImplemented},
	{"meta with only header-only directives", spec{headers: []string{"Content-Type: text/html"}, body: htmlPage(cspMeta("frame-ancestors 'none'"))}, resCSPNotImplemented},
	{"meta in noscript is text", spec{headers: []string{"Content-Type: text/html"}, body: htmlPage("<noscript>" + cspMeta("default-src 'none'") + "</noscript>")}, resCSPNotImplemented},
	{"meta in template is unseen", spec{headers: []string{"Content-Type: text/html"}, body: htmlPage("<template>" + cspMeta("default-src 'none'") + "</template>")}, resCSPNotImplemented},
	{"meta with empty content is skipped", spec{headers: []string{"Content-Type: text/html", cspHeader("default-src 'none'")}, body: htmlPage(cspMeta(""))}, resCSPDefaultNone},
	{"two headers join into one policy", spec{headers: []string{cspHeader("default-src 'none'"), cspHeader("frame-ancestors 'none'")}}, resCSPNoUnsafe},
	{"meta narrows header", spec{
		headers: []string{"Content-Type: text/html", cspHeader("default-src 'self'; frame-ancestors 'none'")},
		body:    htmlPage(cspMeta("script-src 'self' https://a.example")),
	}, resCSPNoUnsafe},
	{"meta tightens unsafe header", spec{
		headers: []string{"Content-Type: text/html", cspHeader("default-src 'self'; script-src 'self' 'unsafe-inline'")},
		body:    htmlPage(cspMeta("default-src 'self'; script-src 'self'")),
	}, resCSPNoUnsafe},
	{"malformed escape compared across policies", spec{
		headers: []string{"Content-Type: text/html", cspHeader("default-src https://a.example/%zz")},
		body:    htmlPage(cspMeta("default-src https://a.example/%zz")),
	}, resCSPHeaderInvalid},
	{"insecure sources are fine over plain http", spec{noHTTPS: true, headers: []string{cspHeader("default-src 'self' http://cdn.example")}}, resCSPNoUnsafe},
}

func TestCSP(t *testing.T) {
	t.Parallel()
	runResultCases(t, NameCSP, cspCases)
}

func sortedSources(p cspPolicy) map[string][]string {
	out := map[string][]string{}
	for d, set := range p {
		var l []string
		for s := range set {
			l = append(l, s)
		}
		sort.Strings(l)
		out[d] = l
	}
	return out
}

func TestParseCSP(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		list    []string
		want    map[string][]string
		wantErr bool
	}{
		{"empty list", nil, map[string][]string{}, false},
		{"sources lower-cased", []string{"Script-Src 'SELF' HTTPS://A.example"}, map[string][]string{"script-src": {"'self'", "https://a.example"}}, false},
		{"line breaks removed", []string{"default-src\r\n 'self'"}, map[string][]string{"default-src": {"'self'"}}, false},
		{"longer source of one policy dropped", []string{"script-src https://a.example https://a.example/x"}, map[string][]string{"script-src": {"https://a.example"}}, false},
		{"empty source list is none", []string{"img-src; upgrade-insecure-requests"}, map[string][]string{"img-src": {"'none'"}, "upgrade-insecure-requests": {"'none'"}}, false},
		{"second policy intersects", []string{"script-src 'self' https://a.example", "script-src 'self'"}, map[string][]string{"script-src": {"'self'"}}, false},
		{"directive only in second policy is none", []string{"default-src 'self'", "script-src 'self'"}, map[string][]string{"default-src": {"'self'"}, "script-src": {"'none'"}}, false},
		{"path subtree matches", []string{"script-src https://a.example/js/", "script-src https://a.example/js/app.js"}, map[string][]string{"script-src": {"https://a.example/js/app.js"}}, false},
		{"repeated report-uri keeps the last", []string{"report-uri /a; report-uri /b"}, map[string][]string{"report-uri": {"/b"}, dupWarnings: {"report-uri"}}, false},
		{"repeated directive", []string{"img-src 'self'; IMG-SRC 'none'"}, nil, true},
		{"blank policy", []string{"default-src 'self'", "  "}, nil, true},
		{"no-break space separates", []string{latin1("script-src\xa0'self'")}, map[string][]string{"script-src": {"'self'"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseCSP(c.list)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if g := sortedSources(got); !reflect.DeepEqual(g, c.want) {
				t.Errorf("got %v, want %v", g, c.want)
			}
		})
	}
}

func TestPathPartMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		a, b    string
		want    bool
		wantErr bool
	}{
		{"empty matches all", "", "x", true, false},
		{"slash matches empty", "/", "", true, false},
		{"equal", "https://a/x", "https://a/x", true, false},
		{"subtree", "https://a/x/", "https://a/x/y", true, false},
		{"exact differs in length", "https://a/x", "https://a/x/y", false, false},
		{"escapes decoded", "https://a/%41", "https://a/A", true, false},
		{"malformed escape", "https://a/%zz", "https://a/%zz", false, true},
		{"escape not UTF-8", "https://a/%ff", "https://a/%ff", false, true},
		{"mismatch stops before a bad escape", "https://a/x/%zz", "https://a/y/%zz", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := pathPartMatch(c.a, c.b)
			if got != c.want || (err != nil) != c.wantErr {
				t.Errorf("pathPartMatch(%q, %q) = %v, %v; want %v, err %v", c.a, c.b, got, err, c.want, c.wantErr)
			}
		})
	}
}
