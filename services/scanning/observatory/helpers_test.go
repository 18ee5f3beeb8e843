package observatory

import (
	"net/http"
	"strings"
	"testing"
)

// spec describes a fabricated site compactly. Unless noted, the site is
// https://site.example/ answering 200 with a valid certificate and nothing
// on plain HTTP.
type spec struct {
	host      string
	status    int
	headers   []string // "Name: value", in order; repeats allowed
	body      string
	httpChain []hop // the http:// request, first to last
	httpsHops []hop // redirects of the https:// request before the final response
	certBad   bool
	noHTTPS   bool // HTTPS gave no response; the last http hop is graded
	origin    string
	version   int
}

type hop struct {
	url     string
	status  int
	headers []string
}

func header(lines []string) http.Header {
	h := http.Header{}
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		h.Add(name, strings.TrimLeft(value, " "))
	}
	return h
}

func (h hop) response() Response {
	st := h.status
	if st == 0 {
		st = 200
	}
	return Response{URL: h.url, Status: st, Header: header(h.headers)}
}

// preloadList stands in for the HSTS preload list: preloaded.example with
// includeSubDomains, exact.example without.
func preloadList(host string) bool {
	switch host {
	case "preloaded.example", "exact.example", "www.preloaded.example":
		return true
	}
	return strings.HasSuffix(host, ".preloaded.example")
}

func (s spec) input() Input {
	host := s.host
	if host == "" {
		host = "site.example"
	}
	in := Input{
		Host:       host,
		CertValid:  !s.certBad,
		SentOrigin: s.origin,
		Preloaded:  preloadList,
		Options:    Options{Version: s.version},
	}
	for _, h := range s.httpChain {
		in.HTTPChain = append(in.HTTPChain, h.response())
	}
	st := s.status
	if st == 0 {
		st = 200
	}
	final := Response{URL: "https://" + host + "/", Status: st, Header: header(s.headers), Body: []byte(s.body)}
	if s.noHTTPS {
		if len(in.HTTPChain) == 0 {
			in.HTTPChain = []Response{{URL: "http://" + host + "/"}}
		}
		last := &in.HTTPChain[len(in.HTTPChain)-1]
		last.Status, last.Header, last.Body = st, final.Header, final.Body
		return in
	}
	for _, h := range s.httpsHops {
		in.HTTPSChain = append(in.HTTPSChain, h.response())
	}
	if len(in.HTTPSChain) > 0 {
		final.URL = "https://" + host + "/final"
		in.HTTPSChain = append(in.HTTPSChain, final)
	}
	in.Final = &final
	return in
}

func (s spec) evaluate(t *testing.T) Outcome {
	t.Helper()
	return Evaluate(s.input())
}

func testResult(t *testing.T, o Outcome, name string) Test {
	t.Helper()
	for _, tt := range o.Tests {
		if tt.Name == name {
			return tt
		}
	}
	t.Fatalf("no %s test in %+v", name, o.Tests)
	return Test{}
}

// resultCase is one named case of a single test's table.
type resultCase struct {
	name string
	site spec
	want string
}

func runResultCases(t *testing.T, test string, cases []resultCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case name %q", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := c.site.evaluate(t)
			got := testResult(t, o, test)
			if got.Result != c.want {
				t.Errorf("%s = %q, want %q", test, got.Result, c.want)
			}
			if got.Modifier != modifier(o.Version, c.want) {
				t.Errorf("modifier = %d, want %d", got.Modifier, modifier(o.Version, c.want))
			}
			if got.Description == "" {
				t.Errorf("no description for %q", got.Result)
			}
		})
	}
}

// html wraps markup in a page served as text/html.
func htmlPage(inner string) string {
	return "<!doctype html><html><head>" + inner + "</head><body></body></html>"
}
