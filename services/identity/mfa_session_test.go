package identity

import (
	"context"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestSessionRecordsSecondFactor: a session says whether it was established
// with a second factor, and Authenticate's principal carries it, so that an
// organisation requiring two-factor authentication can refuse the others
// (ASVS V6.3.2). A password alone, or OIDC alone, is not a second factor;
// password or OIDC followed by a TOTP or backup code is. API keys never carry it.
func TestSessionRecordsSecondFactor(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	clock := useFakeClock(a)
	ctx := context.Background()
	const password = "a long and unguessable passphrase"
	hash, err := hashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	uid := createUser(t, a, "mfa@example.com")
	if _, err := a.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, uid, hash); err != nil {
		t.Fatal(err)
	}
	mfaOf := func(t *testing.T, token string) bool {
		t.Helper()
		p, err := a.Authenticate(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		return p.GetMfa()
	}

	plain, err := a.Login(ctx, "mfa@example.com", password)
	if err != nil || plain.AccessToken == "" {
		t.Fatalf("password sign-in: %+v, %v", plain, err)
	}
	if mfaOf(t, plain.AccessToken) {
		t.Fatal("a password-only session claims a second factor")
	}
	oidcAlone, err := a.openSession(ctx, uid, "oidc:test", false)
	if err != nil {
		t.Fatal(err)
	}
	if mfaOf(t, oidcAlone.AccessToken) {
		t.Fatal("an OIDC session without TOTP claims a second factor")
	}

	seed, _, err := a.EnrollTOTP(ctx, uid, plain.SessionID, password)
	if err != nil {
		t.Fatal(err)
	}
	code := func() string {
		clock.advance(totpPeriod * time.Second) // a time step is never accepted twice
		c, err := totp.GenerateCode(seed, clock.now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	backup, err := a.ConfirmTOTP(ctx, uid, code())
	if err != nil {
		t.Fatal(err)
	}
	if mfaOf(t, plain.AccessToken) {
		t.Fatal("enrolling TOTP upgraded a session signed in without it: the user must sign in again")
	}

	withMFA := map[string]bool{} // the sessions signed in with a second factor
	for name, second := range map[string]func() string{"TOTP": code, "backup code": func() string { return backup[0] }} {
		t.Run("password and "+name, func(t *testing.T) {
			ch, err := a.Login(ctx, "mfa@example.com", password)
			if err != nil || ch.MFAToken == "" || ch.AccessToken != "" {
				t.Fatalf("password sign-in with TOTP on: %+v, %v", ch, err)
			}
			res, err := a.LoginMFA(ctx, ch.MFAToken, second())
			if err != nil {
				t.Fatal(err)
			}
			if !mfaOf(t, res.AccessToken) {
				t.Fatal("a session signed in with a second factor does not say so")
			}
			list, _, err := a.ListSessions(ctx, uid, 100, "")
			if err != nil {
				t.Fatal(err)
			}
			withMFA[res.SessionID] = true
			for _, s := range list {
				if s.MFA != withMFA[s.ID] {
					t.Errorf("session list: %+v", s)
				}
			}
		})
	}

	_, key, err := a.CreateAPIKey(ctx, mustUUID(), "", uid, "ci", []string{"assets.read"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mfaOf(t, key) {
		t.Fatal("an API key claims a second factor")
	}
}
