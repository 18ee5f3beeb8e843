package e2e_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// enrolTOTPOverREST turns TOTP on for a signed-in user, re-authenticating with
// the password ("" for an account without one, just signed in), and answers
// the secret. The confirmation spends the code of
// the previous time step, so that a sign-in may use the current one.
func (s *Suite) enrolTOTPOverREST(t *testing.T, token, password string) string {
	t.Helper()
	body := map[string]any{} // without a password: within 5 minutes of signing in
	if password != "" {
		body["currentPassword"] = password
	}
	code, enr := s.post(t, "/v1/me/totp:enroll", body, token)
	secret, _ := enr["secret"].(string)
	if code != 200 || secret == "" {
		t.Fatalf("enroll: %d %v", code, enr)
	}
	prev, _ := totp.GenerateCode(secret, time.Now().Add(-30*time.Second))
	if code, out := s.post(t, "/v1/me/totp:confirm", map[string]any{"code": prev}, token); code != 200 {
		t.Fatalf("confirm: %d %v", code, out)
	}
	return secret
}

// loginWithTOTP signs in with the password and the current TOTP code and
// answers the access token.
func (s *Suite) loginWithTOTP(t *testing.T, email, password, secret string) string {
	t.Helper()
	code, out := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": password}, "")
	mfaToken, _ := out["mfaToken"].(string)
	if code != 200 || out["mfaRequired"] != true || mfaToken == "" {
		t.Fatalf("login with TOTP on: %d %v", code, out)
	}
	now, _ := totp.GenerateCode(secret, time.Now())
	code, out = s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfaToken, "code": now}, "")
	token, _ := out["accessToken"].(string)
	if code != 200 || token == "" {
		t.Fatalf("login/mfa: %d %v", code, out)
	}
	return token
}

// mfaRefusal tells whether an answer is the two-factor policy's refusal: 403,
// a message that says what to do, and the MFA_REQUIRED reason for programs.
func mfaRefusal(code int, out map[string]any) bool {
	if code != 403 {
		return false
	}
	msg, _ := out["message"].(string)
	if !strings.Contains(msg, "two-factor") || !strings.Contains(msg, "sign in again") {
		return false
	}
	details, _ := out["details"].([]any)
	return slices.ContainsFunc(details, func(d any) bool {
		m, _ := d.(map[string]any)
		return m["reason"] == "MFA_REQUIRED"
	})
}

// TestMFAPolicy: an organisation that requires two-factor authentication
// (ASVS V6.3.2) refuses every organisation-scoped call of a session signed in
// without a second factor, whatever the role, while the calls needed to
// comply keep working; API keys and other organisations are unaffected; a
// change of the policy takes effect at once, is audited, and cannot be made
// by an owner who would lock themself out.
func TestMFAPolicy(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	const (
		ownerEmail  = "owner@strict.test"
		memberEmail = "sam@strict.test"
		adminEmail  = "root@platform.test"
	)
	for _, e := range []string{ownerEmail, memberEmail, adminEmail} {
		s.signup(t, e, goodPassword)
	}
	s.makeGlobalAdmin(t, adminEmail) // before signing in: the principal carries the flag
	owner, _ := s.login(t, ownerEmail, goodPassword)
	member, _ := s.login(t, memberEmail, goodPassword)
	platformAdmin, _ := s.login(t, adminEmail, goodPassword)

	orgs := map[string]string{}
	for _, name := range []string{"Strict", "Relaxed"} {
		code, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": name}, owner, "")
		if code != 200 {
			t.Fatalf("create org: %d %v", code, out)
		}
		org := out["org"].(map[string]any)
		if org["requireMfa"] == true {
			t.Fatalf("a new organisation requires MFA: %v", org)
		}
		orgs[name] = org["id"].(string)
		_, inv := s.req(t, "POST", "/v1/invitations", map[string]any{"email": memberEmail, "role": "ROLE_SECURITY"}, owner, orgs[name])
		if code, out := s.req(t, "POST", "/v1/invitations:accept", map[string]any{"token": inv["token"]}, member, ""); code != 200 {
			t.Fatalf("accept: %d %v", code, out)
		}
	}
	strict, relaxed := orgs["Strict"], orgs["Relaxed"]
	orgCalls := []string{"/v1/assets", "/v1/projects", "/v1/audit/events", "/v1/members"}
	allAnswer := func(t *testing.T, token, org string, want int) {
		t.Helper()
		for _, p := range orgCalls {
			if code, out := s.req(t, "GET", p, nil, token, org); code != want {
				t.Errorf("GET %s: %d %v, want %d", p, code, out, want)
			}
		}
	}
	refusedEverywhere := func(t *testing.T, token string) {
		t.Helper()
		for _, p := range orgCalls {
			if code, out := s.req(t, "GET", p, nil, token, strict); !mfaRefusal(code, out) {
				t.Errorf("GET %s: %d %v, want the two-factor policy's 403", p, code, out)
			}
		}
		if code, out := s.req(t, "GET", "/v1/orgs/"+strict, nil, token, ""); !mfaRefusal(code, out) {
			t.Errorf("GET the organisation: %d %v", code, out)
		}
	}

	t.Run("policy off: a password alone works", func(t *testing.T) {
		allAnswer(t, member, strict, 200)
		allAnswer(t, platformAdmin, strict, 200)
	})

	t.Run("an owner without a second factor cannot turn it on", func(t *testing.T) {
		code, out := s.req(t, "PATCH", "/v1/orgs/"+strict, map[string]any{"requireMfa": true}, owner, "")
		if msg, _ := out["message"].(string); code != 412 || !strings.Contains(msg, "two-factor") {
			t.Fatalf("PATCH requireMfa from a password-only session: %d %v, want 412", code, out)
		}
		if _, out := s.req(t, "GET", "/v1/orgs/"+strict, nil, owner, ""); out["org"].(map[string]any)["requireMfa"] == true {
			t.Fatal("the policy was turned on anyway")
		}
		// A member whose role may not change the organisation gets 403, with or without MFA.
		if code, _ := s.req(t, "PATCH", "/v1/orgs/"+strict, map[string]any{"requireMfa": true}, member, ""); code != 403 {
			t.Fatalf("a Security member changed the policy: %d", code)
		}
		if code, out := s.req(t, "PATCH", "/v1/orgs/"+strict, map[string]any{"requireMfa": "yes"}, owner, ""); code != 400 || !strings.Contains(toJSON(out), "requireMfa") {
			t.Fatalf("a non-boolean requireMfa: %d %v", code, out)
		}
	})

	ownerSecret := s.enrolTOTPOverREST(t, owner, goodPassword)
	ownerMFA := s.loginWithTOTP(t, ownerEmail, goodPassword, ownerSecret)

	t.Run("an owner signed in with TOTP turns it on; it applies at once, to every role", func(t *testing.T) {
		code, out := s.req(t, "PATCH", "/v1/orgs/"+strict, map[string]any{"requireMfa": true}, ownerMFA, "")
		if code != 200 || out["org"].(map[string]any)["requireMfa"] != true {
			t.Fatalf("turn on: %d %v", code, out)
		}
		eventually(t, "the member's password-only session refused", func() bool {
			code, out := s.req(t, "GET", "/v1/assets", nil, member, strict)
			return mfaRefusal(code, out)
		})
		refusedEverywhere(t, member)
		refusedEverywhere(t, owner)         // the owner's own password-only session too
		refusedEverywhere(t, platformAdmin) // platform admins acting in the organisation too
		allAnswer(t, ownerMFA, strict, 200)
	})

	t.Run("the way to comply stays open", func(t *testing.T) {
		if code, out := s.get(t, "/v1/me", member); code != 200 {
			t.Fatalf("GET /v1/me: %d %v", code, out)
		}
		code, out := s.req(t, "GET", "/v1/orgs", nil, member, "")
		ms, _ := out["memberships"].([]any)
		if code != 200 || len(ms) != 2 {
			t.Fatalf("GET /v1/orgs: %d %v", code, out)
		}
		for _, m := range ms {
			org := m.(map[string]any)["org"].(map[string]any)
			if (org["requireMfa"] == true) != (org["id"] == strict) {
				t.Errorf("listed %v", org)
			}
		}
		if code, out := s.get(t, "/v1/me/sessions", member); code != 200 {
			t.Fatalf("GET /v1/me/sessions: %d %v", code, out)
		}
	})

	t.Run("another organisation without the policy is unaffected", func(t *testing.T) {
		allAnswer(t, member, relaxed, 200)
	})

	t.Run("an API key of the organisation keeps working", func(t *testing.T) {
		code, out := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "ci", "scopes": []string{"assets.read"}}, ownerMFA, strict)
		key, _ := out["key"].(string)
		if code != 200 || key == "" {
			t.Fatalf("create key: %d %v", code, out)
		}
		if code, out := s.req(t, "GET", "/v1/assets", nil, key, strict); code != 200 {
			t.Fatalf("GET /v1/assets with the key: %d %v", code, out)
		}
		// Creating one needs the second factor like any other call.
		if code, out := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "x", "scopes": []string{"assets.read"}}, member, strict); !mfaRefusal(code, out) {
			t.Fatalf("a password-only session created a key: %d %v", code, out)
		}
	})

	t.Run("the member enrols TOTP, signs in again with it, and is let in", func(t *testing.T) {
		secret := s.enrolTOTPOverREST(t, member, goodPassword)
		// Enrolling does not upgrade the session signed in with a password alone.
		if code, out := s.req(t, "GET", "/v1/assets", nil, member, strict); !mfaRefusal(code, out) {
			t.Fatalf("the password-only session after enrolling: %d %v", code, out)
		}
		memberMFA := s.loginWithTOTP(t, memberEmail, goodPassword, secret)
		allAnswer(t, memberMFA, strict, 200)
		// The session list tells which sessions the policy accepts.
		code, out := s.get(t, "/v1/me/sessions", memberMFA)
		sessions, _ := out["sessions"].([]any)
		withMFA := map[bool]int{}
		for _, ss := range sessions {
			m := ss.(map[string]any)
			withMFA[m["mfa"] == true]++
			if m["current"] == true && m["mfa"] != true {
				t.Errorf("the current session, signed in with TOTP: %v", m)
			}
		}
		if code != 200 || withMFA[true] != 1 || withMFA[false] != 1 {
			t.Fatalf("GET /v1/me/sessions: %d %v", code, out)
		}
	})

	t.Run("the change is audited", func(t *testing.T) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, out := s.req(t, "GET", "/v1/audit/events?action=tenancy.org.require_mfa", nil, ownerMFA, strict)
			events, _ := out["events"].([]any)
			if code == 200 && len(events) == 1 {
				ev := events[0].(map[string]any)
				details, _ := ev["details"].(map[string]any)
				if details["require_mfa"] != true {
					t.Fatalf("event %v", ev)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no tenancy.org.require_mfa event: %d %v", code, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("turning it off restores access at once", func(t *testing.T) {
		code, out := s.req(t, "PATCH", "/v1/orgs/"+strict, map[string]any{"requireMfa": false}, ownerMFA, "")
		if code != 200 || out["org"].(map[string]any)["requireMfa"] == true {
			t.Fatalf("turn off: %d %v", code, out)
		}
		eventually(t, "the member's password-only session let in again", func() bool {
			code, _ := s.req(t, "GET", "/v1/assets", nil, member, strict)
			return code == 200
		})
		allAnswer(t, member, strict, 200)
		allAnswer(t, platformAdmin, strict, 200)
	})
}

// TestAdminResetsTOTPOverREST: a user who lost their authenticator and backup
// codes is recovered by a platform admin (ASVS V6.4.4) after an identity
// check out of band: POST /v1/admin/users/{userId}/totp:reset turns TOTP off
// and ends every session of the user at once; the user signs in with the
// password, and an organisation requiring two-factor authentication keeps
// them out until they enrol again. Only an admin signed in with their own
// second factor may do it, never on their own account, and it is audited.
func TestAdminResetsTOTPOverREST(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	const (
		adminEmail = "root@platform.test"
		userEmail  = "lost@phone.test"
	)
	s.signup(t, adminEmail, goodPassword)
	s.signup(t, userEmail, goodPassword)
	s.makeGlobalAdmin(t, adminEmail)
	admin, _ := s.login(t, adminEmail, goodPassword)
	user, _ := s.login(t, userEmail, goodPassword)
	idOf := func(token string) string {
		_, me := s.get(t, "/v1/me", token)
		return me["user"].(map[string]any)["id"].(string)
	}
	adminID, userID := idOf(admin), idOf(user)

	// The user turns TOTP on and runs an organisation that requires it.
	userSecret := s.enrolTOTPOverREST(t, user, goodPassword)
	userMFA := s.loginWithTOTP(t, userEmail, goodPassword, userSecret)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Strict"}, userMFA, "")
	org := out["org"].(map[string]any)["id"].(string)
	if code, out := s.req(t, "PATCH", "/v1/orgs/"+org, map[string]any{"requireMfa": true}, userMFA, ""); code != 200 {
		t.Fatalf("turn the policy on: %d %v", code, out)
	}
	resetPath := "/v1/admin/users/" + userID + "/totp:reset"
	body := map[string]any{"reason": "video call, passport checked"}

	t.Run("an admin signed in without their own second factor is refused", func(t *testing.T) {
		if code, out := s.post(t, resetPath, body, admin); code != 412 {
			t.Fatalf("%d %v", code, out)
		}
	})
	adminSecret := s.enrolTOTPOverREST(t, admin, goodPassword)
	adminMFA := s.loginWithTOTP(t, adminEmail, goodPassword, adminSecret)

	t.Run("only platform admins, never on themselves; unknown ids are 404", func(t *testing.T) {
		for _, c := range []struct {
			name, path, token string
			want              int
		}{
			{"the user", resetPath, userMFA, 403},
			{"the admin's own", "/v1/admin/users/" + adminID + "/totp:reset", adminMFA, 412},
			{"an unknown id", "/v1/admin/users/00000000-0000-4000-8000-000000000000/totp:reset", adminMFA, 404},
			{"a malformed id", "/v1/admin/users/nobody/totp:reset", adminMFA, 404},
		} {
			if code, out := s.post(t, c.path, body, c.token); code != c.want {
				t.Errorf("%s: %d %v, want %d", c.name, code, out, c.want)
			}
		}
		if code, out := s.post(t, resetPath, map[string]any{"reason": strings.Repeat("x", 201)}, adminMFA); code != 400 || !slices.Contains(fieldNamed(out), "reason") {
			t.Errorf("a reason too long: %d %v", code, out)
		}
		if _, me := s.get(t, "/v1/me", userMFA); me["user"].(map[string]any)["totpEnabled"] != true {
			t.Fatal("a refused reset turned TOTP off")
		}
	})

	t.Run("the reset ends the user's sessions and turns TOTP off", func(t *testing.T) {
		code, out := s.post(t, resetPath, body, adminMFA)
		if code != 200 || out["totpWasEnabled"] != true || out["sessionsRevoked"] != float64(2) {
			t.Fatalf("reset: %d %v", code, out)
		}
		for _, tok := range []string{user, userMFA} {
			eventually(t, "a session of the user refused on the gateway", func() bool {
				code, _ := s.get(t, "/v1/me", tok)
				return code == 401
			})
		}
		if code, _ := s.get(t, "/v1/me", adminMFA); code != 200 {
			t.Errorf("the admin's own session: %d", code)
		}
		if actor := s.platformEvent(t, "identity.user.totp.reset", userID); actor != adminID {
			t.Errorf("audited with actor %q, want the admin", actor)
		}
	})

	t.Run("the user signs in with the password, and enrols again to reach the organisation", func(t *testing.T) {
		code, out := s.post(t, "/v1/auth/login", map[string]any{"email": userEmail, "password": goodPassword}, "")
		token, _ := out["accessToken"].(string)
		if code != 200 || token == "" || out["mfaRequired"] == true {
			t.Fatalf("password sign-in after the reset: %d %v", code, out)
		}
		if code, out := s.req(t, "GET", "/v1/assets", nil, token, org); !mfaRefusal(code, out) {
			t.Fatalf("the organisation requiring MFA let a password-only session in: %d %v", code, out)
		}
		secret := s.enrolTOTPOverREST(t, token, goodPassword)
		if secret == userSecret {
			t.Fatal("enrolled again with the old secret")
		}
		again := s.loginWithTOTP(t, userEmail, goodPassword, secret)
		if code, out := s.req(t, "GET", "/v1/assets", nil, again, org); code != 200 {
			t.Fatalf("after enrolling again: %d %v", code, out)
		}
	})
}
