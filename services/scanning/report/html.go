package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"strings"
	"time"
)

// style is the report's only stylesheet. StyleCSP allows it by hash, so the
// page uses no style attributes.
const style = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--alt:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--bg:#0d1117;--alt:#151b23}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:80rem;padding:1.5rem;font:14px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
h1{margin:0;font-size:1.6rem;overflow-wrap:anywhere}
h2{margin-top:2rem;border-bottom:1px solid var(--line);font-size:1.2rem}
header{display:flex;gap:2rem;align-items:center;flex-wrap:wrap}
.grade{font-size:4rem;font-weight:700;line-height:1;min-width:5rem;text-align:center;padding:.5rem;border:3px solid;border-radius:.5rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem;margin:0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse;margin-top:.5rem}
th,td{text-align:left;vertical-align:top;padding:.4rem;border-bottom:1px solid var(--line)}
th{background:var(--alt)}
td{overflow-wrap:anywhere}
pre{margin:0;max-height:12rem;overflow:auto;white-space:pre-wrap;word-break:break-all;font-size:12px;background:var(--alt);padding:.3rem}
code{font-size:12px}
ul{margin:.3rem 0;padding-left:1.2rem}
.muted{color:var(--muted)}
.sev{display:inline-block;padding:0 .4rem;border-radius:.25rem;font-weight:600;font-size:12px;color:#fff;background:#59636e}
.sev-critical{background:#8b0000}.sev-high{background:#cf222e}.sev-medium{background:#bc4c00}.sev-low{background:#9a6700}
.resolved{opacity:.6}
.pass{color:#1a7f37}.fail{color:#cf222e}
`

// StyleCSP is the Content-Security-Policy to serve the HTML report with: it
// allows the report's one inline stylesheet, by hash, and nothing else.
var StyleCSP = "default-src 'none'; style-src 'sha256-" + styleHash() +
	"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func styleHash() string {
	sum := sha256.Sum256([]byte(style))
	return base64.StdEncoding.EncodeToString(sum[:])
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"when":  when,
	"lower": strings.ToLower,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Pythorix report: {{.AssetHost}}</title>
<style>` + style + `</style>
</head>
<body>
<header>
<div class="grade" title="Grade">{{or .Grade "–"}}</div>
<div>
<h1>{{.AssetHost}}</h1>
<dl>
<dt>Score</dt><dd>{{.Score}}</dd>
<dt>Header grade</dt><dd>{{or .HeaderGrade "–"}} ({{.HeaderScore}})</dd>
<dt>TLS cap</dt><dd>{{or .Cap "none"}}</dd>
<dt>Scan</dt><dd><code>{{.ID}}</code> · {{.Status}} · {{.Requests}} requests</dd>
<dt>Created</dt><dd>{{when .CreateTime}}</dd>
<dt>Started</dt><dd>{{when .StartTime}}</dd>
<dt>Ended</dt><dd>{{when .EndTime}}</dd>
<dt>Actor</dt><dd><code>{{or .ActorID "–"}}</code></dd>
<dt>Grant</dt><dd><code>{{or .GrantID "–"}}</code></dd>
</dl>
</div>
</header>

<h2>Findings ({{len .Entries}})</h2>
{{- if .Entries}}
<table>
<thead><tr><th>Severity</th><th>Finding</th><th>Status</th><th>Location</th><th>Subject</th><th>Detail</th><th>Evidence</th><th>Remediation</th></tr></thead>
<tbody>
{{- range .Entries}}
<tr{{if eq .Status "RESOLVED"}} class="resolved"{{end}}>
<td><span class="sev sev-{{lower .Severity.String}}">{{.Severity.String}}</span></td>
<td><strong>{{.Title}}</strong><br><code class="muted">{{.CheckID}}</code>{{with .Check.CWE}} · {{.}}{{end}}{{with .Check.Description}}<p class="muted">{{.}}</p>{{end}}</td>
<td>{{.Status}}</td>
<td><code>{{.Location}}</code></td>
<td><code>{{.Subject}}</code></td>
<td>{{.Detail}}</td>
<td>{{with .Evidence}}<pre>{{.}}</pre>{{end}}</td>
<td>{{.Check.Remediation}}{{with .Check.References}}<ul>{{range .}}<li><a href="{{.}}" rel="noreferrer">{{.}}</a></li>{{end}}</ul>{{end}}</td>
</tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>No findings.</p>
{{- end}}

<h2>Header tests</h2>
{{- if .Tests}}
<table>
<thead><tr><th>Test</th><th>Result</th><th>Modifier</th><th>Pass</th><th>Description</th></tr></thead>
<tbody>
{{- range .Tests}}
<tr><td>{{.Name}}</td><td><code>{{.Result}}</code></td><td>{{.Modifier}}</td><td>{{if .Pass}}<span class="pass">pass</span>{{else}}<span class="fail">fail</span>{{end}}</td><td>{{.Description}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>No header tests were run.</p>
{{- end}}

<h2>Compliance</h2>
<p class="muted">Controls that open (not resolved) findings bear on.</p>
{{- if .Compliance}}
<table>
<thead><tr><th>Framework</th><th>Control</th><th>Worst</th><th>Findings</th></tr></thead>
<tbody>
{{- range $fw := .Compliance}}{{range .Controls}}
<tr><td>{{$fw.Name}} {{$fw.Version}}</td><td>{{.Control}}</td><td><span class="sev sev-{{lower .Worst.String}}">{{.Worst.String}}</span></td><td><ul>{{range .Titles}}<li>{{.}}</li>{{end}}</ul></td></tr>
{{- end}}{{end}}
</tbody>
</table>
{{- else}}
<p>No open findings map to a compliance control.</p>
{{- end}}
</body>
</html>
`))

// when formats t for people, or "–" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// htmlView is what the page template renders.
type htmlView struct {
	Scan
	Entries    []entry
	Compliance []frameworkGroup
}

// HTML renders s as a self-contained page: inline CSS only, no scripts and
// no external resources. Serve it with StyleCSP.
func HTML(s Scan) ([]byte, error) {
	es := entries(s.Findings)
	var b bytes.Buffer
	if err := page.Execute(&b, htmlView{Scan: s, Entries: es, Compliance: compliance(es)}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
