package finding

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanBoundsOnARuneBoundary(t *testing.T) {
	if got := Clean(strings.Repeat("€", 4000)); len(got) > MaxEvidence || !utf8.ValidString(got) {
		t.Fatalf("clean: len %d", len(got))
	}
	if got := Clean("Set-Cookie: sid=s3cr3t; Secure"); strings.Contains(got, "s3cr3t") {
		t.Fatalf("clean kept a secret: %q", got)
	}
}

func TestCleanMakesStorableText(t *testing.T) {
	got := Clean("a\x00b\xffc")
	if got != "ab\uFFFDc" {
		t.Fatalf("got %q", got)
	}
}

func TestFingerprintIsStable(t *testing.T) {
	a := Fingerprint(HSTSMissing, "https://Example.com/app?x=1", "Strict-Transport-Security")
	b := Fingerprint(HSTSMissing, "https://example.com/app?y=2#f", "strict-transport-security")
	if a != b || len(a) != 32 {
		t.Fatalf("%s != %s", a, b)
	}
	if a == Fingerprint(HSTSMissing, "https://example.com/other", "strict-transport-security") ||
		a == Fingerprint(CSPMissing, "https://example.com/app", "strict-transport-security") {
		t.Fatal("different findings share a fingerprint")
	}
}

func FuzzClean(f *testing.F) {
	f.Add("Set-Cookie: sid=abc; Secure")
	f.Add("DB_PASSWORD=hunter2\nAPI_KEY=xyz")
	f.Add(strings.Repeat("é", 3000))
	f.Fuzz(func(t *testing.T, s string) {
		got := Clean(s)
		if len(got) > MaxEvidence || !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("Clean(%q) = %q", s, got)
		}
		if Clean(got) != got {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
	})
}
