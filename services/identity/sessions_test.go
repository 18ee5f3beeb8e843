package identity

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/outbox/outboxtest"
	"github.com/pythorix/pythorix/platform/revocation"
	"github.com/pythorix/pythorix/platform/server/servertest"
)

// fakeClock is the domain's clock under a test's control.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func useFakeClock(a *Accounts) *fakeClock {
	c := &fakeClock{t: time.Now().Truncate(time.Second)}
	a.now = c.now
	return c
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sessionRow is what the database holds of a session: its recorded last use,
// the row version (xmin changes on every write) and its revocation.
func sessionRow(t *testing.T, a *Accounts, id string) (lastSeen time.Time, version, revokeReason string) {
	t.Helper()
	var reason *string
	if err := a.db.QueryRow(context.Background(), `SELECT last_seen_at, xmin::text, revoke_reason FROM sessions WHERE id = $1`, id).
		Scan(&lastSeen, &version, &reason); err != nil {
		t.Fatal(err)
	}
	if reason != nil {
		revokeReason = *reason
	}
	return lastSeen, version, revokeReason
}

func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	clock := useFakeClock(a)
	ctx := context.Background()
	if a.idleTimeout != DefaultSessionIdleTimeout {
		t.Fatalf("idle timeout %v, want the default %v", a.idleTimeout, DefaultSessionIdleTimeout)
	}
	uid := createUser(t, a, "idle@example.com")
	a.tokens.ttl = 24 * time.Hour // the production lifetime: idleness, not expiry, ends this session
	res, err := a.openSession(ctx, uid, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	authenticate := func() (*identityv1.Principal, error) { return a.Authenticate(ctx, res.AccessToken) }

	t.Run("use within a minute of the last recorded use writes nothing", func(t *testing.T) {
		start, before, _ := sessionRow(t, a, res.SessionID)
		clock.advance(30 * time.Second)
		for range 3 {
			if _, err := authenticate(); err != nil {
				t.Fatal(err)
			}
		}
		last, after, _ := sessionRow(t, a, res.SessionID)
		if !last.Equal(start) || after != before {
			t.Fatalf("the session row was written: last use %v -> %v, version %s -> %s", start, last, before, after)
		}
	})

	t.Run("use after a minute is recorded, and bounds what the gateway may cache", func(t *testing.T) {
		clock.advance(time.Minute)
		p, err := authenticate()
		if err != nil {
			t.Fatal(err)
		}
		last, _, _ := sessionRow(t, a, res.SessionID)
		if !last.Equal(clock.now()) {
			t.Fatalf("last use %v, want %v", last, clock.now())
		}
		if got, want := p.GetExpireTime().AsTime(), clock.now().Add(DefaultSessionIdleTimeout); !got.Equal(want) {
			t.Fatalf("principal expires %v, want the end of the idle allowance %v", got, want)
		}
	})

	t.Run("a session in use stays open past the idle limit", func(t *testing.T) {
		for range 3 {
			clock.advance(DefaultSessionIdleTimeout - time.Second)
			if _, err := authenticate(); err != nil {
				t.Fatalf("after %v of use: %v", DefaultSessionIdleTimeout, err)
			}
		}
	})

	t.Run("a session idle past the limit is refused and no longer listed", func(t *testing.T) {
		clock.advance(DefaultSessionIdleTimeout + time.Second)
		if _, err := authenticate(); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("idle session: %v", err)
		}
		list, _, err := a.ListSessions(ctx, uid, 10, "")
		if err != nil || len(list) != 0 {
			t.Fatalf("listed %+v, %v", list, err)
		}
		// Refusing it recorded no use that would revive it.
		last, _, _ := sessionRow(t, a, res.SessionID)
		if !last.Before(clock.now().Add(-DefaultSessionIdleTimeout)) {
			t.Fatalf("a refused request recorded a use at %v", last)
		}
	})

	t.Run("the absolute lifetime holds however busy the session", func(t *testing.T) {
		a.tokens.ttl = time.Hour
		res2, err := a.openSession(ctx, uid, "test", false)
		if err != nil {
			t.Fatal(err)
		}
		for elapsed := time.Duration(0); elapsed < time.Hour-10*time.Minute; elapsed += 10 * time.Minute {
			clock.advance(10 * time.Minute)
			if _, err := a.Authenticate(ctx, res2.AccessToken); err != nil {
				t.Fatalf("busy session after %v: %v", elapsed, err)
			}
		}
		clock.advance(11 * time.Minute)
		if _, err := a.Authenticate(ctx, res2.AccessToken); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("a session past its absolute lifetime: %v", err)
		}
	})
}

func TestSessionSettings(t *testing.T) {
	t.Parallel()
	base := map[string]string{"PYTHORIX_JWT_KEYS": "k1:" + testKey(), "PYTHORIX_KEK": "kek1:" + testKey(),
		"PYTHORIX_IDENTITY_PEPPER": testKey()}
	cfg, err := LoadConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionIdleTimeout != 30*time.Minute || cfg.MaxSessions != 20 {
		t.Fatalf("defaults: idle %v, cap %d", cfg.SessionIdleTimeout, cfg.MaxSessions)
	}
	for _, tc := range []struct {
		name, key, value, want string
	}{
		{"idle too short for the gateway cache", "PYTHORIX_SESSION_IDLE_TIMEOUT", "5m", "PYTHORIX_SESSION_IDLE_TIMEOUT"},
		{"idle beyond a day", "PYTHORIX_SESSION_IDLE_TIMEOUT", "25h", "PYTHORIX_SESSION_IDLE_TIMEOUT"},
		{"idle not a duration", "PYTHORIX_SESSION_IDLE_TIMEOUT", "soon", "SessionIdleTimeout"},
		{"no sessions at all", "PYTHORIX_MAX_SESSIONS_PER_USER", "0", "PYTHORIX_MAX_SESSIONS_PER_USER"},
		{"too many sessions", "PYTHORIX_MAX_SESSIONS_PER_USER", "1001", "PYTHORIX_MAX_SESSIONS_PER_USER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{tc.key: tc.value}
			for k, v := range base {
				env[k] = v
			}
			if _, err := LoadConfig(env); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
	ok := map[string]string{"PYTHORIX_SESSION_IDLE_TIMEOUT": "15m", "PYTHORIX_MAX_SESSIONS_PER_USER": "5"}
	for k, v := range base {
		ok[k] = v
	}
	if cfg, err := LoadConfig(ok); err != nil || cfg.SessionIdleTimeout != 15*time.Minute || cfg.MaxSessions != 5 {
		t.Fatalf("%+v, %v", cfg, err)
	}
}

func TestSessionCap(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	clock := useFakeClock(a)
	a.maxSessions = 3
	ctx := context.Background()
	uid := createUser(t, a, "cap@example.com")
	open := func() *LoginResult {
		t.Helper()
		res, err := a.openSession(ctx, uid, "test", false)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("a sign-in beyond the cap ends the least recently used session", func(t *testing.T) {
		s1 := open()
		clock.advance(2 * time.Minute)
		s2 := open()
		clock.advance(2 * time.Minute)
		s3 := open()
		clock.advance(2 * time.Minute)
		if _, err := a.Authenticate(ctx, s1.AccessToken); err != nil { // s1 is now more recent than s2
			t.Fatal(err)
		}
		clock.advance(2 * time.Minute)
		s4 := open()
		if _, err := a.Authenticate(ctx, s2.AccessToken); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("the least recently used session survived: %v", err)
		}
		if _, _, reason := sessionRow(t, a, s2.SessionID); reason != "session_limit" {
			t.Fatalf("revoke reason %q", reason)
		}
		for _, s := range []*LoginResult{s1, s3, s4} {
			if _, err := a.Authenticate(ctx, s.AccessToken); err != nil {
				t.Fatalf("session %s: %v", s.SessionID, err)
			}
		}
		if n := auditActions(t, a)["identity.session.revoked"]; n != 1 {
			t.Fatalf("%d session_limit revocations audited", n)
		}
	})

	t.Run("idle sessions do not count", func(t *testing.T) {
		clock.advance(DefaultSessionIdleTimeout + time.Minute) // every session so far is idle
		fresh := []*LoginResult{open(), open(), open()}
		for _, s := range fresh {
			if _, err := a.Authenticate(ctx, s.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		if n := auditActions(t, a)["identity.session.revoked"]; n != 1 {
			t.Fatalf("idle sessions were counted: %d revocations", n)
		}
	})

	t.Run("concurrent sign-ins never exceed the cap", func(t *testing.T) {
		clock.advance(DefaultSessionIdleTimeout + time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, 12)
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := a.openSession(ctx, uid, "test", false)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		list, _, err := a.ListSessions(ctx, uid, 100, "")
		if err != nil || len(list) != 3 {
			t.Fatalf("%d live sessions (%v), want 3", len(list), err)
		}
	})
}

// auditActions counts the audit events waiting in the outbox by action.
func auditActions(t *testing.T, a *Accounts) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, ev := range auditEvents(t, a) {
		counts[ev.GetAction()]++
	}
	return counts
}

func auditEvents(t *testing.T, a *Accounts) []*auditv1.EventInput {
	t.Helper()
	return outboxtest.Events(t, a.db)
}

func TestDisableUser(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	clock := useFakeClock(a)
	ctx := context.Background()
	// Revocations are announced on a channel this test listens to.
	ns := servertest.Namespace(t)
	a.revoker = &Revoker{pub: revocation.NewPublisher(a.rdb, ns, a.log)}
	sub := a.rdb.Subscribe(ctx, revocation.Channel(ns))
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}

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
	adminID, target, bystander := newUser("admin@example.com"), newUser("target@example.com"), newUser("bystander@example.com")
	if _, err := a.db.Exec(ctx, `UPDATE users SET global_admin = true WHERE id = $1`, adminID); err != nil {
		t.Fatal(err)
	}
	svc := &Service{accounts: a, log: a.log}
	as := func(p *identityv1.Principal) context.Context { return authn.WithPrincipal(ctx, p) }
	adminCtx := as(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: adminID, GlobalAdmin: true})
	login := func(email, pw string) (*LoginResult, error) {
		res, err := svc.Login(ctx, &identityv1.LoginRequest{Email: email, Password: pw})
		if err != nil {
			return nil, err
		}
		return &LoginResult{AccessToken: res.GetAccessToken(), SessionID: res.GetSessionId(), MFAToken: res.GetMfaToken()}, nil
	}

	// The target: two sessions, API keys in two organisations, TOTP on, and
	// a second-factor challenge open when the account is disabled.
	var sessions []*LoginResult
	for range 2 {
		res, err := login("target@example.com", password)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, res)
	}
	var keys, keyIDs []string
	for range 2 {
		k, full, err := a.CreateAPIKey(ctx, mustUUID(), "", target, "ci", []string{"assets.read"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		keys, keyIDs = append(keys, full), append(keyIDs, k.ID)
	}
	_, bystanderKey, err := a.CreateAPIKey(ctx, mustUUID(), "", bystander, "ci", []string{"assets.read"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bystanderSession, err := login("bystander@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	seed, _, err := a.EnrollTOTP(ctx, target, sessions[0].SessionID, password)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(seed, clock.now())
	if _, err := a.ConfirmTOTP(ctx, target, code); err != nil {
		t.Fatal(err)
	}
	pending, err := login("target@example.com", password)
	if err != nil || pending.MFAToken == "" {
		t.Fatalf("login with TOTP on: %+v, %v", pending, err)
	}
	// What a wrong second factor gets, for comparison.
	_, wrongMFA := svc.LoginMfa(ctx, &identityv1.LoginMfaRequest{MfaToken: pending.MFAToken, Code: "000000"})
	if status.Code(wrongMFA) != codes.InvalidArgument {
		t.Fatalf("wrong code: %v", wrongMFA)
	}
	clock.advance(30 * time.Second) // the next time step: a fresh, valid code

	t.Run("only platform admins may disable or enable", func(t *testing.T) {
		for name, ctx := range map[string]context.Context{
			"a user":     as(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: bystander}),
			"an API key": as(&identityv1.Principal{Kind: identityv1.Principal_KIND_API_KEY, UserId: adminID, GlobalAdmin: true}),
			"no one":     ctx,
			"the target": as(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: target}),
		} {
			if _, err := svc.DisableUser(ctx, &identityv1.DisableUserRequest{UserId: target}); status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s disables: %v", name, err)
			}
			if _, err := svc.EnableUser(ctx, &identityv1.EnableUserRequest{UserId: target}); status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s enables: %v", name, err)
			}
		}
	})

	t.Run("unknown and malformed ids are not found; an admin cannot disable themself", func(t *testing.T) {
		for _, id := range []string{mustUUID(), "not-a-uuid", "1"} {
			if _, err := svc.DisableUser(adminCtx, &identityv1.DisableUserRequest{UserId: id}); status.Code(err) != codes.NotFound {
				t.Errorf("disable %q: %v", id, err)
			}
			if _, err := svc.EnableUser(adminCtx, &identityv1.EnableUserRequest{UserId: id}); status.Code(err) != codes.NotFound {
				t.Errorf("enable %q: %v", id, err)
			}
		}
		if _, err := svc.DisableUser(adminCtx, &identityv1.DisableUserRequest{UserId: adminID}); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("self-disable: %v", err)
		}
	})

	t.Run("disabling revokes every session and API key at once, announced and audited", func(t *testing.T) {
		resp, err := svc.DisableUser(adminCtx, &identityv1.DisableUserRequest{UserId: target, Reason: "left the company"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetSessionsRevoked() != 2 || resp.GetApiKeysRevoked() != 2 {
			t.Fatalf("response %+v", resp)
		}
		for _, s := range sessions {
			if _, err := a.Authenticate(ctx, s.AccessToken); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("session %s still accepted: %v", s.SessionID, err)
			}
		}
		for _, k := range keys {
			if _, err := a.Authenticate(ctx, k); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("API key still accepted: %v", err)
			}
		}
		announced := map[string]bool{}
		for range 4 {
			msg, err := sub.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			announced[msg.Payload] = true
		}
		for _, s := range sessions {
			if !announced[revocation.Session+":"+s.SessionID] {
				t.Errorf("session %s not announced: %v", s.SessionID, announced)
			}
		}
		for _, id := range keyIDs {
			if !announced[revocation.APIKey+":"+id] {
				t.Errorf("API key %s not announced: %v", id, announced)
			}
		}
		var disable *auditv1.EventInput
		keyEvents := 0
		for _, ev := range auditEvents(t, a) {
			switch {
			case ev.GetAction() == "identity.user.disable":
				disable = ev
			case ev.GetAction() == "identity.api_key.revoke" && ev.GetDetails().GetFields()["reason"].GetStringValue() == "user_disabled":
				keyEvents++
				if ev.GetOrgId() == "" || ev.GetActor().GetId() != adminID {
					t.Errorf("key revocation event %+v", ev)
				}
			}
		}
		if disable == nil || disable.GetActor().GetId() != adminID || disable.GetResourceId() != target ||
			disable.GetDetails().GetFields()["reason"].GetStringValue() != "left the company" || keyEvents != 2 {
			t.Fatalf("audit: disable %+v, %d key events", disable, keyEvents)
		}
		// Nobody else is touched.
		if _, err := a.Authenticate(ctx, bystanderSession.AccessToken); err != nil {
			t.Errorf("bystander's session: %v", err)
		}
		if _, err := a.Authenticate(ctx, bystanderKey); err != nil {
			t.Errorf("bystander's key: %v", err)
		}
	})

	t.Run("every sign-in path answers as a wrong credential would", func(t *testing.T) {
		_, wrong := login("target@example.com", "not the password at all")
		_, disabled := login("target@example.com", password)
		if status.Code(disabled) != codes.Unauthenticated || status.Convert(disabled).Message() != status.Convert(wrong).Message() {
			t.Errorf("password: disabled %v, wrong password %v", disabled, wrong)
		}
		code, _ := totp.GenerateCode(seed, clock.now())
		_, disabledMFA := svc.LoginMfa(ctx, &identityv1.LoginMfaRequest{MfaToken: pending.MFAToken, Code: code})
		if status.Code(disabledMFA) != codes.InvalidArgument || status.Convert(disabledMFA).Message() != status.Convert(wrongMFA).Message() {
			t.Errorf("second factor: disabled %v, wrong code %v", disabledMFA, wrongMFA)
		}
		// OIDC (and any other path) ends in startMFA or openSession.
		if _, err := a.openSession(ctx, target, "oidc:test", false); !errors.Is(err, errAccountDisabled) {
			t.Errorf("openSession: %v", err)
		}
		if _, err := a.startMFA(ctx, target); !errors.Is(err, errAccountDisabled) {
			t.Errorf("startMFA: %v", err)
		}
		if _, err := a.Authenticate(ctx, mustToken(t, a, target)); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("a session opened behind the domain's back: %v", err)
		}
	})

	t.Run("enabling restores sign-in, not what was revoked", func(t *testing.T) {
		if _, err := svc.EnableUser(adminCtx, &identityv1.EnableUserRequest{UserId: target, Reason: "rehired"}); err != nil {
			t.Fatal(err)
		}
		res, err := login("target@example.com", password)
		if err != nil || res.MFAToken == "" {
			t.Fatalf("sign-in after enabling: %+v, %v", res, err)
		}
		for _, s := range sessions {
			if _, err := a.Authenticate(ctx, s.AccessToken); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("a revoked session came back: %v", err)
			}
		}
		for _, k := range keys {
			if _, err := a.Authenticate(ctx, k); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("a revoked API key came back: %v", err)
			}
		}
		if auditActions(t, a)["identity.user.enable"] != 1 {
			t.Error("enabling was not audited")
		}
	})
}

// mustToken inserts a live session row directly, as a path that skipped the
// disabled check would, and returns its token: Authenticate still refuses it
// while the account is disabled.
func mustToken(t *testing.T, a *Accounts, userID string) string {
	t.Helper()
	sid := mustUUID()
	tok, exp, err := a.tokens.Issue(userID, sid, a.now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.Exec(context.Background(), `INSERT INTO sessions (id, user_id, last_seen_at, expires_at) VALUES ($1, $2, $3, $4)`,
		sid, userID, a.now(), exp); err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAdminRevokesUserSessions(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	ctx := context.Background()
	adminID, target, other := createUser(t, a, "admin@example.com"), createUser(t, a, "target@example.com"), createUser(t, a, "other@example.com")
	svc := &Service{accounts: a, log: a.log}
	as := func(p *identityv1.Principal) context.Context { return authn.WithPrincipal(ctx, p) }
	adminCtx := as(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: adminID, GlobalAdmin: true})
	var tokens []string
	for _, uid := range []string{target, target, other} {
		res, err := a.openSession(ctx, uid, "test", false)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, res.AccessToken)
	}

	for name, c := range map[string]context.Context{
		"a user":     as(&identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: other}),
		"an API key": as(&identityv1.Principal{Kind: identityv1.Principal_KIND_API_KEY, UserId: adminID, GlobalAdmin: true}),
	} {
		if _, err := svc.RevokeUserSessions(c, &identityv1.RevokeUserSessionsRequest{UserId: target}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, id := range []string{mustUUID(), "not-a-uuid"} {
		if _, err := svc.RevokeUserSessions(adminCtx, &identityv1.RevokeUserSessionsRequest{UserId: id}); status.Code(err) != codes.NotFound {
			t.Errorf("%q: %v", id, err)
		}
	}
	resp, err := svc.RevokeUserSessions(adminCtx, &identityv1.RevokeUserSessionsRequest{UserId: target, Reason: "lost laptop"})
	if err != nil || resp.GetSessionsRevoked() != 2 {
		t.Fatalf("%+v, %v", resp, err)
	}
	for _, tok := range tokens[:2] {
		if _, err := a.Authenticate(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("a revoked session: %v", err)
		}
	}
	if _, err := a.Authenticate(ctx, tokens[2]); err != nil {
		t.Errorf("another user's session: %v", err)
	}
	if _, err := a.openSession(ctx, target, "test", false); err != nil { // not disabled: signs in again
		t.Fatal(err)
	}
	var found bool
	for _, ev := range auditEvents(t, a) {
		if ev.GetAction() == "identity.user.sessions.revoke" && ev.GetResourceId() == target && ev.GetActor().GetId() == adminID &&
			ev.GetDetails().GetFields()["reason"].GetStringValue() == "lost laptop" {
			found = true
		}
	}
	if !found {
		t.Fatal("not audited")
	}
}
