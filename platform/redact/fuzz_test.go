package redact

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzString: redaction never panics, is idempotent, keeps valid UTF-8 valid,
// and a planted secret value never survives it.
func FuzzString(f *testing.F) {
	f.Add("Set-Cookie: sid=abc123; Secure", "s3cr3tvalue42")
	f.Add("DB_PASSWORD=", "hunter2hunter2")
	f.Add("Authorization: Bearer ", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
	f.Add("postgres://app:", "pa55word@db/x")
	f.Fuzz(func(t *testing.T, prefix, value string) {
		s := prefix + value
		got := String(s)
		if String(got) != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, String(got))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("made invalid UTF-8 of %q", s)
		}
		// A value after a secret's name is never kept.
		if strings.HasSuffix(prefix, "DB_PASSWORD=") && len(value) >= 6 && !strings.ContainsAny(value, "\"' \t\n\r\v\f\u0085\u00a0&,;<>") &&
			strings.Contains(got, value) {
			t.Fatalf("kept %q in %q", value, got)
		}
		if len(Bound(s, 100)) > 100 {
			t.Fatal("Bound overran")
		}
	})
}
