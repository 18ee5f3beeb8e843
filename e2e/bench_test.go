package e2e_test

import (
	"context"
	"testing"
)

// BenchmarkGatewayAuthenticateJWT is the per-request cost of authenticating
// an access token at the gateway after its first use (verified by identity
// once, then served from the revocation-aware cache).
func BenchmarkGatewayAuthenticateJWT(b *testing.B) {
	s := StartSuite(b)
	s.signup(b, "bench@example.com", goodPassword)
	tok, _ := s.login(b, "bench@example.com", goodPassword)
	ctx := context.Background()
	if _, err := s.Gateway.Authenticate(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Gateway.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
