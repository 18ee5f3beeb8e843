package report

import (
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func TestHTML(t *testing.T) {
	out, err := HTML(sample())
	if err != nil {
		t.Fatal(err)
	}
	page := string(out)
	for _, bad := range []string{"<script", "</pre>&", `"'</pre>`, "<link", "<img", "style="} {
		if strings.Contains(page, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	for _, want := range []string{
		`<div class="grade" title="Grade">B&#43;</div>`, // html/template escapes "+"
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"RESOLVED",
		"Git repository exposed",
		"csp-not-implemented",
		"OWASP Top 10 2021",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestStyleCSPMatchesPage(t *testing.T) {
	out, err := HTML(Scan{})
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllSubmatch(out, -1)
	if len(blocks) != 1 || strings.Count(string(out), "<style") != 1 {
		t.Fatalf("want exactly one style element, found %d", len(blocks))
	}
	sum := sha256.Sum256(blocks[0][1])
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(StyleCSP, want) {
		t.Errorf("StyleCSP %q lacks %q", StyleCSP, want)
	}
	if !strings.HasPrefix(StyleCSP, "default-src 'none';") {
		t.Errorf("StyleCSP = %q", StyleCSP)
	}
}
