// Package redact keeps secrets out of what the platform stores or shows:
// evidence a scanner saw, a webhook receiver's response, an error text.
package redact

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Redacted replaces every secret String finds.
const Redacted = "[REDACTED]"

// Bound cuts s to at most n bytes without splitting a UTF-8 sequence.
func Bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Text makes text a stranger sent fit to store or show: valid UTF-8, no NUL
// bytes, secrets redacted, at most n bytes.
func Text(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	return Bound(String(s), n)
}

// redactions are the secrets evidence may carry, each with what replaces
// it. A group named "keep" survives (the name of the secret, not its
// value).
var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	// PEM private keys, whole.
	{regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)`), Redacted},
	// Cookie values in Set-Cookie and Cookie headers.
	{regexp.MustCompile(`(?im)^(set-cookie:\s*[^=;\s]+=)[^;\r\n]*`), "${1}" + Redacted},
	{regexp.MustCompile(`(?im)^(cookie:\s*).*$`), "${1}" + Redacted},
	// Authorization headers.
	{regexp.MustCompile(`(?i)((?:proxy-)?authorization:\s*(?:\w+\s+)?)\S+`), "${1}" + Redacted},
	{regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}`), "${1}" + Redacted},
	// JSON Web Tokens.
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), Redacted},
	// Well-known token shapes: AWS, GitHub, Slack, Stripe, Google, our own.
	{regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`), Redacted},
	{regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{20,}\b`), Redacted},
	{regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`), Redacted},
	{regexp.MustCompile(`\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}`), Redacted},
	{regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{30,}`), Redacted},
	{regexp.MustCompile(`\b(?:pyx|whsec)_[A-Za-z0-9_+/=-]{10,}`), Redacted},
	// Credentials in URLs.
	{regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@`), "${1}" + Redacted + "@"},
	// key=value and key: value pairs whose name says secret (.env files,
	// query strings, JSON, error pages).
	{regexp.MustCompile(`(?i)([A-Za-z0-9_.-]*(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key|[_-]key|auth[_-]?code|session[_-]?id|sid|dsn|database_url|salt)[A-Za-z0-9_.-]*["']?\s*[:=]\s*["']?)[^"'\s&,;<>]+`), "${1}" + Redacted},
}

// String replaces the secrets in s (tokens, keys, passwords, cookie
// values, credentials in URLs) with [REDACTED]. It errs towards redacting
// too much: evidence must show a problem, never hand over a secret.
func String(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}
