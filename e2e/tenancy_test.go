package e2e_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// req sends a request with a bearer token and, when org is set, X-Org-Id.
func (s *Suite) req(t testing.TB, method, path string, body any, token, org string) (int, map[string]any) {
	t.Helper()
	c := &http.Client{Timeout: 15 * time.Second, Transport: orgTransport{base: s.Client.Transport, org: org}}
	code, out, _ := s.call(t, c, method, s.URL+path, body, token)
	return code, out
}

type orgTransport struct {
	base http.RoundTripper
	org  string
}

func (o orgTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if o.org != "" {
		r = r.Clone(r.Context())
		r.Header.Set("X-Org-Id", o.org)
	}
	return o.base.RoundTrip(r)
}

func TestTenancyAndAPIKeysOverREST(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	s.signup(t, "owner@acme.test", goodPassword)
	s.signup(t, "dev@acme.test", goodPassword)
	s.signup(t, "mallory@evil.test", goodPassword)
	owner, _ := s.login(t, "owner@acme.test", goodPassword)
	dev, _ := s.login(t, "dev@acme.test", goodPassword)
	mallory, _ := s.login(t, "mallory@evil.test", goodPassword)

	code, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Acme"}, owner, "")
	if code != 200 {
		t.Fatalf("create org: %d %v", code, out)
	}
	acme := out["org"].(map[string]any)["id"].(string)
	code, out = s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Evil"}, mallory, "")
	if code != 200 {
		t.Fatalf("create org: %d %v", code, out)
	}
	evil := out["org"].(map[string]any)["id"].(string)

	t.Run("the creator is Owner and sees the org", func(t *testing.T) {
		code, out := s.req(t, "GET", "/v1/orgs", nil, owner, "")
		ms, _ := out["memberships"].([]any)
		if code != 200 || len(ms) != 1 || ms[0].(map[string]any)["role"] != "ROLE_OWNER" {
			t.Fatalf("list orgs: %d %v", code, out)
		}
		if code, _ := s.req(t, "GET", "/v1/orgs/"+acme, nil, owner, ""); code != 200 {
			t.Fatalf("get org: %d", code)
		}
	})

	t.Run("a foreign organisation is not found, whatever the route", func(t *testing.T) {
		for _, c := range []struct{ method, path, org string }{
			{"GET", "/v1/orgs/" + acme, ""},
			{"PATCH", "/v1/orgs/" + acme, ""},
			{"DELETE", "/v1/orgs/" + acme, ""},
			{"GET", "/v1/members", acme},
			{"GET", "/v1/projects", acme},
			{"GET", "/v1/api-keys", acme},
			{"POST", "/v1/invitations", acme},
			{"GET", "/v1/members", "00000000-0000-4000-8000-000000000000"},
		} {
			body := map[string]any{}
			if c.method == "PATCH" {
				body["name"] = "pwned"
			}
			if c.method == "POST" {
				body = map[string]any{"email": "x@evil.test", "role": "ROLE_OWNER"}
			}
			if c.method == "GET" || c.method == "DELETE" {
				body = nil
			}
			if code, out := s.req(t, c.method, c.path, body, mallory, c.org); code != 404 {
				t.Errorf("%s %s (org %s): %d %v", c.method, c.path, c.org, code, out)
			}
		}
		if code, _ := s.req(t, "GET", "/v1/members", nil, mallory, ""); code != 400 {
			t.Errorf("missing X-Org-Id: %d", code)
		}
	})

	var token string
	t.Run("invitations: create, accept once with the matching verified email", func(t *testing.T) {
		code, out := s.req(t, "POST", "/v1/invitations", map[string]any{"email": "dev@acme.test", "role": "ROLE_DEVELOPER", "ttl": "3600s"}, owner, acme)
		if code != 200 || out["token"] == nil {
			t.Fatalf("invite: %d %v", code, out)
		}
		token = out["token"].(string)
		if code, _ := s.req(t, "POST", "/v1/invitations:accept", map[string]any{"token": token}, mallory, ""); code != 403 {
			t.Fatalf("accepted by someone else: %d", code)
		}
		if code, out := s.req(t, "POST", "/v1/invitations:accept", map[string]any{"token": token}, dev, ""); code != 200 {
			t.Fatalf("accept: %d %v", code, out)
		}
		if code, _ := s.req(t, "POST", "/v1/invitations:accept", map[string]any{"token": token}, dev, ""); code != 412 {
			t.Fatalf("accepted twice: %d", code)
		}
		if code, _ := s.req(t, "POST", "/v1/invitations", map[string]any{"email": "x@acme.test", "role": "ROLE_VIEWER", "ttl": "3000000s"}, owner, acme); code != 400 {
			t.Fatalf("ttl over 30 days: %d", code)
		}
	})

	t.Run("roles: a Developer cannot manage members or grant above their rank", func(t *testing.T) {
		code, out := s.req(t, "GET", "/v1/members", nil, dev, acme)
		members, _ := out["members"].([]any)
		if code != 200 || len(members) != 2 {
			t.Fatalf("members: %d %v", code, out)
		}
		var ownerID string
		for _, m := range members {
			if mm := m.(map[string]any); mm["email"] == "owner@acme.test" {
				ownerID = mm["userId"].(string)
			}
		}
		if code, _ := s.req(t, "PATCH", "/v1/members/"+ownerID, map[string]any{"role": "ROLE_VIEWER"}, dev, acme); code != 403 {
			t.Fatalf("developer demoted the owner: %d", code)
		}
		if code, _ := s.req(t, "POST", "/v1/invitations", map[string]any{"email": "y@acme.test", "role": "ROLE_VIEWER"}, dev, acme); code != 403 {
			t.Fatalf("developer invited: %d", code)
		}
		if code, out := s.req(t, "PATCH", "/v1/members/"+ownerID, map[string]any{"role": "ROLE_ADMIN"}, owner, acme); code != 412 {
			t.Fatalf("last owner demoted themselves: %d %v", code, out)
		}
		if code, _ := s.req(t, "DELETE", "/v1/members/"+ownerID, nil, owner, acme); code != 412 {
			t.Fatalf("last owner left: %d", code)
		}
	})

	t.Run("projects validate origins", func(t *testing.T) {
		code, out := s.req(t, "POST", "/v1/projects", map[string]any{"name": "web", "allowedOrigins": []string{"https://app.acme.test"}}, owner, acme)
		if code != 200 {
			t.Fatalf("create project: %d %v", code, out)
		}
		for _, bad := range []string{"https://app.acme.test/path", "*", "javascript:alert(1)", "https://*.acme.test", "http://app.acme.test"} {
			code, out := s.req(t, "POST", "/v1/projects", map[string]any{"name": "x", "allowedOrigins": []string{bad}}, owner, acme)
			if code != 400 || !strings.Contains(strings.Join(fieldNamed(out), ","), "allowedOrigins") {
				t.Errorf("origin %q: %d %v", bad, code, out)
			}
		}
		pid := out["project"].(map[string]any)["id"].(string)
		code, bad := s.req(t, "PATCH", "/v1/projects/"+pid, map[string]any{"name": "renamed", "allowedOrigins": []string{"https://b.acme.test"},
			"clearAllowedOrigins": true}, owner, acme)
		if code != 400 || !slices.Contains(fieldNamed(bad), "clearAllowedOrigins") {
			t.Fatalf("contradictory update: %d %v", code, bad)
		}
		if _, got := s.req(t, "GET", "/v1/projects/"+pid, nil, owner, acme); got["project"].(map[string]any)["name"] != "web" {
			t.Fatalf("a refused update was stored: %v", got)
		}
		if code, _ := s.req(t, "POST", "/v1/projects", map[string]any{"name": "x"}, dev, acme); code != 403 {
			t.Errorf("developer created a project: %d", code)
		}
	})

	t.Run("API keys: shown once, scoped, org-bound, revocable at once", func(t *testing.T) {
		code, out := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "ci", "scopes": []string{"orgs.read", "members.read"}}, owner, acme)
		if code != 200 || out["key"] == nil {
			t.Fatalf("create key: %d %v", code, out)
		}
		key := out["key"].(string)
		keyID := out["apiKey"].(map[string]any)["id"].(string)
		code, list := s.req(t, "GET", "/v1/api-keys", nil, owner, acme)
		if code != 200 || strings.Contains(toJSON(list), key[len(key)-20:]) {
			t.Fatalf("list shows the secret: %d %v", code, list)
		}
		if code, _ := s.req(t, "GET", "/v1/members", nil, key, acme); code != 200 {
			t.Fatalf("key within scope: %d", code)
		}
		if code, _ := s.req(t, "GET", "/v1/projects", nil, key, acme); code != 403 {
			t.Fatalf("key outside its scopes: %d", code)
		}
		if code, _ := s.req(t, "GET", "/v1/members", nil, key, evil); code != 404 {
			t.Fatalf("key in another org: %d", code)
		}
		if code, _ := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "x", "scopes": []string{"orgs.read"}}, key, acme); code != 403 {
			t.Fatalf("a key created a key: %d", code)
		}
		// A project key must name a project of the same organisation.
		_, evilProject := s.req(t, "POST", "/v1/projects", map[string]any{"name": "evil"}, mallory, evil)
		evilID := evilProject["project"].(map[string]any)["id"].(string)
		if code, out := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "x", "scopes": []string{"assets.read"}, "projectId": evilID}, owner, acme); code != 400 || !strings.Contains(toJSON(out), "projectId") {
			t.Fatalf("key bound to a foreign project: %d %v", code, out)
		}
		_, own := s.req(t, "GET", "/v1/projects", nil, owner, acme)
		ownID := own["projects"].([]any)[0].(map[string]any)["id"].(string)
		code, out = s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "p", "scopes": []string{"members.read", "assets.read"}, "projectId": ownID}, owner, acme)
		if code != 200 {
			t.Fatalf("project key: %d %v", code, out)
		}
		if code, _ := s.req(t, "GET", "/v1/members", nil, out["key"].(string), acme); code != 403 {
			t.Fatalf("a project key reached a management RPC: %d", code)
		}
		// A Developer may manage keys, but not revoke one created by the Owner.
		s.signup(t, "dev2@acme.test", goodPassword)
		_, inv := s.req(t, "POST", "/v1/invitations", map[string]any{"email": "dev2@acme.test", "role": "ROLE_DEVELOPER"}, owner, acme)
		dev2, _ := s.login(t, "dev2@acme.test", goodPassword)
		s.req(t, "POST", "/v1/invitations:accept", map[string]any{"token": inv["token"]}, dev2, "")
		if code, _ := s.req(t, "DELETE", "/v1/api-keys/"+keyID, nil, dev2, acme); code != 403 {
			t.Fatalf("developer revoked the owner's key: %d", code)
		}
		if code, _ := s.req(t, "DELETE", "/v1/api-keys/"+keyID, nil, mallory, evil); code != 404 {
			t.Fatalf("foreign revoke: %d", code)
		}
		if code, _ := s.req(t, "DELETE", "/v1/api-keys/"+keyID, nil, owner, acme); code != 200 {
			t.Fatalf("revoke: %d", code)
		}
		if code, _ := s.req(t, "GET", "/v1/members", nil, key, acme); code != 401 {
			t.Fatalf("revoked key: %d", code)
		}
	})

	t.Run("removing a member takes their access at once", func(t *testing.T) {
		_, out := s.req(t, "GET", "/v1/members", nil, owner, acme)
		var devID string
		for _, m := range out["members"].([]any) {
			if mm := m.(map[string]any); mm["email"] == "dev@acme.test" {
				devID = mm["userId"].(string)
			}
		}
		if code, _ := s.req(t, "GET", "/v1/projects", nil, dev, acme); code != 200 {
			t.Fatalf("member before removal: %d", code)
		}
		if code, _ := s.req(t, "DELETE", "/v1/members/"+devID, nil, owner, acme); code != 200 {
			t.Fatalf("remove: %d", code)
		}
		deadline := time.Now().Add(time.Second)
		for {
			code, _ := s.req(t, "GET", "/v1/projects", nil, dev, acme)
			if code == 404 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("removed member still has access: %d", code)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("only the Owner deletes the organisation", func(t *testing.T) {
		if code, _ := s.req(t, "DELETE", "/v1/orgs/"+acme, nil, owner, ""); code != 200 {
			t.Fatalf("delete: %d", code)
		}
		if code, _ := s.req(t, "GET", "/v1/orgs/"+acme, nil, owner, ""); code != 404 {
			t.Fatalf("deleted org: %d", code)
		}
	})
}
