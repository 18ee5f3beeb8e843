package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"
)

// call sends a JSON request with an optional bearer token and decodes the
// JSON answer into a generic map.
func (s *Suite) call(t testing.TB, c *http.Client, method, url string, body any, token string) (int, map[string]any, http.Header) {
	t.Helper()
	req := jsonRequest(t, method, url, body, bearer(token))
	if c == nil {
		c = s.Client
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: non-JSON answer %d: %s", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// post is call against the suite's primary gateway.
func (s *Suite) post(t testing.TB, path string, body any, token string) (int, map[string]any) {
	t.Helper()
	code, out, _ := s.call(t, nil, "POST", s.URL+path, body, token)
	return code, out
}

func (s *Suite) get(t testing.TB, path, token string) (int, map[string]any) {
	t.Helper()
	code, out, _ := s.call(t, nil, "GET", s.URL+path, nil, token)
	return code, out
}

// signup registers and verifies an account through the API and the mailbox.
func (s *Suite) signup(t testing.TB, email, password string) {
	t.Helper()
	before := s.Mail.Count(email)
	if code, out := s.post(t, "/v1/auth/signup", map[string]any{"email": email, "password": password, "name": "Test User"}, ""); code != 200 {
		t.Fatalf("signup: %d %v", code, out)
	}
	code := Code(t, s.Mail.Wait(t, email, before+1))
	if st, out := s.post(t, "/v1/auth/verify-email", map[string]any{"email": email, "code": code}, ""); st != 200 {
		t.Fatalf("verify: %d %v", st, out)
	}
}

// login returns an access token and its session id.
func (s *Suite) login(t testing.TB, email, password string) (string, string) {
	t.Helper()
	code, out := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": password}, "")
	if code != 200 || out["accessToken"] == nil {
		t.Fatalf("login: %d %v", code, out)
	}
	return out["accessToken"].(string), out["sessionId"].(string)
}

func fieldNamed(out map[string]any) []string {
	var fields []string
	details, _ := out["details"].([]any)
	for _, d := range details {
		dm, _ := d.(map[string]any)
		fvs, _ := dm["fieldViolations"].([]any)
		for _, fv := range fvs {
			if m, ok := fv.(map[string]any); ok {
				fields = append(fields, m["field"].(string))
			}
		}
	}
	return fields
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonRequest builds a request with body as JSON (nil for none) and the headers.
func jsonRequest(t testing.TB, method, url string, body any, headers map[string]string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

// bearer is the Authorization header of a token (none for "").
func bearer(token string) map[string]string {
	if token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + token}
}

// db connects to a service's database for the rest of the test (to read
// raw rows, or to do what an operator does there).
func (s *Suite) db(t testing.TB, service string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.databases[service])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
