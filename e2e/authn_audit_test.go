package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"
)

// platformTrail lists "action outcome details" of the platform chain's
// events whose actor is the user, in chain order.
func (s *Suite) platformTrail(t *testing.T, userID string) []string {
	t.Helper()
	ctx := context.Background()
	var trail []string
	err := pgx.BeginFunc(ctx, s.db(t, "audit"), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('pythorix.org_id', '*', true)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT action, outcome, details FROM events WHERE org_id IS NULL AND actor_id = $1 ORDER BY seq`, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var action, outcome, details string
			if err := rows.Scan(&action, &outcome, &details); err != nil {
				return err
			}
			trail = append(trail, fmt.Sprintf("%s %s %s", action, outcome, details))
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return trail
}

// TestSignInsAreAudited: failed and successful sign-ins and second-factor
// steps reach the platform audit chain with their outcome and method, and
// never the secret that was tried (ASVS V16.3.1).
func TestSignInsAreAudited(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	email, wrong := "audited@example.com", "not the password at all"
	s.signup(t, email, goodPassword)
	tok, _ := s.login(t, email, goodPassword)
	_, me := s.get(t, "/v1/me", tok)
	userID := me["user"].(map[string]any)["id"].(string)

	if code, _ := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": wrong}, ""); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	code, enr := s.post(t, "/v1/me/totp:enroll", map[string]any{"currentPassword": goodPassword}, tok)
	if code != 200 {
		t.Fatalf("enroll: %d %v", code, enr)
	}
	secret := enr["secret"].(string)
	t0 := time.Now()
	confirm, _ := totp.GenerateCode(secret, t0.Add(-30*time.Second))
	if code, out := s.post(t, "/v1/me/totp:confirm", map[string]any{"code": confirm}, tok); code != 200 {
		t.Fatalf("confirm: %d %v", code, out)
	}
	_, first := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": goodPassword}, "")
	if code, _ := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": first["mfaToken"], "code": "000000"}, ""); code != 400 {
		t.Fatalf("wrong code: %d", code)
	}
	now, _ := totp.GenerateCode(secret, t0)
	_, second := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": goodPassword}, "")
	if code, out := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": second["mfaToken"], "code": now}, ""); code != 200 {
		t.Fatalf("right code: %d %v", code, out)
	}

	want := []string{`identity.login OUTCOME_FAILURE {"reason":"bad_password"}`, "identity.login.mfa OUTCOME_FAILURE",
		`identity.login OUTCOME_SUCCESS {"method":"password+mfa","mfa":true}`}
	var trail []string
	defer func() {
		if t.Failed() {
			t.Logf("trail:\n%s", strings.Join(trail, "\n"))
		}
	}()
	waitFor(t, "the sign-ins in the platform chain", 10*time.Second, func() bool {
		trail = s.platformTrail(t, userID)
		next := 0
		for _, e := range trail {
			if next < len(want) && strings.HasPrefix(e, want[next]) {
				next++
			}
		}
		return next == len(want)
	})
	for _, e := range trail {
		if strings.Contains(e, wrong) || strings.Contains(e, goodPassword) || strings.Contains(e, secret) || strings.Contains(e, now) {
			t.Errorf("a secret in the audit trail: %s", e)
		}
	}
}
