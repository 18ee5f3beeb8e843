package identity

import (
	"strings"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, password string
		wantReason     string
	}{
		{"passphrase", "correct horse battery staple", ""},
		{"random", "Xk9#mQ2$vL7@pN4&", ""},
		{"eleven characters", "abcdefghijk", "at least 12"},
		{"twelve multi-byte characters are enough", "ĉĝĥĵŝŭĉĝĥĵŝŭ", ""},
		{"73 bytes", strings.Repeat("x", 73), "at most 72 bytes"},
		{"72 bytes of good text", "this passphrase is exactly seventy-two bytes long, give or take a biscuit"[:72], ""},
		{"common password", "contortionist", "common"},
		{"common password with digits", "password1234", "guess"},
		{"keyboard walk", "qwertyuiopasdf", "guess"},
		{"repeated character", "aaaaaaaaaaaaaaaa", "guess"},
		{"the user's own email", "alice@example.com", "guess"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckPassword(tc.password, "alice@example.com", "Alice")
			if tc.wantReason == "" && got != "" {
				t.Fatalf("rejected: %s", got)
			}
			if tc.wantReason != "" && !strings.Contains(got, tc.wantReason) {
				t.Fatalf("reason %q, want it to mention %q", got, tc.wantReason)
			}
		})
	}
	if n := len(commonPasswords); n < 5000 {
		t.Fatalf("common-password list has only %d entries", n)
	}
}

func BenchmarkCheckPassword72(b *testing.B) {
	pw := strings.Repeat("Xk9#mQ2$", 9)
	for b.Loop() {
		_ = CheckPassword(pw, "alice@example.com")
	}
}
