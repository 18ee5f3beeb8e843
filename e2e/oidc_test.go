package e2e_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/services/identity"
)

// startProvider runs a real OIDC provider (discovery, authorize, token,
// JWKS) over TLS with a certificate from pkiDir's CA.
func startProvider(t *testing.T, pkiDir string) *mockoidc.MockOIDC {
	t.Helper()
	p := pki.GatewayHTTPSPaths(pkiDir)
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(tls.NewListener(lis, cfg), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	var provider *mockoidc.MockOIDC
	s := StartSuite(t, SuiteOptions{Identity: func(c *identity.Config) {
		provider = startProvider(t, pkiDirOf(c))
		cfg := provider.Config()
		c.OIDC.CAFile = c.Mail.CAFile
		c.OIDC.Providers = []identity.OIDCProviderConfig{{Name: "acme", Issuer: provider.Issuer(), ClientID: cfg.ClientID,
			ClientSecret: secretOf(cfg.ClientSecret), Scopes: []string{"openid", "email", "profile"}}}
	}})

	// signIn runs the browser's part: start, follow the provider's redirect, call back.
	signIn := func(t *testing.T) (int, map[string]any, url.Values) {
		t.Helper()
		code, start := s.get(t, "/v1/auth/oidc/acme/start", "")
		authURL, _ := start["authorizationUrl"].(string)
		if code != 200 || authURL == "" {
			t.Fatalf("start: %d %v", code, start)
		}
		u, _ := url.Parse(authURL)
		q := u.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") != start["state"] {
			t.Fatalf("authorization request lacks PKCE, nonce or state: %s", authURL)
		}
		resp, err := s.Client.Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("provider answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		cb := loc.Query()
		st, out := s.get(t, "/v1/auth/oidc/acme/callback?"+url.Values{"code": {cb.Get("code")}, "state": {cb.Get("state")}}.Encode(), "")
		return st, out, cb
	}

	t.Run("new account from a verified email", func(t *testing.T) {
		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-new", Email: "Olivia@Example.com", EmailVerified: true})
		code, out, cb := signIn(t)
		if code != 200 || out["accessToken"] == nil {
			t.Fatalf("callback: %d %v", code, out)
		}
		_, me := s.get(t, "/v1/me", out["accessToken"].(string))
		if u, _ := me["user"].(map[string]any); u["email"] != "olivia@example.com" || u["emailVerified"] != true {
			t.Fatalf("me: %v", me)
		}
		// The state is single-use.
		if st, _ := s.get(t, "/v1/auth/oidc/acme/callback?"+url.Values{"code": {cb.Get("code")}, "state": {cb.Get("state")}}.Encode(), ""); st != 401 {
			t.Fatalf("replayed callback: %d", st)
		}
	})

	t.Run("existing account linked through a verified email", func(t *testing.T) {
		s.signup(t, "paul@example.com", goodPassword)
		pw, _ := s.login(t, "paul@example.com", goodPassword)
		_, before := s.get(t, "/v1/me", pw)
		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-paul", Email: "paul@example.com", EmailVerified: true})
		code, out, _ := signIn(t)
		if code != 200 {
			t.Fatalf("callback: %d %v", code, out)
		}
		_, after := s.get(t, "/v1/me", out["accessToken"].(string))
		if before["user"].(map[string]any)["id"] != after["user"].(map[string]any)["id"] {
			t.Fatalf("linked to another account: %v vs %v", before, after)
		}
	})

	t.Run("an account pre-registered by someone else loses its password when the owner signs in", func(t *testing.T) {
		// The attacker registers the victim's address and never verifies it...
		if code, _ := s.post(t, "/v1/auth/signup", map[string]any{"email": "victim@example.com", "password": "attacker chosen password", "name": "X"}, ""); code != 200 {
			t.Fatal(code)
		}
		// ...then the victim signs in with the provider, which has verified the address.
		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-victim", Email: "victim@example.com", EmailVerified: true})
		if code, out, _ := signIn(t); code != 200 {
			t.Fatalf("victim's sign-in: %d %v", code, out)
		}
		if code, _ := s.post(t, "/v1/auth/login", map[string]any{"email": "victim@example.com", "password": "attacker chosen password"}, ""); code == 200 {
			t.Fatal("the attacker's password opened the victim's account")
		}
	})

	t.Run("an unverified email neither creates nor links", func(t *testing.T) {
		s.signup(t, "quinn@example.com", goodPassword)
		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-quinn", Email: "quinn@example.com", EmailVerified: false})
		if code, out, _ := signIn(t); code != 401 {
			t.Fatalf("unverified email: %d %v", code, out)
		}
	})

	t.Run("forged state and unknown provider", func(t *testing.T) {
		if st, _ := s.get(t, "/v1/auth/oidc/acme/callback?code=x&state=forged", ""); st != 401 {
			t.Fatalf("forged state: %d", st)
		}
		if st, _ := s.get(t, "/v1/auth/oidc/nope/start", ""); st != 404 {
			t.Fatalf("unknown provider: %d", st)
		}
	})
}
