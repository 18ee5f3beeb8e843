package observatory

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Bounds on the HTML looked at.
const (
	maxBodyBytes   = 2 << 20
	maxHTMLNodes   = 200_000
	maxMetaValues  = 64
	maxScriptsSeen = 1024
	maxAttrBytes   = 16 << 10
)

func boundBody(b []byte) []byte {
	if len(b) > maxBodyBytes {
		return b[:maxBodyBytes]
	}
	return b
}

// metaHeaders holds what the Observatory reads from <meta> elements.
type metaHeaders struct {
	csp      []string // content of each <meta http-equiv="Content-Security-Policy">
	cspTags  []string // those elements, rendered for evidence
	referrer []string // content of the last <meta name="referrer">, if any
}

// attr returns the first value of an attribute, as getAttribute does.
func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			v := a.Val
			if len(v) > maxAttrBytes {
				v = v[:maxAttrBytes]
			}
			return strings.ToValidUTF8(v, "\uFFFD"), true
		}
	}
	return "", false
}

// walk visits elements in document order, not descending into <template>
// (querySelectorAll does not see template contents), and stops after
// maxHTMLNodes nodes.
func walk(nodes []*html.Node, visit func(*html.Node) bool) {
	budget := maxHTMLNodes
	var rec func(n *html.Node) bool
	rec = func(n *html.Node) bool {
		for ; n != nil; n = n.NextSibling {
			budget--
			if budget < 0 {
				return false
			}
			if n.Type == html.ElementNode {
				if !visit(n) {
					return false
				}
				if n.DataAtom == atom.Template && n.Namespace == "" {
					continue
				}
			}
			if !rec(n.FirstChild) {
				return false
			}
		}
		return true
	}
	for _, n := range nodes {
		// Fragment roots are siblings already; visit each once.
		next := n.NextSibling
		n.NextSibling = nil
		ok := rec(n)
		n.NextSibling = next
		if !ok {
			return
		}
	}
}

// parseMeta finds the policies set in <meta> elements. The Observatory
// parses the page as a fragment in a <template> with scripting on (so
// <noscript> content is text) and takes a CSP from http-equiv with a
// non-empty content, and a referrer policy from name="referrer" (the last
// one wins).
func parseMeta(body []byte) metaHeaders {
	var m metaHeaders
	ctx := &html.Node{Type: html.ElementNode, Data: "template", DataAtom: atom.Template}
	nodes, err := html.ParseFragment(bytes.NewReader(body), ctx)
	if err != nil {
		return m
	}
	walk(nodes, func(n *html.Node) bool {
		if n.Data != "meta" {
			return true
		}
		equiv, hasEquiv := attr(n, "http-equiv")
		content, hasContent := attr(n, "content")
		if hasEquiv && hasContent {
			if content != "" && jsLower(jsTrim(equiv)) == "content-security-policy" && len(m.csp) < maxMetaValues {
				m.csp = append(m.csp, content)
				m.cspTags = append(m.cspTags, `<meta http-equiv="`+equiv+`" content="`+content+`">`)
			}
		} else if name, ok := attr(n, "name"); ok && jsLower(jsTrim(name)) == "referrer" {
			if content != "" {
				m.referrer = []string{content}
			}
		}
		return true
	})
	return m
}

// script is a <script src> the SRI test looks at.
type script struct {
	src       scriptSrc
	raw       string // the src attribute as written
	integrity bool
}

// parseScripts parses the page as jsdom does (a full document, scripting
// off, so <noscript> content is markup) and returns how many elements
// querySelectorAll("script") finds and the HTML ones with a src.
func parseScripts(body []byte) (count int, scripts []script) {
	doc, err := html.ParseWithOptions(bytes.NewReader(body), html.ParseOptionEnableScripting(false))
	if err != nil {
		return 0, nil
	}
	walk([]*html.Node{doc}, func(n *html.Node) bool {
		if n.Data != "script" {
			return true
		}
		count++
		// Only an HTML script has a src property; an SVG one has href.
		if n.Namespace != "" || len(scripts) >= maxScriptsSeen {
			return true
		}
		raw, _ := attr(n, "src")
		if raw == "" {
			return true
		}
		integrity, _ := attr(n, "integrity")
		scripts = append(scripts, script{src: classifyScriptSrc(raw), raw: raw, integrity: integrity != ""})
		return true
	})
	return count, scripts
}
