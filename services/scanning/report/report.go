// Package report renders a finished scan as a JSON document, a SARIF 2.1.0
// log or a self-contained HTML page. Titles, CWEs, remediation and
// compliance mappings come from package catalog, so a report needs only what
// the scanner stored.
package report

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/pythorix/pythorix/services/scanning/catalog"
	"github.com/pythorix/pythorix/services/scanning/finding"
)

// Content types of the three report formats.
const (
	ContentTypeJSON  = "application/json"
	ContentTypeSARIF = "application/sarif+json"
	ContentTypeHTML  = "text/html; charset=utf-8"
)

// statusResolved is the finding status of an issue no longer observed.
const statusResolved = "RESOLVED"

// Scan is a finished scan with everything a report shows.
type Scan struct {
	ID, OrgID, AssetID, AssetHost, Status, Grade string
	Score, HeaderScore                           int
	HeaderGrade, Cap, ActorID, GrantID           string
	CreateTime, StartTime, EndTime               time.Time
	Requests                                     int
	Tests                                        []Test
	Findings                                     []Finding
}

// Test is the outcome of one Observatory-style header test.
type Test struct {
	Name, Result string
	Modifier     int
	Pass         bool
	Description  string
}

// Finding is one stored finding: NEW, PERSISTING, REGRESSED or RESOLVED.
type Finding struct {
	ID, CheckID, Status                              string
	Severity                                         finding.Severity
	Location, Subject, Detail, Evidence, Fingerprint string
	FirstSeen, LastSeen                              time.Time
}

// entry is a finding with its catalog check; Severity falls back to the
// check's default when the finding has none.
type entry struct {
	Finding
	Check catalog.Check
}

// Title is the catalog title, or the check id for a check the catalog lacks.
func (e entry) Title() string { return cmp.Or(e.Check.Title, e.CheckID) }

// entries joins the findings with the catalog, most severe first, then by
// check id, location and subject.
func entries(fs []Finding) []entry {
	out := make([]entry, 0, len(fs))
	for _, f := range fs {
		c, _ := catalog.Lookup(f.CheckID)
		if f.Severity == 0 {
			f.Severity = c.Severity
		}
		out = append(out, entry{Finding: f, Check: c})
	}
	slices.SortFunc(out, func(a, b entry) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), strings.Compare(a.CheckID, b.CheckID),
			strings.Compare(a.Location, b.Location), strings.Compare(a.Subject, b.Subject), strings.Compare(a.ID, b.ID))
	})
	return out
}

// frameworkGroup lists the controls of one framework that open findings
// bear on.
type frameworkGroup struct {
	catalog.Framework
	Controls []controlGroup
}

// controlGroup is one control and the open findings that bear on it.
type controlGroup struct {
	Control string
	Entries []entry
	Worst   finding.Severity
}

// Titles lists the distinct titles of the control's findings.
func (g controlGroup) Titles() []string {
	var out []string
	for _, e := range g.Entries {
		if t := e.Title(); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// compliance groups the open (not RESOLVED) entries by framework, in
// catalog order, and control, in natural order.
func compliance(es []entry) []frameworkGroup {
	var out []frameworkGroup
	for _, fw := range catalog.Frameworks() {
		g := frameworkGroup{Framework: fw}
		index := map[string]int{}
		for _, e := range es {
			if e.Status == statusResolved {
				continue
			}
			for _, r := range e.Check.Compliance {
				if r.Framework != fw.ID {
					continue
				}
				i, ok := index[r.Control]
				if !ok {
					i = len(g.Controls)
					index[r.Control] = i
					g.Controls = append(g.Controls, controlGroup{Control: r.Control})
				}
				g.Controls[i].Entries = append(g.Controls[i].Entries, e)
				g.Controls[i].Worst = max(g.Controls[i].Worst, e.Severity)
			}
		}
		if len(g.Controls) > 0 {
			slices.SortFunc(g.Controls, func(a, b controlGroup) int { return compareControls(a.Control, b.Control) })
			out = append(out, g)
		}
	}
	return out
}

// compareControls orders control ids naturally, comparing runs of digits
// by value: "A.8.9" before "A.8.24", "2.2.5" before "10.1".
func compareControls(a, b string) int {
	x, y := a, b
	for x != "" && y != "" {
		dx, dy := leadingDigits(x), leadingDigits(y)
		if dx != "" && dy != "" {
			nx, ny := strings.TrimLeft(dx, "0"), strings.TrimLeft(dy, "0")
			if c := cmp.Or(cmp.Compare(len(nx), len(ny)), strings.Compare(nx, ny)); c != 0 {
				return c
			}
			x, y = x[len(dx):], y[len(dy):]
			continue
		}
		if c := cmp.Compare(x[0], y[0]); c != 0 {
			return c
		}
		x, y = x[1:], y[1:]
	}
	return cmp.Or(cmp.Compare(len(x), len(y)), strings.Compare(a, b))
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// timestamp formats t in RFC 3339 (UTC), or "" for the zero time.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

type jsonReport struct {
	Schema     string          `json:"schema"`
	Scan       jsonScan        `json:"scan"`
	Tests      []jsonTest      `json:"tests"`
	Findings   []jsonFinding   `json:"findings"`
	Compliance []jsonFramework `json:"compliance"`
}

type jsonScan struct {
	ID          string `json:"id"`
	OrgID       string `json:"orgId"`
	AssetID     string `json:"assetId"`
	Target      string `json:"target"`
	Status      string `json:"status"`
	Grade       string `json:"grade"`
	Score       int    `json:"score"`
	HeaderScore int    `json:"headerScore"`
	HeaderGrade string `json:"headerGrade"`
	TLSCap      string `json:"tlsCap"`
	ActorID     string `json:"actorId"`
	GrantID     string `json:"grantId"`
	CreateTime  string `json:"createTime,omitempty"`
	StartTime   string `json:"startTime,omitempty"`
	EndTime     string `json:"endTime,omitempty"`
	Requests    int    `json:"requests"`
}

type jsonTest struct {
	Name        string `json:"name"`
	Result      string `json:"result"`
	Modifier    int    `json:"modifier"`
	Pass        bool   `json:"pass"`
	Description string `json:"description"`
}

type jsonFinding struct {
	ID            string    `json:"id"`
	CheckID       string    `json:"checkId"`
	Title         string    `json:"title"`
	Severity      string    `json:"severity"`
	Status        string    `json:"status"`
	CWE           string    `json:"cwe"`
	Location      string    `json:"location"`
	Subject       string    `json:"subject"`
	Detail        string    `json:"detail"`
	Evidence      string    `json:"evidence"`
	Fingerprint   string    `json:"fingerprint"`
	FirstSeenTime string    `json:"firstSeenTime,omitempty"`
	LastSeenTime  string    `json:"lastSeenTime,omitempty"`
	Description   string    `json:"description"`
	Remediation   string    `json:"remediation"`
	References    []string  `json:"references"`
	Compliance    []jsonRef `json:"compliance"`
}

type jsonRef struct {
	Framework string `json:"framework"`
	Control   string `json:"control"`
}

type jsonFramework struct {
	Framework string        `json:"framework"`
	Name      string        `json:"name"`
	Version   string        `json:"version"`
	Controls  []jsonControl `json:"controls"`
}

type jsonControl struct {
	Control       string   `json:"control"`
	Findings      []string `json:"findings"`
	WorstSeverity string   `json:"worstSeverity"`
}

// JSON renders s as a pythorix.report/v1 document: the scan, its tests, its
// findings (most severe first, with catalog text) and a compliance table of
// the findings that are not RESOLVED, listed by finding id.
func JSON(s Scan) ([]byte, error) {
	es := entries(s.Findings)
	doc := jsonReport{
		Schema: "pythorix.report/v1",
		Scan: jsonScan{ID: s.ID, OrgID: s.OrgID, AssetID: s.AssetID, Target: s.AssetHost, Status: s.Status,
			Grade: s.Grade, Score: s.Score, HeaderScore: s.HeaderScore, HeaderGrade: s.HeaderGrade, TLSCap: s.Cap,
			ActorID: s.ActorID, GrantID: s.GrantID, CreateTime: timestamp(s.CreateTime),
			StartTime: timestamp(s.StartTime), EndTime: timestamp(s.EndTime), Requests: s.Requests},
		Tests:      make([]jsonTest, 0, len(s.Tests)),
		Findings:   make([]jsonFinding, 0, len(es)),
		Compliance: []jsonFramework{},
	}
	for _, t := range s.Tests {
		doc.Tests = append(doc.Tests, jsonTest(t))
	}
	for _, e := range es {
		refs := make([]jsonRef, 0, len(e.Check.Compliance))
		for _, r := range e.Check.Compliance {
			refs = append(refs, jsonRef(r))
		}
		doc.Findings = append(doc.Findings, jsonFinding{ID: e.ID, CheckID: e.CheckID, Title: e.Title(),
			Severity: e.Severity.String(), Status: e.Status, CWE: e.Check.CWE, Location: e.Location,
			Subject: e.Subject, Detail: e.Detail, Evidence: e.Evidence, Fingerprint: e.Fingerprint,
			FirstSeenTime: timestamp(e.FirstSeen), LastSeenTime: timestamp(e.LastSeen),
			Description: e.Check.Description, Remediation: e.Check.Remediation,
			References: append([]string{}, e.Check.References...), Compliance: refs})
	}
	for _, g := range compliance(es) {
		fw := jsonFramework{Framework: g.ID, Name: g.Name, Version: g.Version}
		for _, c := range g.Controls {
			ids := make([]string, 0, len(c.Entries))
			for _, e := range c.Entries {
				ids = append(ids, e.ID)
			}
			fw.Controls = append(fw.Controls, jsonControl{Control: c.Control, Findings: ids, WorstSeverity: c.Worst.String()})
		}
		doc.Compliance = append(doc.Compliance, fw)
	}
	return json.MarshalIndent(doc, "", "  ")
}
