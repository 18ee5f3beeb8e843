package catalog

import (
	"slices"
	"strings"
	"testing"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

func TestEmbeddedLoads(t *testing.T) {
	c, err := Load(checksYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Checks()) == 0 || len(c.Frameworks()) == 0 {
		t.Fatal("empty catalog")
	}
}

func TestCatalogMatchesFindingIDs(t *testing.T) {
	inCatalog := map[string]bool{}
	for _, c := range Checks() {
		inCatalog[c.ID] = true
		if !slices.Contains(finding.IDs, c.ID) {
			t.Errorf("catalog check %q is not in finding.IDs", c.ID)
		}
	}
	for _, id := range finding.IDs {
		if !inCatalog[id] {
			t.Errorf("finding id %q has no catalog entry", id)
		}
	}
}

func TestComplianceCoverage(t *testing.T) {
	for _, c := range Checks() {
		fws := map[string]bool{}
		for _, r := range c.Compliance {
			fws[r.Framework] = true
		}
		if !fws["OWASP-TOP10-2021"] && !fws["OWASP-API-2023"] {
			t.Errorf("%s: maps to neither OWASP Top 10 nor OWASP API Top 10", c.ID)
		}
		if !fws["PCI-DSS-4.0"] && !fws["ISO-27001-2022"] && !fws["SOC2-TSC-2017"] && !fws["NIST-CSF-2.0"] {
			t.Errorf("%s: maps to none of PCI DSS, ISO 27001, SOC 2, NIST CSF", c.ID)
		}
	}
}

func TestComplianceOrder(t *testing.T) {
	c, ok := Lookup(finding.TLSUnavailable)
	if !ok {
		t.Fatal("tls.unavailable missing")
	}
	order := map[string]int{}
	for i, f := range Frameworks() {
		order[f.ID] = i
	}
	if !slices.IsSortedFunc(c.Compliance, func(a, b Ref) int { return order[a.Framework] - order[b.Framework] }) {
		t.Errorf("compliance not in framework order: %v", c.Compliance)
	}
	if !slices.Contains(c.Compliance, Ref{Framework: CWEFramework, Control: c.CWE}) {
		t.Errorf("no derived CWE ref in %v", c.Compliance)
	}
	// Controls keep file order within a framework: [A.8.24, A.5.14].
	i := slices.Index(c.Compliance, Ref{"ISO-27001-2022", "A.8.24"})
	if i < 0 || c.Compliance[i+1] != (Ref{"ISO-27001-2022", "A.5.14"}) {
		t.Errorf("ISO controls out of file order: %v", c.Compliance)
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	a, _ := Lookup(finding.HSTSMissing)
	want := slices.Clone(a.References)
	a.References[0] = "mutated"
	a.Compliance[0].Control = "mutated"
	b, _ := Lookup(finding.HSTSMissing)
	if !slices.Equal(b.References, want) || b.Compliance[0].Control == "mutated" {
		t.Fatal("Lookup exposed shared slices")
	}
	all := Checks()
	all[0].References[0] = "mutated"
	if Checks()[0].References[0] == "mutated" {
		t.Fatal("Checks exposed shared slices")
	}
}

const validDoc = `
frameworks:
  - {id: OWASP-TOP10-2021, name: OWASP Top 10, version: "2021", url: "https://owasp.org/Top10/"}
  - {id: CWE, name: CWE, version: "4", url: "https://cwe.mitre.org/"}
checks:
  - id: a.check
    title: A check
    severity: LOW
    cwe: CWE-319
    description: d
    remediation: r
    references: ["https://example.com/"]
    compliance:
      OWASP-TOP10-2021: [A02:2021]
`

func TestLoadRejects(t *testing.T) {
	if _, err := Load([]byte(validDoc)); err != nil {
		t.Fatalf("valid document rejected: %v", err)
	}
	dup := validDoc + strings.SplitAfterN(validDoc, "checks:\n", 2)[1]
	tests := []struct{ name, doc, want string }{
		{"unknown key", strings.Replace(validDoc, "    title:", "    colour: red\n    title:", 1), "field colour not found"},
		{"unknown framework", strings.Replace(validDoc, "OWASP-TOP10-2021: [", "OWASP-TOP10-2017: [", 1), `check "a.check": compliance: unknown framework "OWASP-TOP10-2017"`},
		{"CWE listed", strings.Replace(validDoc, "OWASP-TOP10-2021: [", "CWE: [", 1), `check "a.check": compliance: "CWE" is derived`},
		{"bad severity", strings.Replace(validDoc, "severity: LOW", "severity: low", 1), `check "a.check": severity "low"`},
		{"duplicate id", dup, `check "a.check": duplicate id`},
		{"bad cwe", strings.Replace(validDoc, "cwe: CWE-319", "cwe: 319", 1), `check "a.check": cwe "319"`},
		{"missing cwe", strings.Replace(validDoc, "    cwe: CWE-319\n", "", 1), `check "a.check": cwe ""`},
		{"empty control", strings.Replace(validDoc, "[A02:2021]", `[""]`, 1), `check "a.check": compliance: framework "OWASP-TOP10-2021": empty control`},
		{"no https reference", strings.Replace(validDoc, "https://example.com/", "http://example.com/", 1), `check "a.check": references`},
		{"no compliance", strings.Replace(validDoc, "    compliance:\n      OWASP-TOP10-2021: [A02:2021]\n", "", 1), `check "a.check": compliance lists no framework`},
		{"missing title", strings.Replace(validDoc, "    title: A check\n", "", 1), `check "a.check": missing title`},
		{"empty", "", "empty document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want containing %q", err, tt.want)
			}
		})
	}
}
