package e2e_test

import (
	"fmt"
	"strings"
	"testing"
)

// Every count a client controls has a bound, answered with a clear error
// naming what is exhausted or the field: page sizes, tags, organisations
// per user, projects, pending invitations and integrations per
// organisation. (Body and header bounds: TestSuiteOverREST and
// TestRateLimitsAndHeaderLimits; evidence and snippets: the scanning and
// integrations tests.)
func TestLimits(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	s.signup(t, "limits@example.com", goodPassword)
	tok, _ := s.login(t, "limits@example.com", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Limits"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)

	// fill creates until the service refuses; it answers how many went in
	// and the refusal.
	fill := func(t *testing.T, most int, create func(i int) (int, map[string]any)) (int, int, map[string]any) {
		t.Helper()
		for i := range most + 1 {
			code, out := create(i)
			if code != 200 {
				return i, code, out
			}
		}
		t.Fatalf("more than %d accepted", most)
		return 0, 0, nil
	}

	t.Run("page size and tags", func(t *testing.T) {
		for _, p := range []string{"/v1/assets?pageSize=101", "/v1/projects?pageSize=1000", "/v1/audit/events?pageSize=-1"} {
			if code, out := s.req(t, "GET", p, nil, tok, org); code != 400 || !strings.Contains(toJSON(out), "pageSize") {
				t.Errorf("%s: %d %v", p, code, out)
			}
		}
		tags := make([]string, 21)
		for i := range tags {
			tags[i] = fmt.Sprintf("t%d", i)
		}
		code, out := s.req(t, "POST", "/v1/assets", map[string]any{"host": "tags.example.com", "kind": "ASSET_KIND_WEB_APP",
			"environment": "ENVIRONMENT_STAGING", "tags": tags}, tok, org)
		if code != 400 || !strings.Contains(toJSON(out), "tags") {
			t.Errorf("21 tags: %d %v", code, out)
		}
	})

	t.Run("projects per organisation", func(t *testing.T) {
		n, code, out := fill(t, 200, func(i int) (int, map[string]any) {
			return s.req(t, "POST", "/v1/projects", map[string]any{"name": fmt.Sprintf("p%d", i)}, tok, org)
		})
		if n != 200 || code != 429 {
			t.Errorf("after %d projects: %d %v", n, code, out)
		}
	})

	t.Run("pending invitations per organisation", func(t *testing.T) {
		n, code, out := fill(t, 100, func(i int) (int, map[string]any) {
			return s.req(t, "POST", "/v1/invitations", map[string]any{"email": fmt.Sprintf("i%d@example.com", i), "role": "ROLE_VIEWER"}, tok, org)
		})
		if n != 100 || code != 429 {
			t.Errorf("after %d invitations: %d %v", n, code, out)
		}
	})

	t.Run("integrations per organisation", func(t *testing.T) {
		n, code, out := fill(t, 25, func(i int) (int, map[string]any) {
			return s.req(t, "POST", "/v1/integrations", map[string]any{"name": fmt.Sprintf("i%d", i), "kind": "INTEGRATION_KIND_WEBHOOK",
				"webhook": map[string]any{"url": "https://example.com/h"}}, tok, org)
		})
		if n != 25 || code != 429 {
			t.Errorf("after %d integrations: %d %v", n, code, out)
		}
	})

	t.Run("organisations per user", func(t *testing.T) {
		// One exists already.
		n, code, out := fill(t, 49, func(i int) (int, map[string]any) {
			return s.req(t, "POST", "/v1/orgs", map[string]any{"name": fmt.Sprintf("o%d", i)}, tok, "")
		})
		if n != 49 || code != 429 {
			t.Errorf("after %d more organisations: %d %v", n, code, out)
		}
	})
}
