package redact

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBoundCutsOnARuneBoundary(t *testing.T) {
	s := strings.Repeat("a", 99) + "é" + "tail" // é is 2 bytes, straddling the limit
	got := Bound(s, 100)
	if len(got) != 99 || !utf8.ValidString(got) {
		t.Fatalf("len %d valid %v", len(got), utf8.ValidString(got))
	}
	if Bound("short", 100) != "short" || Bound("abc", 0) != "" {
		t.Fatal("short strings are kept whole")
	}
}

func TestRedact(t *testing.T) {
	secrets := map[string]string{
		"set-cookie":   "Set-Cookie: sessionid=s3cr3tvalue42; Path=/; Secure; SameSite=Lax",
		"cookie":       "Cookie: a=s3cr3tvalue42; b=other",
		"bearer":       "Authorization: Bearer s3cr3tvalue42",
		"basic":        "Authorization: Basic s3cr3tvalue42",
		"jwt":          "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.s3cr3tvalue42sig",
		"aws":          "id AKIAS3CR3TVALUE42XYZ in logs",
		"github":       "ghp_s3cr3tvalue42s3cr3tvalue42s3cr3t",
		"slack":        "xoxb-s3cr3tvalue42-abc",
		"stripe":       "sk_live_s3cr3tvalue42",
		"url":          "postgres://app:s3cr3tvalue42@db.internal:5432/app",
		"env-password": "DB_PASSWORD=s3cr3tvalue42",
		"env-key":      "STRIPE_KEY=s3cr3tvalue42",
		"env-quoted":   `SECRET_KEY_BASE="s3cr3tvalue42"`,
		"json":         `{"api_key": "s3cr3tvalue42"}`,
		"query":        "https://x.example/cb?access_token=s3cr3tvalue42&x=1",
		"pem":          "-----BEGIN RSA PRIVATE KEY-----\nMIIs3cr3tvalue42\n-----END RSA PRIVATE KEY-----",
		"ours":         "pyx_s3cr3tvalue42abcdef",
	}
	for name, in := range secrets {
		got := String(in)
		if strings.Contains(got, "s3cr3tvalue42") || !strings.Contains(got, Redacted) {
			t.Errorf("%s: %q -> %q", name, in, got)
		}
	}
	// What shows a problem stays readable.
	keep := []string{
		"Set-Cookie: sessionid=" + Redacted + "; Path=/; Secure; SameSite=None",
		"Access-Control-Allow-Credentials: true",
		"Strict-Transport-Security: max-age=300",
		"Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'",
		"Server: nginx/1.18.0",
	}
	for _, in := range keep {
		if got := String(in); got != in {
			t.Errorf("%q -> %q", in, got)
		}
	}
}
