package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
)

// TestOIDCCallbackIsBoundToTheBrowser drives the real REST mux in front of
// an identity address where nothing listens: a callback the gateway lets
// through answers 503 (identity unreachable), one it refuses answers before
// identity is ever asked.
func TestOIDCCallbackIsBoundToTheBrowser(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := lis.Addr().String()
	_ = lis.Close()
	conn, err := grpc.NewClient(deadAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s := newSessions([]byte("0123456789abcdef0123456789abcdef"))
	mux := newMux(slog.New(slog.NewTextHandler(io.Discard, nil)), s, func(string) {}, func(string, string) {})
	if err := identityv1.RegisterIdentityServiceHandler(context.Background(), mux, conn); err != nil {
		t.Fatal(err)
	}

	// The start's answer sets the cookie for the state of the authorization URL.
	rec := httptest.NewRecorder()
	if err := s.forward(context.Background(), rec, &identityv1.StartOidcResponse{
		AuthorizationUrl: "https://idp.example/authorize?client_id=c&state=the-state&nonce=n", State: "the-state"}); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("start set %d cookies, want 1", len(cookies))
	}
	bound := cookies[0]
	if bound.Name != "__Host-pythorix_oidc" || !bound.Secure || !bound.HttpOnly || bound.SameSite != http.SameSiteLaxMode ||
		bound.Path != "/" || bound.Domain != "" || bound.MaxAge != 600 || bound.Value == "" || bound.Value == "the-state" {
		t.Fatalf("binding cookie: %s", bound)
	}
	other := &http.Cookie{Name: oidcCookie, Value: s.oidcBinding("another-state")}
	foreignKey := &http.Cookie{Name: oidcCookie, Value: newSessions([]byte("another key, another gateway....")).oidcBinding("the-state")}

	callback := "/v1/auth/oidc/acme/callback?" + url.Values{"code": {"c"}, "state": {"the-state"}}.Encode()
	for _, tc := range []struct {
		name   string
		target string
		cookie *http.Cookie
		want   int
		// form, when set, is sent as a form POST overridden to GET, which
		// grpc-gateway routes to the callback with the body's fields.
		form string
	}{
		{"no cookie", callback, nil, http.StatusUnauthorized, ""},
		{"the cookie of another flow", callback, other, http.StatusUnauthorized, ""},
		{"a cookie made under another key", callback, foreignKey, http.StatusUnauthorized, ""},
		{"an empty cookie", callback, &http.Cookie{Name: oidcCookie, Value: ""}, http.StatusUnauthorized, ""},
		{"the state twice (the cookie's and another)", callback + "&state=other", bound, http.StatusBadRequest, ""},
		{"no state", "/v1/auth/oidc/acme/callback?code=c", bound, http.StatusBadRequest, ""},
		{"the browser that started the flow", callback, bound, http.StatusServiceUnavailable, ""},
		{"a form POST overridden to GET, state in the body, no cookie", "/v1/auth/oidc/acme/callback?code=c", nil, http.StatusUnauthorized, "state=the-state"},
		{"a form POST overridden to GET, a second state in the body", callback, bound, http.StatusBadRequest, "state=other"},
		{"a form POST overridden to GET, bound", "/v1/auth/oidc/acme/callback?code=c", bound, http.StatusServiceUnavailable, "state=the-state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			if tc.form != "" {
				req = httptest.NewRequest(http.MethodPost, tc.target, strings.NewReader(tc.form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-HTTP-Method-Override", http.MethodGet)
			}
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			var body struct{ Code, Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			cleared := false
			for _, c := range rec.Result().Cookies() {
				cleared = cleared || c.Name == oidcCookie && c.MaxAge < 0
			}
			if tc.want == http.StatusServiceUnavailable {
				// Passed on to identity; the cookie is spent.
				if !cleared {
					t.Fatal("the binding cookie was not cleared at the callback")
				}
				return
			}
			if cleared {
				t.Fatal("a refused callback cleared the browser's binding cookie")
			}
			if tc.want == http.StatusUnauthorized && (body.Code != "UNAUTHENTICATED" || body.Message == "") {
				t.Fatalf("refusal: %+v", body)
			}
		})
	}

	// Other routes are not affected (the start needs no cookie).
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/auth/oidc/acme/start", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
}
