package e2e_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"fieldViolations"`
	} `json:"details"`
	RequestID string `json:"requestId"`
}

func (s *Suite) do(t *testing.T, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

var securityHeaders = []string{"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
	"Permissions-Policy", "Content-Security-Policy", "Cache-Control", "X-Request-Id"}

// TestSuiteOverREST drives the whole suite through the gateway. /readyz goes
// gateway -> each service over mTLS -> that service's Postgres and Redis
// health -> back; the signup cases go through grpc-gateway transcoding into
// the identity service's interceptor chain and back as REST errors.
func TestSuiteOverREST(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)

	t.Run("readyz reports every upstream serving", func(t *testing.T) {
		resp, body := s.do(t, "GET", "/readyz", "")
		var got struct {
			Status    string            `json:"status"`
			Upstreams map[string]string `json:"upstreams"`
		}
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d body %s err %v", resp.StatusCode, body, err)
		}
		for _, svc := range []string{"identity", "tenancy", "scanning", "audit", "integrations"} {
			if got.Upstreams[svc] != "SERVING" {
				t.Errorf("%s = %q", svc, got.Upstreams[svc])
			}
		}
	})

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		header     []string
		wantStatus int
		wantCode   string
		wantFields []string
	}{
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200},
		{name: "invalid signup names every bad field", method: "POST", path: "/v1/auth/signup",
			body: `{"email":"not-an-email","password":"short","name":""}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT",
			wantFields: []string{"email", "password", "name"}},
		{name: "password over 72 bytes is rejected, not truncated", method: "POST", path: "/v1/auth/signup",
			body: `{"email":"a@example.com","password":"` + strings.Repeat("x", 73) + `","name":"A"}`, wantStatus: 400,
			wantCode: "INVALID_ARGUMENT", wantFields: []string{"password"}},
		{name: "camelCase field names in violations", method: "POST", path: "/v1/me/password",
			body: `{"currentPassword":"","newPassword":"x"}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT",
			wantFields: []string{"currentPassword", "newPassword"}},
		{name: "unknown JSON field", method: "POST", path: "/v1/auth/signup",
			body: `{"email":"a@example.com","password":"correct horse battery","name":"A","admin":true}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "malformed JSON", method: "POST", path: "/v1/auth/login", body: `{"email":`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "body over the limit", method: "POST", path: "/v1/auth/signup", body: `{"name":"` + strings.Repeat("a", 70000) + `"}`,
			wantStatus: 413, wantCode: "INVALID_ARGUMENT"},
		{name: "authenticated route without credentials", method: "GET", path: "/v1/me", wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "org route without credentials", method: "GET", path: "/v1/assets", header: []string{"X-Org-Id", "8b7c0b0e-8c56-4e0c-9d1c-3c1d1b9b8a11"},
			wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "unknown route", method: "GET", path: "/v1/nothing-here", wantStatus: 404, wantCode: "NOT_FOUND"},
		{name: "internal RPC is not routable", method: "POST", path: "/pythorix.audit.v1.AuditService/AppendEvents", body: `{}`,
			wantStatus: 404, wantCode: "NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, tc.method, tc.path, tc.body, tc.header...)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			for _, h := range securityHeaders {
				if resp.Header.Get(h) == "" {
					t.Errorf("missing %s", h)
				}
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if tc.wantCode == "" {
				return
			}
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body is not JSON: %s", body)
			}
			if e.Code != tc.wantCode || e.Message == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
				t.Fatalf("error body %+v", e)
			}
			var fields []string
			for _, d := range e.Details {
				for _, v := range d.FieldViolations {
					fields = append(fields, v.Field)
				}
			}
			for _, f := range tc.wantFields {
				if !slices.Contains(fields, f) {
					t.Errorf("violations %v do not name %q", fields, f)
				}
			}
			if bytes.Contains(body, []byte("rpc error")) || bytes.Contains(body, []byte("proto:")) {
				t.Errorf("internal text leaked: %s", body)
			}
		})
	}

	t.Run("client request id is echoed, hostile one replaced", func(t *testing.T) {
		resp, _ := s.do(t, "GET", "/healthz", "", "X-Request-Id", "client-chosen-id-42")
		if got := resp.Header.Get("X-Request-Id"); got != "client-chosen-id-42" {
			t.Errorf("request id %q", got)
		}
		resp, _ = s.do(t, "GET", "/healthz", "", "X-Request-Id", "bad id\" injected")
		if got := resp.Header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, "\" ") {
			t.Errorf("hostile request id echoed: %q", got)
		}
	})

	t.Run("openapi document", func(t *testing.T) {
		resp, body := s.do(t, "GET", "/openapi.json", "")
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"/v1/auth/signup"`)) || !bytes.Contains(body, []byte(`"/v1/scans/{id}/report"`)) {
			t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
		}
	})

	t.Run("TLS below 1.2 and non-AEAD suites are refused", func(t *testing.T) {
		host := strings.TrimPrefix(s.URL, "https://")
		for name, cfg := range map[string]*tls.Config{
			"TLS 1.1":    {MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10},
			"CBC on 1.2": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
			"RSA kx 1.2": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
		} {
			cfg.InsecureSkipVerify = true //nolint:gosec // only the protocol is under test
			if c, err := tls.Dial("tcp", host, cfg); err == nil {
				c.Close()
				t.Errorf("%s: handshake succeeded", name)
			}
		}
		c, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Errorf("negotiated %x, want TLS 1.3", v)
		}
	})
}

// Rate limits (GCRA in Redis) per client address and per credential answer
// 429 with Retry-After; too many header fields answer 431.
func TestRateLimitsAndHeaderLimits(t *testing.T) {
	t.Parallel()
	s := StartSuite(t, SuiteOptions{GatewayEnv: map[string]string{"PYTHORIX_RATE_LIMIT_IP": "60", "PYTHORIX_RATE_LIMIT_PRINCIPAL": "30"}})
	limited := func(t *testing.T) *http.Response {
		t.Helper()
		for range 50 {
			req, _ := http.NewRequest("GET", s.URL+"/v1/me", nil)
			resp, err := s.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				return resp
			}
		}
		t.Fatal("never limited")
		return nil
	}
	resp := limited(t)
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// Health stays reachable for probes.
	if r, err := s.Client.Get(s.URL + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz while limited: %v %v", r, err)
	}

	// Per credential: one token is limited even when its addresses are not.
	p := StartSuite(t, SuiteOptions{GatewayEnv: map[string]string{"PYTHORIX_RATE_LIMIT_IP": "1000000", "PYTHORIX_RATE_LIMIT_PRINCIPAL": "30"}})
	p.signup(t, "limited@example.com", goodPassword)
	tok, _ := p.login(t, "limited@example.com", goodPassword)
	for range 50 {
		req, _ := http.NewRequest("GET", p.URL+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := p.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		if resp.StatusCode != 200 {
			t.Fatalf("/v1/me: %d", resp.StatusCode)
		}
	}
	if code, _, _ := p.call(t, nil, "GET", p.URL+"/v1/me", nil, tok); code != http.StatusTooManyRequests {
		t.Errorf("a credential over its limit: %d", code)
	}

	req, _ := http.NewRequest("GET", s.URL+"/healthz", nil)
	for i := range 120 {
		req.Header.Set("X-Filler-"+strconv.Itoa(i), "x")
	}
	r, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("120 header fields: %d", r.StatusCode)
	}
}

// The gateway serves Prometheus metrics on a port of its own, with route
// classes rather than paths as labels.
func TestGatewayMetrics(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := StartSuite(t, SuiteOptions{GatewayEnv: map[string]string{"PYTHORIX_METRICS_ADDR": addr}})
	if code, _, _ := s.call(t, nil, "GET", s.URL+"/v1/scans/01a24189-db89-73c6-9c7d-5d9284ec1d8e", nil, ""); code != 401 {
		t.Fatalf("unauthenticated: %d", code)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	if !strings.Contains(body, `pythorix_gateway_requests_total{code="401",method="GET",route="scans"} 1`) ||
		strings.Contains(body, "01a24189") {
		t.Errorf("metrics: %.3000s", body)
	}
	// Not on the API port.
	if code, _, _ := s.call(t, nil, "GET", s.URL+"/metrics", nil, ""); code != 404 {
		t.Errorf("/metrics on the API port: %d", code)
	}
}

// Browser sessions: a sign-in sets a __Host- session cookie and a CSRF
// cookie; the cookie authenticates, and every state-changing request made
// with it needs the CSRF token in a header.
func TestBrowserSessionsWithCSRF(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	s.signup(t, "browser@example.com", goodPassword)
	body := strings.NewReader(`{"email":"browser@example.com","password":"` + goodPassword + `"}`)
	resp, err := s.Client.Post(s.URL+"/v1/auth/login", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session, csrf *http.Cookie
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "__Host-pythorix_session":
			session = c
		case "__Host-pythorix_csrf":
			csrf = c
		}
	}
	if session == nil || csrf == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode ||
		session.Path != "/" || session.Domain != "" || csrf.HttpOnly || !csrf.Secure || session.MaxAge <= 0 {
		t.Fatalf("cookies: %v", resp.Header.Values("Set-Cookie"))
	}
	do := func(method, path, token string, withCookie bool) int {
		t.Helper()
		var b io.Reader
		if method != "GET" {
			b = strings.NewReader(`{"name":"cookie org"}`)
		}
		req, _ := http.NewRequest(method, s.URL+path, b)
		if withCookie {
			req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
		}
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		r, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if code := do("GET", "/v1/me", "", true); code != 200 {
		t.Fatalf("GET with the cookie: %d", code)
	}
	if code := do("POST", "/v1/orgs", "", true); code != 403 {
		t.Errorf("POST without a CSRF token: %d", code)
	}
	if code := do("POST", "/v1/orgs", csrf.Value+"x", true); code != 403 {
		t.Errorf("POST with a wrong CSRF token: %d", code)
	}
	if code := do("POST", "/v1/orgs", csrf.Value, false); code != 401 {
		t.Errorf("a CSRF token alone: %d", code)
	}
	if code := do("POST", "/v1/orgs", csrf.Value, true); code != 200 {
		t.Errorf("POST with the CSRF token: %d", code)
	}
	// Logout through the cookie clears both cookies and ends the session.
	req, _ := http.NewRequest("POST", s.URL+"/v1/auth/logout", strings.NewReader(`{}`))
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	req.Header.Set("X-CSRF-Token", csrf.Value)
	r, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	cleared := 0
	for _, c := range r.Cookies() {
		if c.MaxAge < 0 {
			cleared++
		}
	}
	if r.StatusCode != 200 || cleared != 2 {
		t.Errorf("logout: %d, %d cookies cleared", r.StatusCode, cleared)
	}
	if code := do("GET", "/v1/me", "", true); code != 401 {
		t.Errorf("the cookie after logout: %d", code)
	}
}

// CORS: exact origins per project for its API keys, the operator's list for
// session cookies (with credentials), and nothing at all for anyone else.
func TestCORS(t *testing.T) {
	t.Parallel()
	const app, first, evil = "https://app.example.com", "https://console.pythorix.test", "https://evil.example"
	s := StartSuite(t, SuiteOptions{GatewayEnv: map[string]string{"PYTHORIX_CORS_SESSION_ORIGINS": first}})
	s.signup(t, "cors@example.com", goodPassword)
	owner, _ := s.login(t, "cors@example.com", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Cors"}, owner, "")
	org := out["org"].(map[string]any)["id"].(string)
	_, p := s.req(t, "POST", "/v1/projects", map[string]any{"name": "web", "allowedOrigins": []string{app}}, owner, org)
	project := p["project"].(map[string]any)["id"].(string)
	_, k := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "web", "scopes": []string{"assets.read"}, "projectId": project}, owner, org)
	key := k["key"].(string)
	_, k = s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "org", "scopes": []string{"assets.read"}}, owner, org)
	orgKey := k["key"].(string)

	send := func(method, origin, auth string, extra map[string]string) http.Header {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+"/v1/assets", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("X-Org-Id", org)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	preflight := map[string]string{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization, x-org-id"}
	h := send("OPTIONS", app, "", preflight)
	if h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight from a listed origin: %v", h)
	}
	for _, o := range []string{evil, "null", app + "/path", "https://app.example.com.evil.example"} {
		if h := send("OPTIONS", o, "", preflight); h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight from %s: %v", o, h)
		}
	}
	if h := send("GET", app, key, nil); h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("the project's key from its origin: %v", h)
	}
	if h := send("GET", evil, key, nil); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the project's key from another origin: %v", h)
	}
	if h := send("GET", app, orgKey, nil); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a key of no project from a project's origin: %v", h)
	}
	// The session list: credentials, exact origin only.
	if h := send("OPTIONS", first, "", preflight); h.Get("Access-Control-Allow-Origin") != first || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight from the console: %v", h)
	}
}
