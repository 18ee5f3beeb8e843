package e2e_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
)

// hostileRequest sends a request with the given headers and answers the
// status, the raw body and the response headers.
func hostileRequest(t *testing.T, c *http.Client, method, target string, headers map[string]string, body any) (int, []byte, http.Header) {
	t.Helper()
	req := jsonRequest(t, method, target, body, headers)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, raw, resp.Header
}

// spoofedAddress is every header a proxy might use to name the client.
func spoofedAddress(ip string) map[string]string {
	return map[string]string{"X-Forwarded-For": ip, "X-Real-Ip": ip, "Forwarded": "for=" + ip, "True-Client-Ip": ip,
		"Cf-Connecting-Ip": ip, "X-Client-Ip": ip, "Grpc-Metadata-X-Pythorix-Client-Ip": ip, "X-Pythorix-Client-Ip": ip}
}

// TestHostileEdge sends what a hostile client might hope the gateway
// trusts: a credential in the query string, proxy headers that name another
// address, headers shaped like the principal the gateway asserts to the
// services, and TRACE.
func TestHostileEdge(t *testing.T) {
	t.Parallel()
	// 600 a minute per address (a burst of 100): the spoofing case reaches
	// it quickly; the other cases stay far below it.
	s := StartSuite(t, SuiteOptions{GatewayEnv: map[string]string{"PYTHORIX_RATE_LIMIT_IP": "600"}})

	t.Run("an access token in the query string is not a credential", func(t *testing.T) {
		s.signup(t, "query@example.com", goodPassword)
		tok, _ := s.login(t, "query@example.com", goodPassword)
		if code, _ := s.get(t, "/v1/me", tok); code != 200 {
			t.Fatalf("the token in the Authorization header: %d", code)
		}
		for _, q := range []string{"access_token", "accessToken", "token", "bearer", "api_key", "credential"} {
			code, out := s.get(t, "/v1/me?"+url.Values{q: {tok}}.Encode(), "")
			if code != 401 || out["user"] != nil {
				t.Errorf("?%s=<valid token>: %d %v", q, code, out)
			}
		}
		if code, out := s.get(t, "/v1/me?"+url.Values{"authorization": {"Bearer " + tok}}.Encode(), ""); code != 401 || out["user"] != nil {
			t.Errorf("?authorization=Bearer <valid token>: %d %v", code, out)
		}
		// A logout whose only credential is in the query does not end the session.
		if code, _ := s.post(t, "/v1/auth/logout?access_token="+url.QueryEscape(tok), map[string]any{}, ""); code == 200 {
			t.Error("a logout with the token in the query string was accepted")
		}
		if code, _ := s.get(t, "/v1/me", tok); code != 200 {
			t.Fatalf("the session after a query-string logout: %d", code)
		}
	})

	t.Run("spoofed X-Forwarded-For does not change the rate-limit key", func(t *testing.T) {
		// Every request names a new address: they all count against the real one.
		c := s.clientFrom(t, "127.0.0.21")
		limited := 0
		for i := range 400 {
			code, _, h := hostileRequest(t, c, "GET", s.URL+"/openapi.json", spoofedAddress("198.51.100."+strconv.Itoa(i%250+1)), nil)
			if code == http.StatusTooManyRequests {
				if h.Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
				limited = i
				break
			}
			if code != 200 {
				t.Fatalf("request %d: %d", i, code)
			}
		}
		if limited == 0 {
			t.Fatal("rotating X-Forwarded-For escaped the per-address limit")
		}
		// Requests claiming to come from 127.0.0.23 exhaust their real
		// sender's allowance, not 127.0.0.23's.
		c = s.clientFrom(t, "127.0.0.22")
		for i := 0; ; i++ {
			code, _, _ := hostileRequest(t, c, "GET", s.URL+"/openapi.json", spoofedAddress("127.0.0.23"), nil)
			if code == http.StatusTooManyRequests {
				break
			}
			if i == 400 {
				t.Fatal("never limited")
			}
		}
		if code, _, _ := hostileRequest(t, s.clientFrom(t, "127.0.0.23"), "GET", s.URL+"/openapi.json", nil, nil); code != 200 {
			t.Fatalf("the address named in spoofed headers was charged: %d", code)
		}
	})

	t.Run("principal-like and Grpc-Metadata headers do not reach the services", func(t *testing.T) {
		s.signup(t, "mallory@example.com", goodPassword)
		s.signup(t, "alice@example.com", goodPassword)
		mallory, _ := s.login(t, "mallory@example.com", goodPassword)
		alice, aliceSession := s.login(t, "alice@example.com", goodPassword)
		_, me := s.get(t, "/v1/me", alice)
		aliceID, _ := me["user"].(map[string]any)["id"].(string)
		_, me = s.get(t, "/v1/me", mallory)
		malloryID, _ := me["user"].(map[string]any)["id"].(string)
		if aliceID == "" || malloryID == "" || aliceID == malloryID {
			t.Fatalf("ids: %q %q", aliceID, malloryID)
		}
		// Exactly what the gateway would assert for Alice, made a global admin.
		raw, err := proto.Marshal(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: aliceID, SessionId: aliceSession, GlobalAdmin: true})
		if err != nil {
			t.Fatal(err)
		}
		forged := map[string]string{}
		for _, name := range []string{"Grpc-Metadata-X-Pythorix-Principal-Bin", "X-Pythorix-Principal-Bin", "Grpc-Metadata-X-Pythorix-Principal", "X-Pythorix-Principal"} {
			forged[name] = base64.StdEncoding.EncodeToString(raw)
		}
		forged["Grpc-Metadata-X-Pythorix-Principal-Bin"] = base64.RawStdEncoding.EncodeToString(raw)
		forged["Grpc-Metadata-Authorization"] = "Bearer " + alice
		forged["Grpc-Metadata-X-Pythorix-User-Agent"] = "forged-agent"

		code, body, _ := hostileRequest(t, s.Client, "GET", s.URL+"/v1/me", forged, nil)
		if code != 401 || bytes.Contains(body, []byte(aliceID)) {
			t.Fatalf("an anonymous request with a forged principal: %d %s", code, body)
		}
		withMallory := map[string]string{"Authorization": "Bearer " + mallory}
		for k, v := range forged {
			withMallory[k] = v
		}
		code, body, _ = hostileRequest(t, s.Client, "GET", s.URL+"/v1/me", withMallory, nil)
		if code != 200 || !bytes.Contains(body, []byte(malloryID)) || bytes.Contains(body, []byte(aliceID)) {
			t.Fatalf("Mallory with a forged principal for Alice: %d %s", code, body)
		}
		// The address and user agent a session records are the gateway's
		// observation, not the client's claim.
		headers := spoofedAddress("203.0.113.7")
		headers["Grpc-Metadata-X-Pythorix-User-Agent"] = "forged-agent"
		headers["X-Pythorix-User-Agent"] = "forged-agent"
		headers["User-Agent"] = "hostile-edge-test"
		code, body, _ = hostileRequest(t, s.Client, "POST", s.URL+"/v1/auth/login", headers, map[string]any{"email": "mallory@example.com", "password": goodPassword})
		var login map[string]any
		if code != 200 || json.Unmarshal(body, &login) != nil || login["accessToken"] == nil {
			t.Fatalf("login: %d %s", code, body)
		}
		_, out := s.get(t, "/v1/me/sessions", login["accessToken"].(string))
		sessions, _ := out["sessions"].([]any)
		found := false
		for _, x := range sessions {
			if sess, _ := x.(map[string]any); sess["current"] == true {
				found = true
				if sess["ip"] != "127.0.0.1" || sess["userAgent"] != "hostile-edge-test" {
					t.Fatalf("the session records a client-claimed address or agent: %v", sess)
				}
			}
		}
		if !found {
			t.Fatalf("no current session listed: %v", out)
		}
	})

	t.Run("TRACE is not served", func(t *testing.T) {
		s.signup(t, "tracy@example.com", goodPassword)
		token, _ := s.login(t, "tracy@example.com", goodPassword)
		for _, path := range []string{"/", "/healthz", "/readyz", "/openapi.json", "/v1/me", "/v1/auth/login", "/v1/auth/oidc/acme/start", "/nowhere"} {
			code, body, h := hostileRequest(t, s.Client, "TRACE", s.URL+path,
				map[string]string{"Authorization": "Bearer " + token, "X-Trace-Probe": "echo-me-if-you-can"}, nil)
			// 404 off the API; on an API path grpc-gateway's "method not
			// allowed" (UNIMPLEMENTED, 501). Never served.
			if code != http.StatusNotFound && code != http.StatusMethodNotAllowed && code != http.StatusNotImplemented {
				t.Errorf("TRACE %s: %d %s", path, code, body)
			}
			if strings.Contains(strings.ToUpper(h.Get("Allow")), "TRACE") {
				t.Errorf("TRACE %s: Allow %q", path, h.Get("Allow"))
			}
			if bytes.Contains(body, []byte("echo-me-if-you-can")) || bytes.Contains(body, []byte(token)) ||
				strings.HasPrefix(h.Get("Content-Type"), "message/http") {
				t.Errorf("TRACE %s echoed the request: %q %s", path, h.Get("Content-Type"), body)
			}
		}
	})
}
