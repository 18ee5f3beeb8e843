package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
)

// Browser sessions: a sign-in's access token also goes into a __Host-
// cookie (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain), so a browser
// app need not hold it in script. A request that authenticates with the
// cookie and changes state (anything but GET, HEAD, OPTIONS) must carry the
// CSRF token in X-CSRF-Token: an HMAC of the session's token under the
// gateway's key, handed out in a second, script-readable cookie. A
// cross-site page can make the browser send the first cookie, but cannot
// read the second. Requests with an Authorization header need no token.
const (
	sessionCookie = "__Host-pythorix_session"
	csrfCookie    = "__Host-pythorix_csrf"
	csrfHeader    = "X-CSRF-Token"
)

type sessions struct {
	key []byte
}

// newSessions keys CSRF tokens; without a configured key (one replica in
// development) a random one is made, and tokens die with the process.
func newSessions(key []byte) *sessions {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &sessions{key: key}
}

// csrf is the CSRF token of a session token.
func (s *sessions) csrf(access string) string { return s.mac("pythorix-csrf", access) }

// mac is the HMAC-SHA256, under the gateway's CSRF key, of a value for one
// purpose (the purpose keeps a token of one kind from passing for another).
func (s *sessions) mac(purpose, value string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose + "\x00" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// credential answers the session cookie's token for a request without an
// Authorization header ("" when there is none), after checking the CSRF
// token of a state-changing request; it answers the refusal otherwise.
func (s *sessions) credential(r *http.Request) (string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return c.Value, nil
	}
	got := r.Header.Get(csrfHeader)
	if got == "" || !hmac.Equal([]byte(got), []byte(s.csrf(c.Value))) {
		return "", status.Error(codes.PermissionDenied, "missing or invalid CSRF token (X-CSRF-Token)")
	}
	return c.Value, nil
}

// forward sets the session cookies on a sign-in's response and clears them
// on logout, and binds an OIDC sign-in's start to the browser (oidc.go); it
// is a grpc-gateway forward-response option.
func (s *sessions) forward(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	var access string
	var expires *timestamppb.Timestamp
	switch m := m.(type) {
	case *identityv1.LoginResponse:
		access, expires = m.GetAccessToken(), m.GetExpiresAt()
	case *identityv1.LoginMfaResponse:
		access, expires = m.GetAccessToken(), m.GetExpiresAt()
	case *identityv1.OidcCallbackResponse:
		access, expires = m.GetAccessToken(), m.GetExpiresAt()
	case *identityv1.StartOidcResponse:
		s.bindOIDC(w, m.GetAuthorizationUrl())
		return nil
	case *identityv1.LogoutResponse:
		for _, name := range []string{sessionCookie, csrfCookie} {
			http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: name == sessionCookie,
				SameSite: http.SameSiteLaxMode})
		}
		return nil
	default:
		return nil
	}
	if access == "" {
		return nil // a second factor is still due
	}
	maxAge := int(time.Until(expires.AsTime()).Seconds())
	if expires == nil || maxAge <= 0 {
		maxAge = 0
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: access, Path: "/", MaxAge: maxAge, Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: s.csrf(access), Path: "/", MaxAge: maxAge, Secure: true,
		SameSite: http.SameSiteLaxMode})
	return nil
}
