package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	"github.com/pythorix/pythorix/platform/authn"
)

// TestAdminResetsTOTP: the recovery of a lost second factor (ASVS V6.4.4) is
// a platform admin's act, from a session with their own second factor, never
// on their own account; it turns TOTP off, voids backup codes and pending
// second-factor sign-ins, ends every session of the user and is audited.
func TestAdminResetsTOTP(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	clock := useFakeClock(a)
	ctx := context.Background()
	const password = "a long and unguessable passphrase"
	hash, err := hashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	newUser := func(email string) string {
		id := createUser(t, a, email)
		if _, err := a.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash); err != nil {
			t.Fatal(err)
		}
		return id
	}
	adminID, target, other := newUser("admin@example.com"), newUser("target@example.com"), newUser("other@example.com")
	svc := &Service{accounts: a, log: a.log}
	as := func(p *identityv1.Principal) context.Context { return authn.WithPrincipal(ctx, p) }
	admin := func(mfa bool) context.Context {
		return as(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: adminID, GlobalAdmin: true, Mfa: mfa})
	}

	// The target: TOTP on with backup codes, a session, and a sign-in waiting for its second factor.
	first, err := a.Login(ctx, "target@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	seed, _, err := a.EnrollTOTP(ctx, target, first.SessionID, password)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(seed, clock.now())
	backup, err := a.ConfirmTOTP(ctx, target, code)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := a.Login(ctx, "target@example.com", password)
	if err != nil || pending.MFAToken == "" {
		t.Fatalf("login with TOTP on: %+v, %v", pending, err)
	}
	bystander, err := a.Login(ctx, "other@example.com", password)
	if err != nil {
		t.Fatal(err)
	}

	reset := func(ctx context.Context, userID string) (*identityv1.ResetUserTotpResponse, error) {
		return svc.ResetUserTotp(ctx, &identityv1.ResetUserTotpRequest{UserId: userID, Reason: "video call, ID checked"})
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		user string
		want codes.Code
	}{
		{"a user", as(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: other, Mfa: true}), target, codes.PermissionDenied},
		{"an API key of an admin", as(&identityv1.Principal{Kind: identityv1.Principal_KIND_API_KEY, UserId: adminID, GlobalAdmin: true}), target, codes.PermissionDenied},
		{"the target themself", as(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: target, Mfa: true}), target, codes.PermissionDenied},
		{"an admin without their own second factor", admin(false), target, codes.FailedPrecondition},
		{"an admin resetting their own", admin(true), adminID, codes.FailedPrecondition},
		{"an unknown id", admin(true), mustUUID(), codes.NotFound},
		{"a malformed id", admin(true), "not-a-uuid", codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := reset(tc.ctx, tc.user); status.Code(err) != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if u, err := a.GetUser(ctx, target); err != nil || !u.TOTPEnabled {
		t.Fatalf("a refused reset changed the account: %+v, %v", u, err)
	}

	resp, err := reset(admin(true), target)
	if err != nil || !resp.GetTotpWasEnabled() || resp.GetSessionsRevoked() != 1 {
		t.Fatalf("reset: %+v, %v", resp, err)
	}
	if _, err := a.Authenticate(ctx, first.AccessToken); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("the target's session survived: %v", err)
	}
	if _, err := a.Authenticate(ctx, bystander.AccessToken); err != nil {
		t.Errorf("another user's session: %v", err)
	}
	clock.advance(30 * time.Second)
	now, _ := totp.GenerateCode(seed, clock.now())
	for name, c := range map[string]string{"the old TOTP": now, "an old backup code": backup[0]} {
		if _, err := a.LoginMFA(ctx, pending.MFAToken, c); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("a pending sign-in completed with %s: %v", name, err)
		}
	}
	var codesLeft int
	if err := a.db.QueryRow(ctx, `SELECT count(*) FROM backup_codes WHERE user_id = $1`, target).Scan(&codesLeft); err != nil || codesLeft != 0 {
		t.Fatalf("%d backup codes left, %v", codesLeft, err)
	}
	// The password alone signs in now, into a session without a second factor,
	// and the user may enrol again.
	again, err := a.Login(ctx, "target@example.com", password)
	if err != nil || again.AccessToken == "" {
		t.Fatalf("sign-in after the reset: %+v, %v", again, err)
	}
	if p, err := a.Authenticate(ctx, again.AccessToken); err != nil || p.GetMfa() {
		t.Fatalf("the new session: %v, %v", p, err)
	}
	if _, _, err := a.EnrollTOTP(ctx, target, again.SessionID, password); err != nil {
		t.Fatalf("enrol again: %v", err)
	}

	var audited bool
	for _, ev := range auditEvents(t, a) {
		f := ev.GetDetails().GetFields()
		if ev.GetAction() == "identity.user.totp.reset" && ev.GetResourceId() == target && ev.GetActor().GetId() == adminID &&
			f["reason"].GetStringValue() == "video call, ID checked" && f["totp_was_enabled"].GetBoolValue() {
			audited = true
		}
	}
	if !audited {
		t.Fatal("the reset is not audited")
	}
}
