package report

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestSARIF(t *testing.T) {
	s := sample()
	out, err := SARIF(s)
	if err != nil {
		t.Fatal(err)
	}
	var log map[string]any
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	if log["version"] != "2.1.0" || log["$schema"] != "https://json.schemastore.org/sarif-2.1.0.json" {
		t.Fatalf("bad header: %v %v", log["version"], log["$schema"])
	}
	runs := log["runs"].([]any)
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	run := runs[0].(map[string]any)
	if id := run["automationDetails"].(map[string]any)["id"]; id != "pythorix/scan/scan-1" {
		t.Errorf("automationDetails.id = %v", id)
	}
	driver := run["tool"].(map[string]any)["driver"].(map[string]any)
	rules := driver["rules"].([]any)
	if driver["name"] != "Pythorix" || len(rules) != 4 {
		t.Fatalf("driver %v with %d rules", driver["name"], len(rules))
	}
	for _, r := range rules {
		rule := r.(map[string]any)
		props := rule["properties"].(map[string]any)
		if _, ok := props["security-severity"].(string); !ok {
			t.Errorf("rule %v: security-severity %#v is not a string", rule["id"], props["security-severity"])
		}
		if rule["id"] == "exposure.env" {
			tags := props["tags"].([]any)
			if props["security-severity"] != "9.0" || !slices.Contains(tags, any("external/cwe/cwe-538")) ||
				!slices.Contains(tags, any("OWASP-TOP10-2021/A05:2021")) || rule["helpUri"] == "" {
				t.Errorf("exposure.env rule: %v", rule)
			}
		}
	}
	byFingerprint := map[string]Finding{}
	for _, f := range s.Findings {
		byFingerprint[f.Fingerprint] = f
	}
	results := run["results"].([]any)
	if len(results) != len(s.Findings) {
		t.Fatalf("%d results for %d findings", len(results), len(s.Findings))
	}
	wantState := map[string]string{"NEW": "new", "PERSISTING": "unchanged", "REGRESSED": "new", "RESOLVED": "absent"}
	for _, x := range results {
		res := x.(map[string]any)
		rule := rules[int(res["ruleIndex"].(float64))].(map[string]any)
		if rule["id"] != res["ruleId"] {
			t.Errorf("ruleIndex points to %v, ruleId is %v", rule["id"], res["ruleId"])
		}
		f := byFingerprint[res["partialFingerprints"].(map[string]any)["pythorixFingerprint/v1"].(string)]
		uri := res["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)["artifactLocation"].(map[string]any)["uri"]
		if uri != f.Location {
			t.Errorf("uri = %v, want %v", uri, f.Location)
		}
		if res["baselineState"] != wantState[f.Status] {
			t.Errorf("%s: baselineState = %v", f.Status, res["baselineState"])
		}
		if f.ID == "f-crit" && res["level"] != "error" || f.ID == "f-med" && res["level"] != "warning" || f.ID == "f-low" && res["level"] != "note" {
			t.Errorf("%s: level %v", f.ID, res["level"])
		}
	}
}
