package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pythorix/pythorix/services/identity"
)

// eventually polls check until it holds or a second has passed: the time a
// revocation takes to reach every gateway replica.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after a second", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// makeGlobalAdmin marks an account a platform admin, as an operator does in
// the database (there is no API that grants it).
func (s *Suite) makeGlobalAdmin(t *testing.T, email string) {
	t.Helper()
	ctx := context.Background()
	conn := s.db(t, "identity")
	if tag, err := conn.Exec(ctx, `UPDATE users SET global_admin = true WHERE email = $1`, email); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("make %s a platform admin: %v", email, err)
	}
}

// platformEvent waits for an event of the platform chain (no organisation)
// to reach the audit service, and returns its actor.
func (s *Suite) platformEvent(t *testing.T, action, resourceID string) (actor string) {
	t.Helper()
	ctx := context.Background()
	conn := s.db(t, "audit")
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('pythorix.org_id', '*', true)`); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT actor_id FROM events WHERE org_id IS NULL AND action = $1 AND resource_id = $2`,
				action, resourceID).Scan(&actor)
		})
		if err == nil {
			return actor
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for %s reached the audit chain: %v", action, resourceID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSessionsOverREST(t *testing.T) {
	t.Parallel()
	s := StartSuite(t, SuiteOptions{Identity: func(c *identity.Config) { c.MaxSessions = 2 }})
	replica := s.Replica(t)
	status := func(base, path, token string) int {
		code, _, _ := s.call(t, nil, "GET", base+path, nil, token)
		return code
	}

	t.Run("a sign-in beyond the cap ends the oldest session on every replica", func(t *testing.T) {
		email := "many-devices@example.com"
		s.signup(t, email, goodPassword)
		first, firstID := s.login(t, email, goodPassword)
		second, _ := s.login(t, email, goodPassword)
		for _, base := range []string{s.URL, replica} { // both gateways cache the first session
			if code := status(base, "/v1/me", first); code != 200 {
				t.Fatalf("first session at %s: %d", base, code)
			}
		}
		third, _ := s.login(t, email, goodPassword)
		for _, base := range []string{s.URL, replica} {
			eventually(t, "the oldest session is refused at "+base, func() bool { return status(base, "/v1/me", first) == 401 })
		}
		for _, tok := range []string{second, third} {
			if code := status(s.URL, "/v1/me", tok); code != 200 {
				t.Fatalf("a newer session: %d", code)
			}
		}
		code, out := s.get(t, "/v1/me/sessions", third)
		list, _ := out["sessions"].([]any)
		if code != 200 || len(list) != 2 {
			t.Fatalf("sessions: %d %v", code, out)
		}
		for _, ss := range list {
			if ss.(map[string]any)["id"] == firstID {
				t.Fatalf("the ended session is still listed: %v", out)
			}
		}
	})

	t.Run("TOTP enrolment takes the current password when it is given", func(t *testing.T) {
		email := "second-factor@example.com"
		s.signup(t, email, goodPassword)
		tok, _ := s.login(t, email, goodPassword)
		code, out := s.post(t, "/v1/me/totp:enroll", map[string]any{"currentPassword": "not my password at all"}, tok)
		if code != 400 || !slices.Contains(fieldNamed(out), "currentPassword") || out["secret"] != nil {
			t.Fatalf("wrong password: %d %v", code, out)
		}
		if code, out := s.post(t, "/v1/me/totp:enroll", map[string]any{"currentPassword": goodPassword}, tok); code != 200 || out["secret"] == nil {
			t.Fatalf("right password: %d %v", code, out)
		}
	})

	t.Run("a platform admin disables and enables an account, and ends a user's sessions", func(t *testing.T) {
		s.signup(t, "root@example.com", goodPassword)
		s.makeGlobalAdmin(t, "root@example.com") // before signing in: the principal carries the flag
		admin, _ := s.login(t, "root@example.com", goodPassword)
		s.signup(t, "leaver@example.com", goodPassword)
		s.signup(t, "stayer@example.com", goodPassword)
		stayer, _ := s.login(t, "stayer@example.com", goodPassword)

		// The leaver: two sessions, an organisation and an API key, all in use
		// (and so cached) at both gateways.
		leaver, _ := s.login(t, "leaver@example.com", goodPassword)
		leaver2, _ := s.login(t, "leaver@example.com", goodPassword)
		_, me := s.get(t, "/v1/me", leaver)
		leaverID := me["user"].(map[string]any)["id"].(string)
		_, org := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Leaver's"}, leaver, "")
		orgID := org["org"].(map[string]any)["id"].(string)
		code, out := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "ci", "scopes": []string{"members.read"}}, leaver, orgID)
		if code != 200 {
			t.Fatalf("create key: %d %v", code, out)
		}
		key := out["key"].(string)
		useKey := func(base string) int {
			c := &clientWithOrg{s: s, org: orgID}
			return c.get(t, base+"/v1/members", key)
		}
		for _, base := range []string{s.URL, replica} {
			if status(base, "/v1/me", leaver) != 200 || status(base, "/v1/me", leaver2) != 200 || useKey(base) != 200 {
				t.Fatalf("the leaver's credentials before disabling at %s", base)
			}
		}

		disable := func(token, id string) (int, map[string]any) {
			return s.post(t, "/v1/admin/users/"+id+":disable", map[string]any{"reason": "left the company"}, token)
		}
		enable := func(token, id string) (int, map[string]any) {
			return s.post(t, "/v1/admin/users/"+id+":enable", map[string]any{}, token)
		}
		// Anyone but a platform admin is refused; unknown and malformed ids are not found.
		for _, c := range []struct {
			who, token string
			want       int
		}{{"another user", stayer, 403}, {"the user themself", leaver, 403}, {"an API key", key, 401}, {"nobody", "", 401}} {
			if code, out := disable(c.token, leaverID); code != c.want {
				t.Fatalf("%s disables: %d %v", c.who, code, out)
			}
			if code, out := enable(c.token, leaverID); code != c.want {
				t.Fatalf("%s enables: %d %v", c.who, code, out)
			}
		}
		for _, id := range []string{"0192f7a0-0000-7000-8000-000000000000", "not-a-user-id"} {
			if code, out := disable(admin, id); code != 404 {
				t.Fatalf("disable %q: %d %v", id, code, out)
			}
		}
		if code, out := s.post(t, "/v1/admin/users/"+leaverID+":disable", map[string]any{"reason": "x", "force": true}, admin); code != 400 {
			t.Fatalf("unknown field: %d %v", code, out)
		}

		code, out = disable(admin, leaverID)
		if code != 200 || out["sessionsRevoked"] != float64(2) || out["apiKeysRevoked"] != float64(1) {
			t.Fatalf("disable: %d %v", code, out)
		}
		// Every session and the key are refused at once, at every gateway.
		for _, base := range []string{s.URL, replica} {
			eventually(t, "the leaver's sessions and key are refused at "+base, func() bool {
				return status(base, "/v1/me", leaver) == 401 && status(base, "/v1/me", leaver2) == 401 && useKey(base) == 401
			})
		}
		// Signing in reads exactly as a wrong password does.
		wrongCode, wrong := s.post(t, "/v1/auth/login", map[string]any{"email": "leaver@example.com", "password": "not the right passphrase"}, "")
		rightCode, right := s.post(t, "/v1/auth/login", map[string]any{"email": "leaver@example.com", "password": goodPassword}, "")
		if rightCode != 401 || wrongCode != 401 || right["message"] != wrong["message"] || right["accessToken"] != nil {
			t.Fatalf("sign-in of a disabled account: %d %v; wrong password: %d %v", rightCode, right, wrongCode, wrong)
		}
		// An admin can also end a user's sessions without disabling the account.
		if code, out := s.post(t, "/v1/admin/users/"+leaverID+"/sessions:revoke", map[string]any{}, stayer); code != 403 {
			t.Fatalf("a user ends another's sessions: %d %v", code, out)
		}
		_, stayerMe := s.get(t, "/v1/me", stayer)
		stayerID := stayerMe["user"].(map[string]any)["id"].(string)
		stayer2, _ := s.login(t, "stayer@example.com", goodPassword)
		for _, base := range []string{s.URL, replica} {
			if status(base, "/v1/me", stayer2) != 200 {
				t.Fatalf("stayer's second session at %s", base)
			}
		}
		if code, out := s.post(t, "/v1/admin/users/"+stayerID+"/sessions:revoke", map[string]any{"reason": "lost laptop"}, admin); code != 200 || out["sessionsRevoked"] != float64(2) {
			t.Fatalf("revoke a user's sessions: %d %v", code, out)
		}
		for _, base := range []string{s.URL, replica} {
			eventually(t, "the stayer's sessions are refused at "+base, func() bool {
				return status(base, "/v1/me", stayer) == 401 && status(base, "/v1/me", stayer2) == 401
			})
		}
		stayer, _ = s.login(t, "stayer@example.com", goodPassword) // not disabled: signs in again
		s.platformEvent(t, "identity.user.sessions.revoke", stayerID)

		// Nobody else is affected.
		if status(s.URL, "/v1/me", stayer) != 200 || status(s.URL, "/v1/me", admin) != 200 {
			t.Fatal("disabling one account touched another")
		}
		// Audited: on the platform chain, and the key's revocation in its organisation's.
		if actor := s.platformEvent(t, "identity.user.disable", leaverID); actor == "" {
			t.Fatal("no actor recorded")
		}
		if actions := s.waitForActions(t, admin, orgID, 3); !slices.Contains(actions, "identity.api_key.revoke") {
			t.Fatalf("the organisation's chain: %v", actions)
		}

		// Enabling restores sign-in, not the revoked sessions or key.
		if code, out := enable(admin, leaverID); code != 200 {
			t.Fatalf("enable: %d %v", code, out)
		}
		fresh, _ := s.login(t, "leaver@example.com", goodPassword)
		if status(s.URL, "/v1/me", fresh) != 200 {
			t.Fatal("a new session after enabling is refused")
		}
		for _, base := range []string{s.URL, replica} {
			if status(base, "/v1/me", leaver) != 401 || useKey(base) != 401 {
				t.Fatalf("a revoked credential came back at %s", base)
			}
		}
		s.platformEvent(t, "identity.user.enable", leaverID)
	})
}

// clientWithOrg sends GET requests with X-Org-Id to any gateway.
type clientWithOrg struct {
	s   *Suite
	org string
}

func (c *clientWithOrg) get(t *testing.T, url, token string) int {
	t.Helper()
	hc := *c.s.Client
	hc.Transport = orgTransport{base: c.s.Client.Transport, org: c.org}
	code, _, _ := c.s.call(t, &hc, "GET", url, nil, token)
	return code
}

// TestRevocationIsImmediateOnTheGateway: a key or session revoked through a
// gateway is refused by that gateway on the very next request, before the
// revocation's announcement has made its way back through Redis.
func TestRevocationIsImmediateOnTheGateway(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	s.signup(t, "quick@example.com", goodPassword)
	owner, _ := s.login(t, "quick@example.com", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Quick"}, owner, "")
	org := out["org"].(map[string]any)["id"].(string)
	for i := range 20 {
		code, out := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": fmt.Sprintf("k%d", i), "scopes": []string{"members.read"}}, owner, org)
		if code != 200 {
			t.Fatalf("create key: %d %v", code, out)
		}
		key, id := out["key"].(string), out["apiKey"].(map[string]any)["id"].(string)
		if code, _ := s.req(t, "GET", "/v1/members", nil, key, org); code != 200 {
			t.Fatalf("fresh key: %d", code)
		}
		if code, _ := s.req(t, "DELETE", "/v1/api-keys/"+id, nil, owner, org); code != 200 {
			t.Fatalf("revoke key: %d", code)
		}
		if code, _ := s.req(t, "GET", "/v1/members", nil, key, org); code != 401 {
			t.Fatalf("round %d: the revoked key answered %d", i, code)
		}
		other, sid := s.login(t, "quick@example.com", goodPassword)
		if code, _ := s.get(t, "/v1/me", other); code != 200 {
			t.Fatalf("fresh session: %d", code)
		}
		if code, _ := s.req(t, "DELETE", "/v1/me/sessions/"+sid, nil, owner, ""); code != 200 {
			t.Fatalf("revoke session: %d", code)
		}
		if code, _ := s.get(t, "/v1/me", other); code != 401 {
			t.Fatalf("round %d: the revoked session answered %d", i, code)
		}
	}
}
