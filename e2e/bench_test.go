package e2e_test

import (
	"context"
	"slices"
	"testing"
	"time"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/authz"
	"github.com/pythorix/pythorix/platform/server/servertest"
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

// authzBench prepares a member's principal and the authorizer services use.
func authzBench(b *testing.B) (*authz.Checker, *identityv1.Principal, string, *optionsv1.Access) {
	s := StartSuite(b)
	s.signup(b, "bench@example.com", goodPassword)
	tok, _ := s.login(b, "bench@example.com", goodPassword)
	_, out := s.req(b, "POST", "/v1/orgs", map[string]any{"name": "Bench"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)
	p, err := s.Gateway.Authenticate(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	conn := servertest.Dial(b, s.PKI, "gateway", "tenancy", s.gatewayEnv["PYTHORIX_TENANCY_ADDR"])
	checker := authz.NewChecker(authz.TenancyResolver{Client: tenancyv1.NewTenancyServiceClient(conn)}, time.Minute)
	return checker, p, org, &optionsv1.Access{Kind: &optionsv1.Access_Permission{Permission: "assets.read"}, OrgScoped: true}
}

// BenchmarkAuthorizeWarm is the authorization check of one call when the
// member's role is cached: no network round trip.
func BenchmarkAuthorizeWarm(b *testing.B) {
	checker, p, org, rule := authzBench(b)
	ctx := context.Background()
	if err := checker.Check(ctx, p, org, rule); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := checker.Check(ctx, p, org, rule); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizeAfterRoleChange is the first check after a membership
// change evicted the cached role: one mTLS call to tenancy and a Postgres read.
func BenchmarkAuthorizeAfterRoleChange(b *testing.B) {
	checker, p, org, rule := authzBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		checker.Forget(org, p.GetUserId())
		if err := checker.Check(ctx, p, org, rule); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayLag drives privileged actions (organisation renames) through the
// gateway and reports how long their audit events took to reach the chain:
// append time minus event time, from the events themselves.
func BenchmarkRelayLag(b *testing.B) {
	s := StartSuite(b)
	s.signup(b, "lag@example.com", goodPassword)
	tok, _ := s.login(b, "lag@example.com", goodPassword)
	_, out := s.req(b, "POST", "/v1/orgs", map[string]any{"name": "Lag"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code, _ := s.req(b, "PATCH", "/v1/orgs/"+org, map[string]any{"name": "renamed"}, tok, ""); code != 200 {
				b.Error(code)
				return
			}
		}
	})
	b.StopTimer()
	var lags []time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for len(lags) < b.N+1 && time.Now().Before(deadline) {
		lags = lags[:0]
		page := ""
		for {
			_, out := s.req(b, "GET", "/v1/audit/events?pageSize=100&pageToken="+page, nil, tok, org)
			events, _ := out["events"].([]any)
			for _, e := range events {
				m := e.(map[string]any)
				at, _ := time.Parse(time.RFC3339Nano, m["time"].(string))
				ap, _ := time.Parse(time.RFC3339Nano, m["appendTime"].(string))
				lags = append(lags, ap.Sub(at))
			}
			next, _ := out["nextPageToken"].(string)
			if next == "" {
				break
			}
			page = next
		}
	}
	if len(lags) < b.N+1 {
		b.Fatalf("only %d of %d events arrived", len(lags), b.N+1)
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-lag-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-lag-ms")
}
