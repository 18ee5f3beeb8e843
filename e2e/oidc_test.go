package e2e_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"

	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/services/identity"
)

const (
	oidcBindingCookie = "__Host-pythorix_oidc"
	sessionCookieName = "__Host-pythorix_session"
)

// testProvider is a real OIDC provider (discovery, authorize, token, JWKS)
// that can also misbehave on demand: a queued forgery rewrites the ID token
// of the next token response it sends.
type testProvider struct {
	*mockoidc.MockOIDC
	mu        sync.Mutex
	forgeries []forgery
}

// forgery turns the provider's ID token (its header and claims) into the
// token sent instead.
type forgery func(p *testProvider, header, claims map[string]any) string

// startProvider runs a testProvider over TLS with a certificate from
// pkiDir's CA.
func startProvider(t *testing.T, pkiDir string) *testProvider {
	t.Helper()
	paths := pki.GatewayHTTPSPaths(pkiDir)
	cert, err := tls.LoadX509KeyPair(paths.Cert, paths.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &testProvider{MockOIDC: m}
	if err := m.AddMiddleware(p.forge); err != nil {
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
	return p
}

// QueueForgery makes the next token response carry a forged ID token.
func (p *testProvider) QueueForgery(f forgery) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forgeries = append(p.forgeries, f)
}

func (p *testProvider) nextForgery() forgery {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.forgeries) == 0 {
		return nil
	}
	f := p.forgeries[0]
	p.forgeries = p.forgeries[1:]
	return f
}

// forge is the provider's middleware: on the token endpoint, with a forgery
// queued, it lets the provider answer and then replaces its ID token.
func (p *testProvider) forge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f forgery
		if r.URL.Path == mockoidc.TokenEndpoint {
			f = p.nextForgery()
		}
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := map[string]any{}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if idt, ok := body["id_token"].(string); ok && rec.Code == http.StatusOK {
			parts := strings.Split(idt, ".")
			header, claims := map[string]any{}, map[string]any{}
			if len(parts) == 3 {
				raw0, _ := base64.RawURLEncoding.DecodeString(parts[0])
				raw1, _ := base64.RawURLEncoding.DecodeString(parts[1])
				_ = json.Unmarshal(raw0, &header)
				_ = json.Unmarshal(raw1, &claims)
			}
			body["id_token"] = f(p, header, claims)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(body)
	})
}

// jws signs header and claims with RS256 under key ("" signature for alg none).
func jws(key *rsa.PrivateKey, header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if key == nil {
		return input + "."
	}
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// resigned is a forgery that edits the claims and signs them with the
// provider's own key: only the edit can make the token invalid.
func resigned(edit func(claims map[string]any)) forgery {
	return func(p *testProvider, header, claims map[string]any) string {
		edit(claims)
		return jws(p.Keypair.PrivateKey, header, claims)
	}
}

// browser is an HTTP client with its own cookie jar, that does not follow
// redirects (the test follows them, to look at each hop).
func (s *Suite) browser(t testing.TB) *http.Client {
	t.Helper()
	c := s.client()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Jar = jar
	return c
}

// cookie is the value of a browser's cookie for the suite ("" without one).
func (s *Suite) cookie(b *http.Client, name string) string {
	u, _ := url.Parse(s.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// identityFootprint counts what a sign-in leaves in identity's database:
// accounts, linked identities, sessions and pending second factors.
func (s *Suite) identityFootprint(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	conn := s.db(t, "identity")
	var users, identities, sessions, challenges int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM oidc_identities),
		(SELECT count(*) FROM sessions), (SELECT count(*) FROM mfa_challenges)`).Scan(&users, &identities, &sessions, &challenges); err != nil {
		t.Fatal(err)
	}
	return toJSON(map[string]int{"users": users, "oidc_identities": identities, "sessions": sessions, "mfa_challenges": challenges})
}

// oidcSuite is a suite whose identity signs in with the provider "acme".
func oidcSuite(t *testing.T) (*Suite, *testProvider) {
	t.Helper()
	var provider *testProvider
	s := StartSuite(t, SuiteOptions{Identity: func(c *identity.Config) {
		provider = startProvider(t, pkiDirOf(c))
		cfg := provider.Config()
		c.OIDC.CAFile = c.Mail.CAFile
		c.OIDC.Providers = []identity.OIDCProviderConfig{{Name: "acme", Issuer: provider.Issuer(), ClientID: cfg.ClientID,
			ClientSecret: secretOf(cfg.ClientSecret), Scopes: []string{"openid", "email", "profile"}}}
	}})
	return s, provider
}

// startOIDC runs a browser's part up to the provider's redirect: start (which
// binds the browser), authorize, and the callback URL the provider sends
// the browser to. It answers that URL and the start's Set-Cookie.
func (s *Suite) startOIDC(t *testing.T, b *http.Client) (string, *http.Cookie) {
	t.Helper()
	code, start, h := s.call(t, b, "GET", s.URL+"/v1/auth/oidc/acme/start", nil, "")
	authURL, _ := start["authorizationUrl"].(string)
	if code != 200 || authURL == "" {
		t.Fatalf("start: %d %v", code, start)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" || q.Get("state") != start["state"] {
		t.Fatalf("authorization request lacks PKCE, nonce or state: %s", authURL)
	}
	var bound *http.Cookie
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == oidcBindingCookie {
			bound = c
		}
	}
	if bound == nil || bound.Value == "" || strings.Contains(bound.Value, q.Get("state")) {
		t.Fatalf("start set no binding cookie (or one that holds the state): %v", h.Values("Set-Cookie"))
	}
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("provider answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cb := loc.Query()
	return s.URL + "/v1/auth/oidc/acme/callback?" + url.Values{"code": {cb.Get("code")}, "state": {cb.Get("state")}}.Encode(), bound
}

// signIn runs a whole sign-in in browser b.
func (s *Suite) signIn(t *testing.T, b *http.Client) (int, map[string]any) {
	t.Helper()
	callback, _ := s.startOIDC(t, b)
	code, out, _ := s.call(t, b, "GET", callback, nil, "")
	return code, out
}

// refusedWithoutTrace asserts a refused callback: the status, no credential
// in the answer or the browser, and nothing new in identity's database.
func (s *Suite) refusedWithoutTrace(t *testing.T, b *http.Client, want, code int, out map[string]any, before string) {
	t.Helper()
	if code != want {
		t.Fatalf("status %d, want %d (code %v, message %v)", code, want, out["code"], out["message"])
	}
	if out["accessToken"] != nil || out["mfaToken"] != nil || out["sessionId"] != nil || out["message"] == "" || out["message"] == nil {
		t.Fatalf("refusal carries a credential or no reason: %s", toJSON(slices.Sorted(maps.Keys(out))))
	}
	if c := s.cookie(b, sessionCookieName); c != "" {
		t.Fatal("a refused sign-in left a session cookie")
	}
	if after := s.identityFootprint(t); after != before {
		t.Fatalf("a refused sign-in left rows behind: %s, then %s", before, after)
	}
}

func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	s, provider := oidcSuite(t)

	t.Run("new account from a verified email", func(t *testing.T) {
		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-new", Email: "Olivia@Example.com", EmailVerified: true})
		b := s.browser(t)
		callback, bound := s.startOIDC(t, b)
		code, out, h := s.call(t, b, "GET", callback, nil, "")
		if code != 200 || out["accessToken"] == nil {
			t.Fatalf("callback: %d %v", code, out)
		}
		_, me := s.get(t, "/v1/me", out["accessToken"].(string))
		if u, _ := me["user"].(map[string]any); u["email"] != "olivia@example.com" || u["emailVerified"] != true {
			t.Fatalf("me: %v", me)
		}
		if s.cookie(b, sessionCookieName) == "" || s.cookie(b, oidcBindingCookie) != "" || !strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), oidcBindingCookie+"=;") {
			t.Fatalf("the callback should set the session cookie and clear the binding: %v", h.Values("Set-Cookie"))
		}
		// The state is single-use: replayed by the same browser, first
		// without the (spent) binding cookie, then with it put back.
		if code, out, _ := s.call(t, b, "GET", callback, nil, ""); code != 401 || out["accessToken"] != nil {
			t.Fatalf("replayed callback: %d %v", code, out)
		}
		replay := s.browser(t)
		u, _ := url.Parse(s.URL)
		replay.Jar.SetCookies(u, []*http.Cookie{{Name: oidcBindingCookie, Value: bound.Value, Path: "/", Secure: true}})
		code, out, _ = s.call(t, replay, "GET", callback, nil, "")
		if code != 401 || out["accessToken"] != nil || strings.Contains(out["message"].(string), oidcBindingCookie) {
			t.Fatalf("replayed callback with its binding cookie should be refused by identity (state spent): %d %v", code, out)
		}
	})

	t.Run("the binding cookie is __Host-, Secure, HttpOnly, SameSite=Lax and lives as long as the state", func(t *testing.T) {
		_, start, h := s.call(t, s.browser(t), "GET", s.URL+"/v1/auth/oidc/acme/start", nil, "")
		if start["authorizationUrl"] == nil {
			t.Fatalf("start: %v", start)
		}
		var line string
		for _, v := range h.Values("Set-Cookie") {
			if strings.HasPrefix(v, oidcBindingCookie+"=") {
				line = v
			}
		}
		for _, want := range []string{"Path=/", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"} {
			if !strings.Contains(line, want) {
				t.Errorf("Set-Cookie %q lacks %s", line, want)
			}
		}
		if strings.Contains(strings.ToLower(line), "domain=") {
			t.Errorf("a __Host- cookie must not name a domain: %q", line)
		}
	})

	t.Run("a callback presented by another browser is refused and does not spend the state", func(t *testing.T) {
		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-rita", Email: "rita@example.com", EmailVerified: true})
		victim := s.browser(t)
		callback, _ := s.startOIDC(t, victim)
		before := s.identityFootprint(t)

		// Login CSRF: another browser, with no binding cookie at all...
		attacker := s.browser(t)
		code, out, _ := s.call(t, attacker, "GET", callback, nil, "")
		s.refusedWithoutTrace(t, attacker, 401, code, out, before)
		// ...or with the binding cookie of a flow it started itself.
		if st, _, _ := s.call(t, attacker, "GET", s.URL+"/v1/auth/oidc/acme/start", nil, ""); st != 200 || s.cookie(attacker, oidcBindingCookie) == "" {
			t.Fatalf("attacker's start: %d", st)
		}
		code, out, _ = s.call(t, attacker, "GET", callback, nil, "")
		s.refusedWithoutTrace(t, attacker, 401, code, out, before)
		// The same browser, with the state of the URL altered.
		forged := strings.Replace(callback, "state=", "state=x", 1)
		code, out, _ = s.call(t, victim, "GET", forged, nil, "")
		s.refusedWithoutTrace(t, victim, 401, code, out, before)

		// The browser that started the flow still completes it.
		code, out, _ = s.call(t, victim, "GET", callback, nil, "")
		if code != 200 || out["accessToken"] == nil || s.cookie(victim, sessionCookieName) == "" {
			t.Fatalf("the browser that started the flow: %d %v", code, out)
		}
		_, me := s.get(t, "/v1/me", out["accessToken"].(string))
		if u, _ := me["user"].(map[string]any); u["email"] != "rita@example.com" {
			t.Fatalf("me: %v", me)
		}
	})

	t.Run("existing account linked through a verified email", func(t *testing.T) {
		s.signup(t, "paul@example.com", goodPassword)
		pw, _ := s.login(t, "paul@example.com", goodPassword)
		_, before := s.get(t, "/v1/me", pw)
		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-paul", Email: "paul@example.com", EmailVerified: true})
		code, out := s.signIn(t, s.browser(t))
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
		if code, out := s.signIn(t, s.browser(t)); code != 200 {
			t.Fatalf("victim's sign-in: %d %v", code, out)
		}
		if code, _ := s.post(t, "/v1/auth/login", map[string]any{"email": "victim@example.com", "password": "attacker chosen password"}, ""); code == 200 {
			t.Fatal("the attacker's password opened the victim's account")
		}
	})

	t.Run("an unverified email neither creates nor links", func(t *testing.T) {
		s.signup(t, "quinn@example.com", goodPassword)
		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-quinn", Email: "quinn@example.com", EmailVerified: false})
		b := s.browser(t)
		callback, _ := s.startOIDC(t, b)
		before := s.identityFootprint(t)
		code, out, _ := s.call(t, b, "GET", callback, nil, "")
		s.refusedWithoutTrace(t, b, 401, code, out, before)
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

// TestOIDCRefusesBadIDTokens has the provider answer the code exchange with
// an ID token that is forged, unsigned, or meant for another sign-in,
// client or issuer: each is refused with 401 and leaves nothing behind.
// The first case re-signs the token unchanged, to show that the forging
// itself does not break a sign-in: only what each case changes does.
func TestOIDCRefusesBadIDTokens(t *testing.T) {
	t.Parallel()
	s, provider := oidcSuite(t)
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name   string
		forge  forgery
		status int
	}{
		{"re-signed unchanged by the provider's key (control)", resigned(func(map[string]any) {}), 200},
		{"unsigned (alg none)", func(_ *testProvider, header, claims map[string]any) string {
			header["alg"] = "none"
			delete(header, "kid")
			return jws(nil, header, claims)
		}, 401},
		{"signed by another key under the provider's key id", func(_ *testProvider, header, claims map[string]any) string {
			return jws(foreign, header, claims)
		}, 401},
		{"signed by another key under its own key id", func(_ *testProvider, header, claims map[string]any) string {
			header["kid"] = "attacker"
			return jws(foreign, header, claims)
		}, 401},
		{"HS256 keyed with the provider's public key", func(p *testProvider, header, claims map[string]any) string {
			header["alg"] = "HS256"
			tok := jws(p.Keypair.PrivateKey, header, claims) // the signature part is replaced below
			return tok[:strings.LastIndex(tok, ".")+1] + base64.RawURLEncoding.EncodeToString(p.Keypair.PublicKey.N.Bytes())
		}, 401},
		{"the nonce of another sign-in", resigned(func(c map[string]any) { c["nonce"] = "not-the-nonce-of-this-flow" }), 401},
		{"no nonce", resigned(func(c map[string]any) { delete(c, "nonce") }), 401},
		{"for another client (aud)", resigned(func(c map[string]any) { c["aud"] = []string{"another-client"} }), 401},
		{"from another issuer (iss)", resigned(func(c map[string]any) { c["iss"] = "https://attacker.example" }), 401},
		{"expired", resigned(func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := "forged" + string(rune('a'+i)) + "@example.com"
			provider.QueueUser(&mockoidc.MockUser{Subject: "sub-forged-" + string(rune('a'+i)), Email: email, EmailVerified: true})
			provider.QueueForgery(tc.forge)
			b := s.browser(t)
			callback, _ := s.startOIDC(t, b)
			before := s.identityFootprint(t)
			code, out, _ := s.call(t, b, "GET", callback, nil, "")
			if tc.status != 200 {
				s.refusedWithoutTrace(t, b, tc.status, code, out, before)
				return
			}
			if code != 200 || out["accessToken"] == nil {
				t.Fatalf("control: %d %v", code, out)
			}
			if after := s.identityFootprint(t); after == before {
				t.Fatalf("the control sign-in left no account or session: %s", after)
			}
		})
	}
}

// TestMFAOnEveryPathway shows that TOTP, once on, is asked on every way in:
// an OIDC sign-in and a password login after a reset by email.
func TestMFAOnEveryPathway(t *testing.T) {
	t.Parallel()
	s, provider := oidcSuite(t)

	// completeMFA finishes a sign-in with the current TOTP code and answers the user it opened.
	completeMFA := func(t *testing.T, mfaToken, secret string) map[string]any {
		t.Helper()
		if code, out := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfaToken, "code": "000000"}, ""); code != 400 || out["accessToken"] != nil {
			t.Fatalf("a wrong TOTP code: %d %v", code, out)
		}
		now, _ := totp.GenerateCode(secret, time.Now())
		code, out := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfaToken, "code": now}, "")
		if code != 200 || out["accessToken"] == nil {
			t.Fatalf("login with the TOTP code: %d %v", code, out)
		}
		_, me := s.get(t, "/v1/me", out["accessToken"].(string))
		u, _ := me["user"].(map[string]any)
		return u
	}

	t.Run("an OIDC sign-in of a TOTP user asks for the second factor", func(t *testing.T) {
		email := "tess@example.com"
		s.signup(t, email, goodPassword)
		token, _ := s.login(t, email, goodPassword)
		_, me := s.get(t, "/v1/me", token)
		secret := s.enrolTOTPOverREST(t, token, "")

		provider.QueueUser(&mockoidc.MockUser{Subject: "sub-tess", Email: email, EmailVerified: true})
		b := s.browser(t)
		code, out := s.signIn(t, b)
		mfaToken, _ := out["mfaToken"].(string)
		if code != 200 || out["mfaRequired"] != true || mfaToken == "" || out["accessToken"] != nil || out["sessionId"] != nil {
			t.Fatalf("OIDC sign-in with TOTP on: %d %v", code, out)
		}
		if s.cookie(b, sessionCookieName) != "" {
			t.Fatal("a sign-in still waiting for its second factor set a session cookie")
		}
		if st, _ := s.get(t, "/v1/me", mfaToken); st != 401 {
			t.Fatalf("the MFA token opened /v1/me: %d", st)
		}
		if u := completeMFA(t, mfaToken, secret); u["id"] != me["user"].(map[string]any)["id"] {
			t.Fatalf("MFA completed into another account: %v", u)
		}
	})

	t.Run("a password reset by email keeps TOTP: the next login asks for it", func(t *testing.T) {
		email := "uma@example.com"
		s.signup(t, email, goodPassword)
		token, _ := s.login(t, email, goodPassword)
		secret := s.enrolTOTPOverREST(t, token, "")

		n := s.Mail.Count(email)
		if code, _ := s.post(t, "/v1/auth/password-reset", map[string]any{"email": email}, ""); code != 200 {
			t.Fatal(code)
		}
		resetCode := Code(t, s.Mail.Wait(t, email, n+1))
		const newPassword = "a reset passphrase for uma"
		code, out := s.post(t, "/v1/auth/password-reset:confirm", map[string]any{"email": email, "code": resetCode, "newPassword": newPassword}, "")
		if code != 200 || out["accessToken"] != nil {
			t.Fatalf("reset: %d %v", code, out)
		}
		if code, _ := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": goodPassword}, ""); code != 401 {
			t.Fatalf("the old password after a reset: %d", code)
		}
		code, out = s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": newPassword}, "")
		mfaToken, _ := out["mfaToken"].(string)
		if code != 200 || out["mfaRequired"] != true || mfaToken == "" || out["accessToken"] != nil {
			t.Fatalf("login after the reset: %d %v", code, out)
		}
		if u := completeMFA(t, mfaToken, secret); u["email"] != email {
			t.Fatalf("me: %v", u)
		}
	})
}
