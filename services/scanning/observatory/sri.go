package observatory

// sriOrder ranks the SRI results, best first; the worst seen wins.
var sriOrder = []string{
	resSRIAllSecure,
	resSRIExternalSecure,
	resSRIInsecure,
	resSRIMissingExternal,
	resSRIMissingInsecure,
	resSRINotHTML,
}

func sriWorse(next, cur string) string { return worseIn(sriOrder, next, cur) }

// sriScript is an external script with the result it earned on its own.
type sriScript struct {
	script
	result string
}

type sriOutcome struct {
	outcome
	offenders []sriScript
}

func evalSRI(s *site) sriOutcome {
	out := sriOutcome{}
	if !s.isHTML {
		out.result, out.pass = resSRINotHTML, true
		return out
	}
	count, scripts := parseScripts(boundBody(s.auto.Body))
	siteDomain, siteOK := registrableDomain(s.host, true)
	foreign := false
	for _, sc := range scripts {
		relativeOrigin, relativeProtocol, sameSite := false, false, false
		switch sc.src.kind {
		case srcRelativeProtocol:
			relativeProtocol, sameSite = true, true
		case srcFullURL:
			d, ok := registrableDomain(sc.src.host, true)
			if sc.src.scheme == "" {
				// Unparseable: tldts reads the host name out of the text.
				d, ok = registrableDomain(hostOfText(sc.src.text), true)
			}
			sameSite = d == siteDomain && ok == siteOK
		default:
			relativeOrigin, sameSite = true, true
		}
		secureOrigin := relativeOrigin || (sameSite && !relativeProtocol)
		if !secureOrigin {
			foreign = true
		}
		secureScheme := sc.src.scheme == "https" || (relativeOrigin && s.autoHTTPS)
		if secureOrigin {
			// A bonus even for SRI on the site's own scripts.
			if sc.integrity && secureScheme && out.result == "" {
				out.result = resSRIAllSecure
			}
			continue
		}
		var r string
		switch {
		case sc.integrity && !secureScheme:
			r = resSRIInsecure
		case !sc.integrity && secureScheme:
			r = resSRIMissingExternal
		case !sc.integrity:
			r = resSRIMissingInsecure
		}
		if r != "" {
			out.result = sriWorse(r, out.result)
			out.offenders = append(out.offenders, sriScript{script: sc, result: r})
		}
	}
	switch {
	case count == 0:
		out.result = resSRINoScripts
	case out.result != "":
	case foreign:
		out.result = resSRIExternalSecure
	default:
		out.result = resSRISameOrigin
	}
	switch out.result {
	case resSRIAllSecure, resSRIExternalSecure, resSRINotHTML, resSRISameOrigin, resSRINoScripts:
		out.pass = true
	}
	return out
}

// hostOfText pulls the host name out of "scheme://host/..." text.
func hostOfText(s string) string {
	for _, p := range []string{"https://", "http://"} {
		if len(s) >= len(p) && s[:len(p)] == p {
			s = s[len(p):]
			break
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '/', '?', '#', ':', '\\':
			return s[:i]
		}
	}
	return s
}
