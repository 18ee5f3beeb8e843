package report

import (
	"cmp"
	"encoding/json"
	"strings"

	"github.com/pythorix/pythorix/services/scanning/catalog"
	"github.com/pythorix/pythorix/services/scanning/finding"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool              sarifTool         `json:"tool"`
	AutomationDetails sarifAutomation   `json:"automationDetails"`
	Invocations       []sarifInvocation `json:"invocations"`
	Results           []sarifResult     `json:"results"`
	Properties        sarifRunProps     `json:"properties"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      *sarifText     `json:"fullDescription,omitempty"`
	Help                 *sarifText     `json:"help,omitempty"`
	HelpURI              string         `json:"helpUri,omitempty"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           sarifRuleProps `json:"properties"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	SecuritySeverity string   `json:"security-severity"`
	Tags             []string `json:"tags"`
	Precision        string   `json:"precision"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool   `json:"executionSuccessful"`
	StartTimeUTC        string `json:"startTimeUtc,omitempty"`
	EndTimeUTC          string `json:"endTimeUtc,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations,omitempty"`
	PartialFingerprints map[string]string `json:"partialFingerprints,omitempty"`
	BaselineState       string            `json:"baselineState,omitempty"`
	Properties          sarifResultProps  `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifResultProps struct {
	Status   string `json:"status"`
	Subject  string `json:"subject,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

type sarifRunProps struct {
	Target string `json:"target"`
	Grade  string `json:"grade"`
	Score  int    `json:"score"`
}

// baselineStates maps finding statuses to SARIF result baseline states.
var baselineStates = map[string]string{
	"NEW":          "new",
	"PERSISTING":   "unchanged",
	"REGRESSED":    "new",
	statusResolved: "absent",
}

// SARIF renders s as a SARIF 2.1.0 log with one run: a rule per check that
// occurs and a result per finding, located by URL. RESOLVED findings are
// included with baselineState "absent".
func SARIF(s Scan) ([]byte, error) {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{Name: "Pythorix", InformationURI: "https://pythorix.dev", Version: "1.0",
			Rules: []sarifRule{}}},
		AutomationDetails: sarifAutomation{ID: "pythorix/scan/" + s.ID},
		Invocations: []sarifInvocation{{ExecutionSuccessful: true, StartTimeUTC: timestamp(s.StartTime),
			EndTimeUTC: timestamp(s.EndTime)}},
		Results:    []sarifResult{},
		Properties: sarifRunProps{Target: s.AssetHost, Grade: s.Grade, Score: s.Score},
	}
	ruleIndex := map[string]int{}
	for _, e := range entries(s.Findings) {
		i, ok := ruleIndex[e.CheckID]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			ruleIndex[e.CheckID] = i
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRuleOf(e))
		}
		r := sarifResult{RuleID: e.CheckID, RuleIndex: i, Level: sarifLevel(e.Severity),
			Message:       sarifText{Text: cmp.Or(e.Detail, e.Title())},
			BaselineState: baselineStates[e.Status],
			Properties:    sarifResultProps{Status: e.Status, Subject: e.Subject, Evidence: e.Evidence}}
		if e.Location != "" {
			r.Locations = []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: e.Location}}}}
		}
		if e.Fingerprint != "" {
			r.PartialFingerprints = map[string]string{"pythorixFingerprint/v1": e.Fingerprint}
		}
		run.Results = append(run.Results, r)
	}
	return json.MarshalIndent(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0",
		Runs: []sarifRun{run}}, "", "  ")
}

// sarifRuleOf describes e's check as a SARIF rule. A check missing from the
// catalog gets a rule graded by the finding.
func sarifRuleOf(e entry) sarifRule {
	c := e.Check
	sev := c.Severity
	if sev == 0 {
		sev = e.Severity
	}
	r := sarifRule{ID: e.CheckID, Name: ruleName(e.CheckID), ShortDescription: sarifText{Text: e.Title()},
		DefaultConfiguration: sarifConfig{Level: sarifLevel(sev)},
		Properties:           sarifRuleProps{SecuritySeverity: securitySeverity(sev), Tags: []string{"security"}, Precision: "high"}}
	if c.Description != "" {
		r.FullDescription = &sarifText{Text: c.Description}
	}
	if c.Remediation != "" {
		md := c.Remediation
		if len(c.References) > 0 {
			md += "\n\nReferences:\n"
			for _, ref := range c.References {
				md += "\n- <" + ref + ">"
			}
		}
		r.Help = &sarifText{Text: c.Remediation, Markdown: md}
	}
	if len(c.References) > 0 {
		r.HelpURI = c.References[0]
	}
	for _, ref := range c.Compliance {
		if ref.Framework == catalog.CWEFramework {
			r.Properties.Tags = append(r.Properties.Tags, "external/cwe/"+strings.ToLower(ref.Control))
		} else {
			r.Properties.Tags = append(r.Properties.Tags, ref.Framework+"/"+ref.Control)
		}
	}
	return r
}

// ruleName turns a check id such as "tls.cert.weak_key" into "TlsCertWeakKey".
func ruleName(id string) string {
	var b strings.Builder
	for part := range strings.FieldsFuncSeq(id, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s finding.Severity) string {
	switch {
	case s >= finding.High:
		return "error"
	case s == finding.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub code scanning's numeric severity, as a string.
func securitySeverity(s finding.Severity) string {
	switch s {
	case finding.Critical:
		return "9.0"
	case finding.High:
		return "7.0"
	case finding.Medium:
		return "5.0"
	case finding.Low:
		return "3.0"
	}
	return "0.0"
}
