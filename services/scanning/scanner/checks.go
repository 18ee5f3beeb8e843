package scanner

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/pythorix/pythorix/platform/redact"
	"github.com/pythorix/pythorix/services/scanning/finding"
	"github.com/pythorix/pythorix/services/scanning/observatory"
)

// probe runs the checks beyond the Observatory's: exposed files, verbose
// errors, version disclosure, mixed content and security.txt. base is the
// origin the site answered on (https when it could).
func (r *run) probe(ctx context.Context, base string, in observatory.Input, progress Progress) ([]finding.Finding, error) {
	var out []finding.Finding
	final := in.Final
	if final == nil && len(in.HTTPChain) > 0 {
		final = &in.HTTPChain[len(in.HTTPChain)-1]
	}
	if final != nil {
		out = append(out, disclosure(final)...)
		out = append(out, verboseError(final)...)
		if in.Final != nil {
			out = append(out, mixedContent(in.Final)...)
		}
	}

	// A path that cannot exist shows how the site answers for one: what a
	// "found" file must differ from (soft 404s).
	missing, _ := r.get(ctx, r.client, base+"/pythorix-"+randomName()+".txt", "", probeBody)
	if missing != nil {
		out = append(out, verboseError(missing)...)
		if final == nil || missing.Header.Get("Server") != final.Header.Get("Server") {
			out = append(out, disclosure(missing)...)
		}
	}
	progress(65)
	if git, _ := r.get(ctx, r.client, base+"/.git/HEAD", "", 4<<10); git != nil && !soft404(git, missing) {
		if line, ok := gitHead(git); ok {
			out = append(out, finding.Finding{CheckID: finding.ExposedGit, Location: git.URL, Subject: "/.git/HEAD",
				Detail:   "The Git repository's HEAD is served: the whole repository, history included, can likely be downloaded.",
				Evidence: line})
		}
	}
	progress(75)
	if env, _ := r.get(ctx, r.client, base+"/.env", "", 16<<10); env != nil && !soft404(env, missing) {
		if keys, ok := dotenv(env); ok {
			out = append(out, finding.Finding{CheckID: finding.ExposedEnv, Location: env.URL, Subject: "/.env",
				Detail:   fmt.Sprintf("An environment file with %d settings is served to anyone.", len(keys)),
				Evidence: strings.Join(keys, "\n")})
		}
	}
	progress(85)
	if strings.HasPrefix(base, "https://") {
		txt, _ := r.get(ctx, r.client, base+"/.well-known/security.txt", "", 32<<10)
		out = append(out, securityTxt(txt, missing, base, r.s.o.Now())...)
	}
	progress(95)
	return out, ctx.Err()
}

// soft404 reports a "found" response that is really the site's answer for
// anything: an error status, or the same body as a path that cannot exist.
func soft404(resp, missing *observatory.Response) bool {
	if resp.Status != 200 {
		return true
	}
	return missing != nil && missing.Status == 200 && bytes.Equal(bytes.TrimSpace(resp.Body), bytes.TrimSpace(missing.Body))
}

func mediaType(resp *observatory.Response) string {
	t, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return t
}

var gitHeadRe = regexp.MustCompile(`^(ref: refs/[A-Za-z0-9._/-]+|[0-9a-f]{40}|[0-9a-f]{64})\s*$`)

func gitHead(resp *observatory.Response) (string, bool) {
	if mediaType(resp) == "text/html" {
		return "", false
	}
	line := strings.TrimSpace(string(resp.Body))
	return line, gitHeadRe.MatchString(line)
}

var envLineRe = regexp.MustCompile(`^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=`)

// dotenv reports whether a body reads as an environment file, and its keys
// (the values are never kept).
func dotenv(resp *observatory.Response) ([]string, bool) {
	if t := mediaType(resp); t == "text/html" || t == "application/json" || bytes.IndexByte(resp.Body, 0) >= 0 {
		return nil, false
	}
	var keys []string
	lines := 0
	for _, line := range strings.Split(string(resp.Body), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lines++
		if m := envLineRe.FindStringSubmatch(line); m != nil {
			keys = append(keys, m[1]+"="+redact.Redacted)
		}
	}
	return keys, len(keys) >= 1 && len(keys)*2 >= lines
}

// versionHeaders name software and often its version.
var versionHeaders = []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Generator", "X-Runtime-Version"}

var versionRe = regexp.MustCompile(`\d+\.\d+`)

func disclosure(resp *observatory.Response) []finding.Finding {
	var out []finding.Finding
	for _, h := range versionHeaders {
		v := resp.Header.Get(h)
		if v == "" || !versionRe.MatchString(v) {
			continue
		}
		out = append(out, finding.Finding{CheckID: finding.ServerVersionDisclosed, Location: resp.URL, Subject: strings.ToLower(h),
			Detail: "The " + h + " header names the software's version, telling an attacker which known flaws to try.", Evidence: h + ": " + v})
	}
	return out
}

// errorSignatures are what framework error pages and stack traces look
// like.
var errorSignatures = []struct {
	name string
	re   *regexp.Regexp
}{
	{"Python traceback", regexp.MustCompile(`Traceback \(most recent call last\)`)},
	{"Java stack trace", regexp.MustCompile(`(?m)^\s*at [\w$.]+\([\w$]+\.java:\d+\)`)},
	{"Go panic", regexp.MustCompile(`goroutine \d+ \[running\]`)},
	{"Node.js stack trace", regexp.MustCompile(`at (?:Object\.<anonymous>|Module\._compile) \(`)},
	{"PHP error", regexp.MustCompile(`(?i)<b>(?:fatal error|warning|parse error|notice)</b>:.{0,300} on line <b>\d+`)},
	{"Spring error page", regexp.MustCompile(`Whitelabel Error Page`)},
	{"Django debug page", regexp.MustCompile(`You're seeing this error because you have <code>DEBUG = True</code>`)},
	{"Rails debug page", regexp.MustCompile(`Action Controller: Exception caught`)},
	{"ASP.NET error page", regexp.MustCompile(`Server Error in '[^']*' Application|Microsoft \.NET Framework Version:`)},
	{"SQL error", regexp.MustCompile(`SQLSTATE\[|ORA-\d{5}|You have an error in your SQL syntax|PG::[A-Za-z]+Error|pg_query\(\)`)},
}

func verboseError(resp *observatory.Response) []finding.Finding {
	for _, sig := range errorSignatures {
		loc := sig.re.FindIndex(resp.Body)
		if loc == nil {
			continue
		}
		// Whole lines around the match, so that a cut never splits a
		// "name=value" pair the redaction must recognise.
		from := bytes.LastIndexByte(resp.Body[:max(0, loc[0]-200)], '\n') + 1
		to := loc[1] + 600
		if to >= len(resp.Body) {
			to = len(resp.Body)
		} else if nl := bytes.IndexByte(resp.Body[to:], '\n'); nl >= 0 {
			to += nl
		} else {
			to = len(resp.Body)
		}
		return []finding.Finding{{CheckID: finding.VerboseErrors, Location: resp.URL, Subject: sig.name,
			Detail:   fmt.Sprintf("The response (status %d) shows a %s: internals an attacker can use.", resp.Status, sig.name),
			Evidence: string(resp.Body[from:to])}}
	}
	return nil
}

// mixedAttrs name, per element, the attribute that loads a resource and
// whether the resource is active (it can act on the page) or passive (a man
// in the middle can only change what it shows).
var mixedAttrs = map[string]struct {
	attr   string
	active bool
}{
	"script": {"src", true}, "iframe": {"src", true}, "frame": {"src", true}, "object": {"data", true},
	"embed": {"src", true}, "link": {"href", true}, "img": {"src", false}, "audio": {"src", false},
	"video": {"src", false}, "source": {"src", false}, "track": {"src", false},
}

const maxMixed = 20

// mixedContent lists the http:// resources an HTTPS page loads.
func mixedContent(resp *observatory.Response) []finding.Finding {
	if mediaType(resp) != "text/html" && mediaType(resp) != "application/xhtml+xml" {
		return nil
	}
	var out []finding.Finding
	z := html.NewTokenizer(bytes.NewReader(resp.Body))
	for len(out) < maxMixed {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		spec, ok := mixedAttrs[tok.Data]
		if !ok {
			continue
		}
		var ref, rel string
		for _, a := range tok.Attr {
			switch a.Key {
			case spec.attr:
				ref = strings.TrimSpace(a.Val)
			case "rel":
				rel = strings.ToLower(a.Val)
			}
		}
		if tok.Data == "link" && !strings.Contains(rel, "stylesheet") && !strings.Contains(rel, "preload") && !strings.Contains(rel, "modulepreload") {
			continue
		}
		if !strings.HasPrefix(strings.ToLower(ref), "http://") {
			continue
		}
		id, kind := finding.MixedContentPassive, "passive"
		if spec.active {
			id, kind = finding.MixedContentActive, "active"
		}
		out = append(out, finding.Finding{CheckID: id, Location: resp.URL, Subject: ref,
			Detail:   fmt.Sprintf("The HTTPS page loads %s content over plain HTTP (<%s>).", kind, tok.Data),
			Evidence: tok.String()})
	}
	return out
}

// securityTxt checks /.well-known/security.txt against RFC 9116.
func securityTxt(resp, missing *observatory.Response, base string, now time.Time) []finding.Finding {
	loc := base + "/.well-known/security.txt"
	if resp == nil || soft404(resp, missing) || mediaType(resp) == "text/html" {
		return []finding.Finding{{CheckID: finding.SecurityTxtMissing, Location: loc, Subject: "security.txt",
			Detail: "No security.txt (RFC 9116) tells researchers how to report a vulnerability."}}
	}
	if problems := securityTxtProblems(resp, now); len(problems) > 0 {
		return []finding.Finding{{CheckID: finding.SecurityTxtInvalid, Location: loc, Subject: "security.txt",
			Detail: "security.txt does not follow RFC 9116: " + strings.Join(problems, "; ") + ".", Evidence: string(resp.Body)}}
	}
	return nil
}

var fieldRe = regexp.MustCompile(`^([A-Za-z0-9-]+):\s*(.*)$`)

func securityTxtProblems(resp *observatory.Response, now time.Time) []string {
	var problems []string
	if t, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); t != "text/plain" {
		problems = append(problems, "it must be served as text/plain")
	} else if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") {
		problems = append(problems, "its charset must be utf-8")
	}
	body := string(resp.Body)
	if strings.HasPrefix(body, "-----BEGIN PGP SIGNED MESSAGE-----") {
		// The signed text is between the armor header and the signature.
		if _, rest, ok := strings.Cut(body, "\n\n"); ok {
			body, _, _ = strings.Cut(rest, "-----BEGIN PGP SIGNATURE-----")
		}
	}
	fields := map[string][]string{}
	for i, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := fieldRe.FindStringSubmatch(line)
		if m == nil {
			problems = append(problems, fmt.Sprintf("line %d is not a field", i+1))
			continue
		}
		name := strings.ToLower(m[1])
		fields[name] = append(fields[name], strings.TrimSpace(m[2]))
	}
	if len(fields["contact"]) == 0 {
		problems = append(problems, "a Contact field is required")
	}
	for _, c := range fields["contact"] {
		if !strings.HasPrefix(c, "mailto:") && !strings.HasPrefix(c, "https://") && !strings.HasPrefix(c, "tel:") {
			problems = append(problems, "Contact "+c+" must be a mailto:, https:// or tel: URI")
		}
	}
	switch exp := fields["expires"]; {
	case len(exp) == 0:
		problems = append(problems, "an Expires field is required")
	case len(exp) > 1:
		problems = append(problems, "Expires must appear once")
	default:
		t, err := time.Parse(time.RFC3339, exp[0])
		switch {
		case err != nil:
			problems = append(problems, "Expires must be an RFC 3339 date")
		case !t.After(now):
			problems = append(problems, "it expired on "+t.UTC().Format(time.DateOnly))
		case t.After(now.AddDate(1, 0, 7)):
			problems = append(problems, "Expires should be less than a year away")
		}
	}
	if len(fields["preferred-languages"]) > 1 {
		problems = append(problems, "Preferred-Languages must appear at most once")
	}
	for _, c := range fields["canonical"] {
		if !strings.HasPrefix(c, "https://") {
			problems = append(problems, "Canonical "+c+" must be an https:// URI")
		}
	}
	return problems
}
