package gateway

import (
	"crypto/hmac"
	"net/http"
	"net/url"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An OIDC sign-in is bound to the browser that started it (login CSRF and
// session swapping, ASVS V10.1.2). The answer to .../start sets oidcCookie
// to an HMAC, under the gateway's CSRF key, of the state in the
// authorization URL; a callback reaches identity only when it carries the
// cookie of its own state. The check runs here, before identity redeems
// the single-use state, so a callback replayed from another browser is
// refused without spending the state of the browser that owns it.
//
// SameSite=Lax, not Strict: the provider sends the browser back with a
// top-level cross-site GET, which must carry the cookie. Replicas that share
// PYTHORIX_CSRF_KEY accept each other's cookies.
const (
	oidcCookie = "__Host-pythorix_oidc"
	// oidcCookieTTL is identity's lifetime of a state: a cookie never
	// outlives the flow it binds.
	oidcCookieTTL = 10 * time.Minute
	// oidcCallbackPattern is the route of IdentityService.OidcCallback as
	// grpc-gateway prints it.
	oidcCallbackPattern = "/v1/auth/oidc/{provider=*}/callback"
)

// oidcBinding is the cookie value that binds a browser to one state.
func (s *sessions) oidcBinding(state string) string { return s.mac("pythorix-oidc-state", state) }

// bindOIDC sets the binding cookie for the state of an authorization URL
// (the answer to a sign-in's start). Without a state there is nothing to
// bind, and the callback will be refused.
func (s *sessions) bindOIDC(w http.ResponseWriter, authorizationURL string) {
	u, err := url.Parse(authorizationURL)
	if err != nil {
		return
	}
	state := u.Query().Get("state")
	if state == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: s.oidcBinding(state), Path: "/", MaxAge: int(oidcCookieTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// checkOIDCBinding refuses a callback whose browser did not start its flow.
// It reads the state from the form, as grpc-gateway will (the query and,
// for a form POST overridden to GET, the body), so that the state checked
// is the state identity receives.
func (s *sessions) checkOIDCBinding(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return status.Error(codes.InvalidArgument, "invalid request: malformed query")
	}
	states := r.Form["state"]
	if len(states) != 1 || states[0] == "" {
		return status.Error(codes.InvalidArgument, "invalid request: state must be given exactly once")
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil || c.Value == "" {
		return status.Error(codes.Unauthenticated, "sign-in was not started in this browser (no "+oidcCookie+" cookie)")
	}
	if !hmac.Equal([]byte(c.Value), []byte(s.oidcBinding(states[0]))) {
		return status.Error(codes.Unauthenticated, "sign-in was started in this browser for another flow ("+oidcCookie+" does not match the state)")
	}
	return nil
}

// oidcCallbackGuard is a grpc-gateway middleware: it runs after routing, so
// it sees exactly the requests that would reach OidcCallback, whatever
// their spelling. A bound callback spends the cookie; a refused one leaves
// it, so that a hostile callback cannot cancel a flow this browser started.
func (s *sessions) oidcCallbackGuard(refuse func(http.ResponseWriter, *http.Request, error)) runtime.Middleware {
	return func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
			if p, ok := runtime.HTTPPattern(r.Context()); !ok || p.String() != oidcCallbackPattern {
				next(w, r, params)
				return
			}
			if err := s.checkOIDCBinding(r); err != nil {
				refuse(w, r, err)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true,
				SameSite: http.SameSiteLaxMode})
			next(w, r, params)
		}
	}
}
