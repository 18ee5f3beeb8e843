package identity

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenKeys is the HS256 signing key ring.
type TokenKeys struct {
	current string
	keys    map[string][]byte
}

var kidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ParseTokenKeys reads "kid:base64key[,kid:base64key...]" with keys of at
// least 32 bytes. The first key signs.
func ParseTokenKeys(spec string) (*TokenKeys, error) {
	k := &TokenKeys{keys: map[string][]byte{}}
	for i, part := range strings.Split(spec, ",") {
		kid, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !kidRE.MatchString(kid) {
			return nil, fmt.Errorf("jwt keys: entry %d: want kid:base64key", i+1)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			raw, err = base64.RawURLEncoding.DecodeString(b64)
		}
		if err != nil || len(raw) < 32 {
			return nil, fmt.Errorf("jwt keys: key %q must be at least 32 bytes of base64", kid)
		}
		if _, dup := k.keys[kid]; dup {
			return nil, fmt.Errorf("jwt keys: key id %q appears twice", kid)
		}
		k.keys[kid] = raw
		if i == 0 {
			k.current = kid
		}
	}
	return k, nil
}

// Claims are an access token's claims.
type Claims struct {
	SessionID string `json:"sid"`
	Purpose   string `json:"pur,omitempty"`
	jwt.RegisteredClaims
}

// Tokens issues and verifies access tokens and MFA tokens.
type Tokens struct {
	keys     *TokenKeys
	issuer   string
	audience string
	ttl      time.Duration
}

const mfaAudienceSuffix = "#mfa"

// Issue signs an access token for a session.
func (t *Tokens) Issue(userID, sessionID string, now time.Time) (string, time.Time, error) {
	exp := now.Add(t.ttl)
	tok, err := t.sign(Claims{SessionID: sessionID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: t.issuer, Subject: userID, Audience: jwt.ClaimStrings{t.audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		ID: randomID(),
	}})
	return tok, exp, err
}

// IssueMFA signs a short-lived token naming a pending second-factor login.
// Its audience differs from access tokens', so one can never pass for the other.
func (t *Tokens) IssueMFA(userID, challengeID string, now time.Time, ttl time.Duration) (string, error) {
	return t.sign(Claims{Purpose: "mfa", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: t.issuer, Subject: userID, Audience: jwt.ClaimStrings{t.audience + mfaAudienceSuffix},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID: challengeID,
	}})
}

func (t *Tokens) sign(c Claims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = t.keys.current
	return tok.SignedString(t.keys.keys[t.keys.current])
}

// ErrInvalidToken covers every way a token can be wrong; callers learn nothing more.
var ErrInvalidToken = errors.New("invalid token")

// Verify checks an access token: HS256 only, a known kid, the signature,
// issuer, audience, and iat/nbf/exp (with 30 s of clock skew).
func (t *Tokens) Verify(token string, now time.Time) (*Claims, error) {
	return t.verify(token, t.audience, "", now)
}

// VerifyMFA checks an MFA token.
func (t *Tokens) VerifyMFA(token string, now time.Time) (*Claims, error) {
	return t.verify(token, t.audience+mfaAudienceSuffix, "mfa", now)
}

func (t *Tokens) verify(token, audience, purpose string, now time.Time) (*Claims, error) {
	if len(token) > 4096 {
		return nil, ErrInvalidToken
	}
	c := &Claims{}
	_, err := jwt.ParseWithClaims(token, c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		key, ok := t.keys.keys[kid]
		if !ok {
			return nil, ErrInvalidToken
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil || c.Subject == "" || c.Purpose != purpose {
		return nil, ErrInvalidToken
	}
	if purpose == "" && c.SessionID == "" {
		return nil, ErrInvalidToken
	}
	return c, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
