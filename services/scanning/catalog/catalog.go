// Package catalog describes every check the scanner can report: its title,
// default severity, CWE, description, remediation, references and the
// compliance controls it bears on. The data lives in checks.yaml, embedded
// in the binary and validated when first used.
package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

// CWEFramework is the id of the framework whose references are derived from
// each check's cwe field rather than listed under compliance.
const CWEFramework = "CWE"

//go:embed checks.yaml
var checksYAML []byte

// Framework is a standard that checks map to, such as the OWASP Top 10.
type Framework struct {
	ID, Name, Version, URL string
}

// Ref names one control of a framework.
type Ref struct {
	Framework, Control string
}

// Check describes one check id.
type Check struct {
	ID, Title string
	// Severity is the default; a finding may be graded worse.
	Severity finding.Severity
	// CWE is the weakness the check is filed under, e.g. "CWE-319".
	CWE                      string
	Description, Remediation string
	References               []string
	// Compliance lists the controls in framework order (as the catalog
	// lists frameworks), each framework's controls in file order; it
	// includes the CWE reference derived from CWE.
	Compliance []Ref
}

func (c Check) clone() Check {
	c.References = slices.Clone(c.References)
	c.Compliance = slices.Clone(c.Compliance)
	return c
}

// Catalog is a validated set of frameworks and checks.
type Catalog struct {
	frameworks []Framework
	checks     []Check
	byID       map[string]int
}

type fileData struct {
	Frameworks []frameworkData `yaml:"frameworks"`
	Checks     []checkData     `yaml:"checks"`
}

type frameworkData struct {
	ID      string `yaml:"id"`
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	URL     string `yaml:"url"`
}

type checkData struct {
	ID          string              `yaml:"id"`
	Title       string              `yaml:"title"`
	Severity    string              `yaml:"severity"`
	CWE         string              `yaml:"cwe"`
	Description string              `yaml:"description"`
	Remediation string              `yaml:"remediation"`
	References  []string            `yaml:"references"`
	Compliance  map[string][]string `yaml:"compliance"`
}

var cwePattern = regexp.MustCompile(`^CWE-[0-9]+$`)

// Load parses and validates a catalog in the format of checks.yaml. Unknown
// keys are errors.
func Load(data []byte) (*Catalog, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f fileData
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("catalog: empty document")
		}
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c := &Catalog{byID: make(map[string]int, len(f.Checks))}
	known := make(map[string]bool, len(f.Frameworks))
	for i, fw := range f.Frameworks {
		switch {
		case fw.ID == "":
			return nil, fmt.Errorf("catalog: framework %d: missing id", i)
		case known[fw.ID]:
			return nil, fmt.Errorf("catalog: framework %q: duplicate id", fw.ID)
		case fw.Name == "":
			return nil, fmt.Errorf("catalog: framework %q: missing name", fw.ID)
		case !strings.HasPrefix(fw.URL, "https://"):
			return nil, fmt.Errorf("catalog: framework %q: url must be https", fw.ID)
		}
		known[fw.ID] = true
		c.frameworks = append(c.frameworks, Framework(fw))
	}
	if !known[CWEFramework] {
		return nil, fmt.Errorf("catalog: framework %q is not listed", CWEFramework)
	}
	if len(f.Checks) == 0 {
		return nil, errors.New("catalog: no checks")
	}
	for i, d := range f.Checks {
		if d.ID == "" {
			return nil, fmt.Errorf("catalog: check %d: missing id", i)
		}
		if _, dup := c.byID[d.ID]; dup {
			return nil, fmt.Errorf("catalog: check %q: duplicate id", d.ID)
		}
		chk, err := d.check(c.frameworks, known)
		if err != nil {
			return nil, fmt.Errorf("catalog: check %q: %w", d.ID, err)
		}
		c.byID[d.ID] = len(c.checks)
		c.checks = append(c.checks, chk)
	}
	return c, nil
}

// check validates d and converts it, ordering compliance by frameworks.
func (d checkData) check(frameworks []Framework, known map[string]bool) (Check, error) {
	sev, ok := parseSeverity(d.Severity)
	switch {
	case d.Title == "":
		return Check{}, errors.New("missing title")
	case !ok:
		return Check{}, fmt.Errorf("severity %q is not one of INFO, LOW, MEDIUM, HIGH, CRITICAL", d.Severity)
	case !cwePattern.MatchString(d.CWE):
		return Check{}, fmt.Errorf("cwe %q does not match CWE-<number>", d.CWE)
	case strings.TrimSpace(d.Description) == "":
		return Check{}, errors.New("missing description")
	case strings.TrimSpace(d.Remediation) == "":
		return Check{}, errors.New("missing remediation")
	case len(d.Compliance) == 0:
		return Check{}, errors.New("compliance lists no framework besides the derived CWE")
	}
	hasHTTPS := false
	for _, r := range d.References {
		if r == "" {
			return Check{}, errors.New("empty reference")
		}
		hasHTTPS = hasHTTPS || strings.HasPrefix(r, "https://")
	}
	if !hasHTTPS {
		return Check{}, errors.New("references: need at least one https URL")
	}
	for _, fw := range slices.Sorted(maps.Keys(d.Compliance)) {
		controls := d.Compliance[fw]
		switch {
		case fw == CWEFramework:
			return Check{}, fmt.Errorf("compliance: %q is derived from cwe and must not be listed", fw)
		case !known[fw]:
			return Check{}, fmt.Errorf("compliance: unknown framework %q", fw)
		case len(controls) == 0:
			return Check{}, fmt.Errorf("compliance: framework %q lists no controls", fw)
		}
		for i, ctl := range controls {
			if strings.TrimSpace(ctl) == "" {
				return Check{}, fmt.Errorf("compliance: framework %q: empty control", fw)
			}
			if slices.Contains(controls[:i], ctl) {
				return Check{}, fmt.Errorf("compliance: framework %q: duplicate control %q", fw, ctl)
			}
		}
	}
	c := Check{ID: d.ID, Title: d.Title, Severity: sev, CWE: d.CWE, Description: d.Description,
		Remediation: d.Remediation, References: d.References}
	for _, fw := range frameworks {
		if fw.ID == CWEFramework {
			c.Compliance = append(c.Compliance, Ref{Framework: CWEFramework, Control: d.CWE})
		}
		for _, ctl := range d.Compliance[fw.ID] {
			c.Compliance = append(c.Compliance, Ref{Framework: fw.ID, Control: ctl})
		}
	}
	return c, nil
}

func parseSeverity(name string) (finding.Severity, bool) {
	for s := finding.Info; s <= finding.Critical; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// Lookup returns a copy of the check with the given id.
func (c *Catalog) Lookup(id string) (Check, bool) {
	i, ok := c.byID[id]
	if !ok {
		return Check{}, false
	}
	return c.checks[i].clone(), true
}

// Checks returns copies of all checks in file order.
func (c *Catalog) Checks() []Check {
	out := make([]Check, len(c.checks))
	for i, chk := range c.checks {
		out[i] = chk.clone()
	}
	return out
}

// Frameworks returns the frameworks in file order.
func (c *Catalog) Frameworks() []Framework {
	return slices.Clone(c.frameworks)
}

// Default returns the catalog embedded from checks.yaml. It panics if that
// file is invalid, which the package's tests rule out.
var Default = sync.OnceValue(func() *Catalog {
	c, err := Load(checksYAML)
	if err != nil {
		panic(err)
	}
	return c
})

// Lookup returns a copy of the embedded catalog's check with the given id.
func Lookup(id string) (Check, bool) { return Default().Lookup(id) }

// Checks returns copies of the embedded catalog's checks in file order.
func Checks() []Check { return Default().Checks() }

// Frameworks returns the embedded catalog's frameworks in file order.
func Frameworks() []Framework { return Default().Frameworks() }
