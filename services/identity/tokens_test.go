package identity

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func testKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func testTokens(t *testing.T, spec string) *Tokens {
	t.Helper()
	keys, err := ParseTokenKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &Tokens{keys: keys, issuer: "pythorix", audience: "pythorix-api", ttl: 24 * time.Hour}
}

func TestAccessTokenAttacks(t *testing.T) {
	t.Parallel()
	k1 := testKey()
	tokens := testTokens(t, "k1:"+k1)
	now := time.Now()
	valid, _, err := tokens.Issue("user-1", "session-1", now)
	if err != nil {
		t.Fatal(err)
	}
	rawKey, _ := base64.StdEncoding.DecodeString(k1)
	claims := func() Claims {
		return Claims{SessionID: "session-1", RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "pythorix", Subject: "user-1", Audience: jwt.ClaimStrings{"pythorix-api"},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}}
	}
	sign := func(m jwt.SigningMethod, c Claims, kid any, key any) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != nil {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	with := func(f func(*Claims)) Claims { c := claims(); f(&c); return c }
	mfa, _ := tokens.IssueMFA("user-1", "challenge", now, 5*time.Minute)

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"issued token", valid, true},
		{"hand-built valid token", sign(jwt.SigningMethodHS256, claims(), "k1", rawKey), true},
		{"alg none", sign(jwt.SigningMethodNone, claims(), "k1", jwt.UnsafeAllowNoneSignatureType), false},
		{"HS512 with the right key", sign(jwt.SigningMethodHS512, claims(), "k1", rawKey), false},
		{"HS384 with the right key", sign(jwt.SigningMethodHS384, claims(), "k1", rawKey), false},
		{"unknown kid", sign(jwt.SigningMethodHS256, claims(), "k9", rawKey), false},
		{"no kid", sign(jwt.SigningMethodHS256, claims(), nil, rawKey), false},
		{"numeric kid", sign(jwt.SigningMethodHS256, claims(), 1, rawKey), false},
		{"wrong key", sign(jwt.SigningMethodHS256, claims(), "k1", []byte(strings.Repeat("x", 32))), false},
		{"tampered payload", tamper(valid), false},
		{"expired", sign(jwt.SigningMethodHS256, with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) }), "k1", rawKey), false},
		{"no expiry", sign(jwt.SigningMethodHS256, with(func(c *Claims) { c.ExpiresAt = nil }), "k1", rawKey), false},
		{"not yet valid", sign(jwt.SigningMethodHS256, with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }), "k1", rawKey), false},
		{"issued in the future", sign(jwt.SigningMethodHS256, with(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) }), "k1", rawKey), false},
		{"wrong issuer", sign(jwt.SigningMethodHS256, with(func(c *Claims) { c.Issuer = "evil" }), "k1", rawKey), false},
		{"wrong audience", sign(jwt.SigningMethodHS256, with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} }), "k1", rawKey), false},
		{"no session", sign(jwt.SigningMethodHS256, with(func(c *Claims) { c.SessionID = "" }), "k1", rawKey), false},
		{"no subject", sign(jwt.SigningMethodHS256, with(func(c *Claims) { c.Subject = "" }), "k1", rawKey), false},
		{"MFA token used as an access token", mfa, false},
		{"garbage", "not.a.token", false},
		{"oversized", strings.Repeat("a", 5000), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tokens.Verify(tc.token, now)
			if (err == nil) != tc.ok {
				t.Fatalf("Verify err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := tokens.VerifyMFA(valid, now); err == nil {
		t.Error("an access token was accepted as an MFA token")
	}
	if _, err := tokens.VerifyMFA(mfa, now); err != nil {
		t.Errorf("MFA token refused: %v", err)
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), "user-1", "user-2", 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// A rotation adds a key in front; tokens signed by the old key keep working
// until it is removed from the ring.
func TestKeyRotationLogsNobodyOut(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(), testKey()
	now := time.Now()
	old, _, err := testTokens(t, "k1:"+k1).Issue("u", "s", now)
	if err != nil {
		t.Fatal(err)
	}
	rotated := testTokens(t, "k2:"+k2+",k1:"+k1)
	if _, err := rotated.Verify(old, now); err != nil {
		t.Fatalf("old token refused after rotation: %v", err)
	}
	fresh, _, _ := rotated.Issue("u", "s", now)
	if tok, _, _ := jwt.NewParser().ParseUnverified(fresh, &Claims{}); tok.Header["kid"] != "k2" {
		t.Fatalf("new tokens signed with %v", tok.Header["kid"])
	}
	if _, err := testTokens(t, "k2:"+k2).Verify(old, now); err == nil {
		t.Fatal("token of a retired key accepted")
	}
}

func FuzzVerifyToken(f *testing.F) {
	tokens := &Tokens{keys: &TokenKeys{current: "k", keys: map[string][]byte{"k": make([]byte, 32)}}, issuer: "i", audience: "a", ttl: time.Hour}
	tok, _, _ := tokens.Issue("u", "s", time.Unix(1700000000, 0))
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := tokens.Verify(s, time.Unix(1700000000, 0)); err == nil && s != tok {
			// Any accepted token must carry our issuer and a session.
			if c.Issuer != "i" || c.SessionID == "" {
				t.Fatalf("accepted %q with claims %+v", s, c)
			}
		}
	})
}
