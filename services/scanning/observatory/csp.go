package observatory

import (
	"errors"
	"sort"
	"strings"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// Bounds on the CSP text looked at.
const (
	maxPolicies          = 32
	maxDirectives        = 128
	maxSourcesPerEntry   = 256
	maxCombinedSourceLen = 4096
)

// dupWarnings is the pseudo-directive under which the Observatory records
// repeated report-uri/report-to directives.
const dupWarnings = "_observatory_duplicate_key_warnings"

// shortestPolicy: a policy shorter than "img-src" minus one character is
// invalid.
const shortestPolicy = len("img-src") - 1

var errCSP = errors.New("observatory: csp cannot be parsed")

// cspSet is a source list. Like the JavaScript Set it stands for, it is
// shared by reference: the Observatory's test deletes from the set stored in
// the parsed policy, and later checks see the deletion.
type cspSet map[string]bool

type cspPolicy map[string]cspSet

var allowedDuplicates = map[string]bool{"report-uri": true, "report-to": true}

var disallowedInMeta = []string{"frame-ancestors", "report-uri", "sandbox"}

type cspSource struct {
	source string
	index  int
	keep   bool
}

// parseCSP reads a list of policies (header values, then meta contents) the
// way the Observatory does: a source must be allowed by every policy to
// survive, a repeated directive within one policy is an error, and a
// source-list directive without sources means 'none'.
func parseCSP(list []string) (cspPolicy, error) {
	if len(list) > maxPolicies {
		list = list[:maxPolicies]
	}
	clean := make([]string, len(list))
	for i, s := range list {
		clean[i] = jsTrim(strings.NewReplacer("\r", "", "\n", "").Replace(s))
	}
	if len(clean) == 0 {
		return cspPolicy{}, nil
	}
	for _, s := range clean {
		if s == "" || jsLen(s) < shortestPolicy {
			return nil, errCSP
		}
	}
	coll := collate.New(language.English)
	less := func(a, b string) bool { return coll.CompareString(a, b) < 0 }

	csp := map[string][]*cspSource{}
	var order []string
	warnings := cspSet{}
	for pi, policy := range clean {
		seen := map[string]bool{}
		entries := strings.Split(policy, ";")
		if len(entries) > maxDirectives {
			entries = entries[:maxDirectives]
		}
		for _, entry := range entries {
			fields := jsFields(entry)
			if len(fields) == 0 {
				continue
			}
			directive := jsLower(fields[0])
			values := fields[1:]
			if len(values) > maxSourcesPerEntry {
				values = values[:maxSourcesPerEntry]
			}
			if seen[directive] {
				if !allowedDuplicates[directive] {
					return nil, errCSP
				}
				warnings[directive] = true
			} else {
				seen[directive] = true
			}
			keep := pi == 0
			var sources []*cspSource
			for _, raw := range values {
				sources = append(sources, &cspSource{source: jsLower(jsTrim(raw)), index: pi, keep: keep})
			}
			if len(values) == 0 && strings.HasSuffix(directive, "-src") {
				sources = append(sources, &cspSource{source: "'none'", index: pi, keep: keep})
			}
			var combined []*cspSource
			if pi == 0 {
				combined = sources
			} else {
				prev := csp[directive]
				if len(prev)+len(sources) > maxCombinedSourceLen {
					prev = nil
				}
				combined = append(append(make([]*cspSource, 0, len(prev)+len(sources)), prev...), sources...)
			}
			sort.SliceStable(combined, func(i, j int) bool { return less(combined[i].source, combined[j].source) })
			for i := 1; i < len(combined); i++ {
				cur, prev := combined[i], combined[i-1]
				// Within one policy a source that extends the one before it
				// adds nothing.
				if cur.index == prev.index && strings.HasPrefix(cur.source, prev.source) {
					cur.keep = false
				}
				// Across policies a source survives only when the other
				// policy allows it too.
				if cur.index != prev.index {
					match, err := pathPartMatch(prev.source, cur.source)
					if err != nil {
						return nil, err
					}
					if match {
						cur.keep = true
					}
				}
			}
			kept := make([]*cspSource, 0, len(combined))
			for _, s := range combined {
				if s.keep {
					kept = append(kept, s)
				}
			}
			if _, ok := csp[directive]; !ok {
				order = append(order, directive)
			}
			csp[directive] = kept
			if pi == 0 && len(list) > 1 {
				for _, s := range kept {
					s.keep = false
				}
			}
		}
	}
	out := make(cspPolicy, len(order)+1)
	for _, d := range order {
		set := cspSet{}
		for _, s := range csp[d] {
			set[s.source] = true
		}
		if len(set) == 0 {
			set["'none'"] = true
		}
		out[d] = set
	}
	if len(warnings) > 0 {
		out[dupWarnings] = warnings
	}
	return out, nil
}

// parseCSPMeta parses policies from <meta http-equiv> elements, where some
// directives have no effect.
func parseCSPMeta(list []string) (cspPolicy, error) {
	p, err := parseCSP(list)
	if err != nil {
		return nil, err
	}
	for _, d := range disallowedInMeta {
		delete(p, d)
	}
	return p, nil
}

// pathPartMatch compares two sources segment by segment, a trailing "/" on a
// matching a whole subtree; an error stands for the URIError JavaScript
// throws on a malformed escape.
func pathPartMatch(a, b string) (bool, error) {
	if a == "" {
		return true, nil
	}
	if a == "/" && b == "" {
		return true, nil
	}
	exact := !strings.HasSuffix(a, "/")
	pa := strings.Split(a, "/")
	pb := strings.Split(b, "/")
	if len(pa) > len(pb) {
		return false, nil
	}
	if exact && len(pa) != len(pb) {
		return false, nil
	}
	if !exact {
		pa = pa[:len(pa)-1]
	}
	for i := range pa {
		da, ok := decodeURIComponent(pa[i])
		if !ok {
			return false, errCSP
		}
		db, ok := decodeURIComponent(pb[i])
		if !ok {
			return false, errCSP
		}
		if da != db {
			return false, nil
		}
	}
	return true, nil
}

var dangerouslyBroad = []string{"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"}

func isBroad(s string) bool {
	for _, b := range dangerouslyBroad {
		if s == b {
			return true
		}
	}
	return false
}

func isBroadOrInline(s string) bool { return isBroad(s) || s == "'unsafe-inline'" || s == "data:" }

func hasNonceOrHash(set cspSet) bool {
	for s := range set {
		for _, p := range []string{"'sha256-", "'sha384-", "'sha512-", "'nonce-"} {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
	}
	return false
}

func anyOf(set cspSet, f func(string) bool) bool {
	for s := range set {
		if f(s) {
			return true
		}
	}
	return false
}

func isInsecureScheme(s string) bool {
	return strings.HasPrefix(s, "http:") || strings.HasPrefix(s, "ftp:")
}

// cspFlags records every weakness found, where the result names only the
// first in the Observatory's order.
type cspFlags struct {
	unsafeInline, insecureActive, unsafeEval, insecurePassive, unsafeInlineStyle, strictDynamicNoNonce bool
}

type cspOutcome struct {
	result string
	pass   bool
	flags  cspFlags
	// directives is the combined policy (header and meta) when the policy
	// was evaluated; the framing test looks for frame-ancestors in it.
	directives cspPolicy
}

func evalCSP(s *site) cspOutcome {
	if s.auto == nil {
		return cspOutcome{result: resCSPNotImplemented}
	}
	var header []string
	if v, ok := s.autoH.get("content-security-policy"); ok {
		header = []string{v}
	}
	meta := s.meta.csp
	csp, err := parseCSP(append(append([]string{}, header...), meta...))
	if err != nil {
		return cspOutcome{result: resCSPHeaderInvalid}
	}
	headerOnly, err := parseCSP(header)
	if err != nil {
		headerOnly = cspPolicy{}
	}
	metaOnly, err := parseCSPMeta(meta)
	if err != nil {
		metaOnly = cspPolicy{}
	}
	if len(headerOnly)+len(metaOnly) == 0 {
		// Report-Only has no effect in a meta element.
		if ro, _ := s.autoH.get("content-security-policy-report-only"); ro != "" {
			return cspOutcome{result: resCSPReportOnly}
		}
		return cspOutcome{result: resCSPNotImplemented}
	}

	out := cspOutcome{}
	set := func(r string) {
		if out.result == "" {
			out.result = r
		}
	}
	fallback := func(names ...string) cspSet {
		for _, n := range names {
			if v, ok := csp[n]; ok {
				return v
			}
		}
		return cspSet{"*": true}
	}
	objectSrc := fallback("object-src", "default-src")
	scriptSrc := fallback("script-src", "default-src")
	styleSrc := fallback("style-src", "default-src")

	// A nonce or hash makes browsers ignore 'unsafe-inline'.
	for _, list := range []cspSet{scriptSrc, styleSrc} {
		if hasNonceOrHash(list) && list["'unsafe-inline'"] {
			delete(list, "'unsafe-inline'")
		}
	}
	// 'strict-dynamic' with a nonce or hash makes browsers ignore host and
	// scheme sources, 'self' and 'unsafe-inline'; without one it is an error.
	if hasNonceOrHash(scriptSrc) && scriptSrc["'strict-dynamic'"] {
		for src := range scriptSrc {
			broad := false
			for _, b := range dangerouslyBroad {
				if strings.HasPrefix(src, b) {
					broad = true
					break
				}
			}
			if broad || src == "'self'" || src == "'unsafe-inline'" {
				delete(scriptSrc, src)
			}
		}
	} else if scriptSrc["'strict-dynamic'"] {
		set(resCSPHeaderInvalid)
		out.flags.strictDynamicNoNonce = true
	}

	var active []string
	for d, list := range csp {
		if d == "img-src" || d == "media-src" || d == "script-src" {
			continue
		}
		for src := range list {
			active = append(active, src)
		}
	}
	for src := range scriptSrc {
		active = append(active, src)
	}
	var passive []string
	for _, d := range []string{"img-src", "media-src"} {
		list, ok := csp[d]
		if !ok {
			list = csp["default-src"]
		}
		for src := range list {
			passive = append(passive, src)
		}
	}

	if anyOf(scriptSrc, isBroadOrInline) || anyOf(objectSrc, isBroad) {
		set(resCSPUnsafeInline)
		out.flags.unsafeInline = true
	}
	if s.autoHTTPS && containsFunc(active, isInsecureScheme) {
		set(resCSPInsecureScheme)
		out.flags.insecureActive = true
	}
	if scriptSrc["'unsafe-eval'"] || styleSrc["'unsafe-eval'"] {
		set(resCSPUnsafeEval)
		out.flags.unsafeEval = true
	}
	if s.autoHTTPS && containsFunc(passive, isInsecureScheme) {
		set(resCSPInsecurePassive)
		out.flags.insecurePassive = true
	}
	if anyOf(styleSrc, isBroadOrInline) {
		set(resCSPUnsafeInlineStyle)
		out.flags.unsafeInlineStyle = true
	}
	if def, ok := csp["default-src"]; ok && def["'none'"] && len(def) == 1 {
		set(resCSPDefaultNone)
	} else {
		set(resCSPNoUnsafe)
	}

	switch out.result {
	case resCSPNoUnsafe, resCSPDefaultNone, resCSPUnsafeInlineStyle, resCSPInsecurePassive:
		out.pass = true
		if _, ok := csp[dupWarnings]; ok {
			out.result = resCSPDuplicateDirectives
		}
	}
	delete(csp, dupWarnings)
	out.directives = csp
	return out
}

func containsFunc(list []string, f func(string) bool) bool {
	for _, s := range list {
		if f(s) {
			return true
		}
	}
	return false
}
