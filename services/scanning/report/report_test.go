package report

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

const hostile = `<script>alert(1)</script>"'</pre>&`

func sample() Scan {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return Scan{ID: "scan-1", OrgID: "org-1", AssetID: "asset-1", AssetHost: "example.com", Status: "SUCCEEDED",
		Grade: "B+", Score: 82, HeaderScore: 70, HeaderGrade: "B", Cap: "B", ActorID: "user-1", GrantID: "grant-1",
		CreateTime: t0, StartTime: t0.Add(time.Second), EndTime: t0.Add(time.Minute), Requests: 42,
		Tests: []Test{{Name: "csp", Result: "csp-not-implemented", Modifier: -25, Description: "No CSP " + hostile}},
		Findings: []Finding{
			{ID: "f-low", CheckID: finding.XCTOMissing, Status: "NEW", Severity: finding.Low, Location: "https://example.com/",
				Subject: "X-Content-Type-Options", Fingerprint: "fp-low", FirstSeen: t0, LastSeen: t0},
			{ID: "f-res", CheckID: finding.ExposedGit, Status: "RESOLVED", Severity: finding.High, Location: "https://example.com/.git/HEAD",
				Fingerprint: "fp-res", FirstSeen: t0, LastSeen: t0},
			{ID: "f-crit", CheckID: finding.ExposedEnv, Status: "REGRESSED", Severity: finding.Critical,
				Location: "https://example.com/" + hostile, Subject: hostile, Detail: hostile, Evidence: "DB_PASSWORD=[redacted]\n" + hostile,
				Fingerprint: "fp-crit", FirstSeen: t0, LastSeen: t0},
			{ID: "f-med", CheckID: finding.HSTSMissing, Status: "PERSISTING", Location: "https://example.com/", Fingerprint: "fp-med",
				FirstSeen: t0, LastSeen: t0},
		},
	}
}

func TestJSON(t *testing.T) {
	out, err := JSON(sample())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema string
		Scan   map[string]any
		Tests  []map[string]any
		// Field names match case-insensitively, so Go names suffice here.
		Findings []struct {
			ID, CheckID, Title, Severity, Status, CWE, Remediation, FirstSeenTime string
			Compliance                                                            []struct{ Framework, Control string }
		}
		Compliance []struct {
			Framework string
			Controls  []struct {
				Control       string
				Findings      []string
				WorstSeverity string
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != "pythorix.report/v1" || doc.Scan["target"] != "example.com" || doc.Scan["tlsCap"] != "B" ||
		doc.Scan["endTime"] != "2026-03-01T12:01:00Z" || len(doc.Tests) != 1 {
		t.Fatalf("bad header: %s", out)
	}
	var ids []string
	for _, f := range doc.Findings {
		ids = append(ids, f.ID)
	}
	if want := []string{"f-crit", "f-res", "f-med", "f-low"}; !slices.Equal(ids, want) {
		t.Errorf("finding order = %v, want %v", ids, want)
	}
	med := doc.Findings[2]
	if med.Severity != "MEDIUM" || med.Title == "" || med.Title == med.CheckID ||
		med.CWE != "CWE-319" || med.Remediation == "" || med.FirstSeenTime != "2026-03-01T12:00:00Z" {
		t.Errorf("catalog fields or default severity missing: %+v", med)
	}
	if !slices.Contains(med.Compliance, struct{ Framework, Control string }{"CWE", "CWE-319"}) {
		t.Errorf("finding compliance lacks the CWE ref: %+v", med.Compliance)
	}
	if len(doc.Compliance) == 0 || doc.Compliance[0].Framework != "OWASP-TOP10-2021" {
		t.Fatalf("compliance table: %+v", doc.Compliance)
	}
	for _, fw := range doc.Compliance {
		for _, c := range fw.Controls {
			if slices.Contains(c.Findings, "f-res") {
				t.Errorf("RESOLVED finding in compliance %s %s", fw.Framework, c.Control)
			}
			if fw.Framework == "OWASP-TOP10-2021" && c.Control == "A05:2021" &&
				(c.WorstSeverity != "CRITICAL" || !slices.Equal(c.Findings, []string{"f-crit", "f-med", "f-low"})) {
				t.Errorf("A05:2021 = %+v", c)
			}
		}
	}
	again, _ := JSON(sample())
	if string(again) != string(out) {
		t.Error("JSON output is not stable")
	}
}

func TestCompareControls(t *testing.T) {
	got := []string{"A.8.24", "10.1", "A.8.9", "2.2.5", "A.5.14", "2.2.6"}
	slices.SortFunc(got, compareControls)
	if want := []string{"2.2.5", "2.2.6", "10.1", "A.5.14", "A.8.9", "A.8.24"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
