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

// BenchmarkGatewayAuthenticateAPIKey is the same for an API key: the keyed
// hash is checked once by identity, then the key is served from the cache.
func BenchmarkGatewayAuthenticateAPIKey(b *testing.B) {
	s := StartSuite(b)
	s.signup(b, "bench@example.com", goodPassword)
	tok, _ := s.login(b, "bench@example.com", goodPassword)
	_, out := s.req(b, "POST", "/v1/orgs", map[string]any{"name": "Bench"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)
	_, out = s.req(b, "POST", "/v1/api-keys", map[string]any{"name": "bench", "scopes": []string{"orgs.read"}}, tok, org)
	key, _ := out["key"].(string)
	ctx := context.Background()
	if _, err := s.Gateway.Authenticate(ctx, key); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Gateway.Authenticate(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}
