package identity

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/envelope"
	"github.com/pythorix/pythorix/platform/mail"
	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/redisconn"
	"github.com/pythorix/pythorix/platform/secret"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/platform/server/servertest"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
)

// testAccounts is the identity domain on a fresh database and a private Redis namespace.
func testAccounts(t testing.TB) *Accounts {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.ServiceDatabase(t, Migrations()), 4, postgres.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rdb, err := redisconn.Open(ctx, pgtest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	cfg := Config{Issuer: "pythorix", Audience: "pythorix-api", TokenTTL: time.Hour, Pepper: secret.New(testKey())}
	keys, _ := ParseTokenKeys("k1:" + testKey())
	kek, _ := envelope.ParseKeyring("kek1:" + testKey())
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	deps := server.Deps{DB: pool, Redis: rdb, RedisNamespace: servertest.Namespace(t), Logger: log}
	return newAccounts(cfg, deps, keys, kek, &mail.Dir{Path: t.TempDir()})
}

func createUser(t *testing.T, a *Accounts, email string) string {
	t.Helper()
	id := mustUUID()
	if _, err := a.db.Exec(context.Background(), `INSERT INTO users (id, email, name, password_hash, email_verified_at)
		VALUES ($1, $2, 'Test', $3, now())`, id, email, string(dummyHash)); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	ctx := context.Background()
	owner := createUser(t, a, "owner@example.com")
	orgA, orgB := mustUUID(), mustUUID()

	key, full, err := a.CreateAPIKey(ctx, orgA, "", owner, "ci", []string{"scans.write", "assets.read"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(full, key.Prefix+"_") || len(full) != apiKeyTotalSize {
		t.Fatalf("key %q does not extend prefix %q", full, key.Prefix)
	}
	p, err := a.Authenticate(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	if p.GetKind() != identityv1.Principal_KIND_API_KEY || p.GetOrgId() != orgA || p.GetApiKeyId() != key.ID || len(p.GetScopes()) != 2 {
		t.Fatalf("principal %+v", p)
	}

	// The stored row holds no part of the secret, only the prefix and a keyed hash.
	var stored []byte
	var publicID string
	if err := postgres.InOrg(ctx, a.db, orgA, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT secret_hash, public_id FROM api_keys WHERE id = $1`, key.ID).Scan(&stored, &publicID)
	}); err != nil {
		t.Fatal(err)
	}
	// Row-level security: a query that forgets its organisation, or names
	// another, sees none of these rows even without a WHERE on org_id.
	for name, org := range map[string]string{"no organisation": "", "another organisation": orgB} {
		var n int
		err := pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
			if org != "" {
				if _, err := tx.Exec(ctx, `SELECT set_config('pythorix.org_id', $1, true)`, org); err != nil {
					return err
				}
			}
			return tx.QueryRow(ctx, `SELECT count(*) FROM api_keys`).Scan(&n)
		})
		if err != nil || n != 0 {
			t.Fatalf("%s: saw %d keys (%v)", name, n, err)
		}
		err = pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE api_keys SET name = 'pwned'`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if listed, _, _ := a.ListAPIKeys(ctx, orgA, 10, ""); len(listed) != 1 || listed[0].Name != "ci" {
		t.Fatalf("an unscoped UPDATE reached the key: %+v", listed)
	}
	_, secretPart, _ := ParseAPIKey(full)
	if bytes.Contains(stored, []byte(secretPart)) || strings.Contains(full[len(APIKeyPrefix):], publicID) == false {
		t.Fatal("unexpected storage of the key")
	}
	listed, _, err := a.ListAPIKeys(ctx, orgA, 10, "")
	if err != nil || len(listed) != 1 || listed[0].Prefix != key.Prefix {
		t.Fatalf("list = %+v, %v", listed, err)
	}
	if other, _, _ := a.ListAPIKeys(ctx, orgB, 10, ""); len(other) != 0 {
		t.Fatal("another organisation sees the key")
	}

	// A key with a valid checksum but another secret.
	forgedBody := key.Prefix + "_" + strings.Repeat("A", apiSecretLen)
	forged := forgedBody + checksum(forgedBody)
	typo := full[:len(full)-1] + string(rune(full[len(full)-1]^1))
	for name, cred := range map[string]string{"forged secret": forged, "typo": typo, "truncated": full[:len(full)-2]} {
		if _, err := a.Authenticate(ctx, cred); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: err = %v", name, err)
		}
	}

	if err := a.RevokeAPIKey(ctx, orgB, key.ID, owner); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking from another organisation: %v", err)
	}
	if _, err := a.Authenticate(ctx, full); err != nil {
		t.Fatal("a failed foreign revocation affected the key")
	}
	if err := a.RevokeAPIKey(ctx, orgA, key.ID, owner); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, full); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("revoked key: %v", err)
	}
}

func TestAPIKeyExpiry(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	ctx := context.Background()
	owner := createUser(t, a, "owner@example.com")
	past := time.Now().Add(-time.Minute)
	if _, _, err := a.CreateAPIKey(ctx, mustUUID(), "", owner, "old", []string{"assets.read"}, &past); err == nil {
		t.Fatal("created a key that expired already")
	}
	soon := time.Now().Add(time.Hour)
	key, full, err := a.CreateAPIKey(ctx, mustUUID(), "", owner, "soon", []string{"assets.read"}, &soon)
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.InOrg(ctx, a.db, key.OrgID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, key.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, full); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("expired key: %v", err)
	}
}

func TestSessionTokenFollowsTheSession(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	ctx := context.Background()
	uid := createUser(t, a, "s@example.com")
	res, err := a.openSession(ctx, uid, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(ctx, res.AccessToken)
	if err != nil || p.GetUserId() != uid || p.GetSessionId() != res.SessionID {
		t.Fatalf("principal %+v, %v", p, err)
	}
	if err := a.RevokeSession(ctx, mustUUID(), res.SessionID, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another user revoked the session: %v", err)
	}
	if err := a.Logout(ctx, uid, res.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, res.AccessToken); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("token of a revoked session: %v", err)
	}
}

func TestTOTPSecretIsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	ctx := context.Background()
	uid := createUser(t, a, "t@example.com")
	res, err := a.openSession(ctx, uid, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	secretText, _, err := a.EnrollTOTP(ctx, uid, res.SessionID, "")
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := a.db.QueryRow(ctx, `SELECT totp_secret FROM users WHERE id = $1`, uid).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secretText)) {
		t.Fatal("the TOTP seed is stored in the clear")
	}
	// Moved to another user's row, the ciphertext does not open.
	other := createUser(t, a, "u@example.com")
	if _, err := a.kek.Open(raw, totpAAD(other)); err == nil {
		t.Fatal("ciphertext opened under another user's binding")
	}
}

// TestTOTPEnrolmentNeedsReauthentication: changing the second factor takes
// the current password, or a sign-in less than five minutes old (ASVS V7.5.1).
func TestTOTPEnrolmentNeedsReauthentication(t *testing.T) {
	t.Parallel()
	a := testAccounts(t)
	clock := useFakeClock(a)
	ctx := context.Background()
	svc := &Service{accounts: a, log: a.log}
	const password = "a long and unguessable passphrase"
	hash, err := hashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	withPassword := createUser(t, a, "pw@example.com")
	if _, err := a.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, withPassword, hash); err != nil {
		t.Fatal(err)
	}
	oidcOnly := createUser(t, a, "oidc@example.com")
	if _, err := a.db.Exec(ctx, `UPDATE users SET password_hash = NULL WHERE id = $1`, oidcOnly); err != nil {
		t.Fatal(err)
	}
	sessionOf := func(uid string) context.Context {
		res, err := a.openSession(ctx, uid, "test", false)
		if err != nil {
			t.Fatal(err)
		}
		return authn.WithPrincipal(ctx, &identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: uid, SessionId: res.SessionID})
	}
	enroll := func(ctx context.Context, pw string) error {
		_, err := svc.EnrollTotp(ctx, &identityv1.EnrollTotpRequest{CurrentPassword: pw})
		return err
	}
	fieldOf := func(err error) string {
		for _, d := range status.Convert(err).Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
				return br.GetFieldViolations()[0].GetField()
			}
		}
		return ""
	}
	pwFresh, oidcFresh := sessionOf(withPassword), sessionOf(oidcOnly)
	clock.advance(reauthWindow + time.Second)
	pwStale, oidcStale := sessionOf(withPassword), sessionOf(oidcOnly)
	clock.advance(reauthWindow + time.Second)

	for _, tc := range []struct {
		name      string
		ctx       context.Context
		password  string
		wantCode  codes.Code
		wantField string
	}{
		{"a session opened minutes ago, no password", pwStale, "", codes.InvalidArgument, "currentPassword"},
		{"a wrong password", pwStale, "not the password at all", codes.InvalidArgument, "currentPassword"},
		{"the current password", pwStale, password, codes.OK, ""},
		{"a password for an account without one", oidcStale, "some password here", codes.FailedPrecondition, ""},
		{"an account without a password, signed in minutes ago", oidcStale, "", codes.InvalidArgument, "currentPassword"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := enroll(tc.ctx, tc.password)
			if status.Code(err) != tc.wantCode || fieldOf(err) != tc.wantField {
				t.Fatalf("err = %v, want %v naming %q", err, tc.wantCode, tc.wantField)
			}
			if err != nil && strings.Contains(status.Convert(err).Message(), tc.password) && tc.password != "" {
				t.Fatal("the answer repeats the password")
			}
		})
	}
	t.Run("a fresh sign-in is re-authentication enough", func(t *testing.T) {
		clock.advance(-2 * (reauthWindow + time.Second)) // back to when the fresh sessions opened
		for name, ctx := range map[string]context.Context{"password": pwFresh, "OIDC": oidcFresh} {
			if err := enroll(ctx, ""); err != nil {
				t.Errorf("%s account: %v", name, err)
			}
		}
	})
	if n := auditActions(t, a)["identity.mfa.totp.enroll"]; n != 4 { // the wrong password, and three enrolments
		t.Fatalf("%d enrolment events", n)
	}
}

func TestParseAPIKey(t *testing.T) {
	t.Parallel()
	body := APIKeyPrefix + strings.Repeat("a", publicIDLen) + "_" + strings.Repeat("b", apiSecretLen)
	good := body + checksum(body)
	if pub, sec, ok := ParseAPIKey(good); !ok || pub != strings.Repeat("a", publicIDLen) || sec != strings.Repeat("b", apiSecretLen) {
		t.Fatalf("parse %q: %q %q %v", good, pub, sec, ok)
	}
	for name, k := range map[string]string{
		"empty": "", "no prefix": "xyz_" + good[4:], "bad checksum": body + "000000", "non-base62": strings.Replace(good, "a", "-", 1),
		"too long": good + "a", "jwt": "eyJhbGciOiJIUzI1NiJ9.e30.x",
	} {
		if _, _, ok := ParseAPIKey(k); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseAPIKey(f *testing.F) {
	body := APIKeyPrefix + strings.Repeat("a", publicIDLen) + "_" + strings.Repeat("b", apiSecretLen)
	f.Add(body + checksum(body))
	f.Add("pyx_")
	f.Fuzz(func(t *testing.T, s string) {
		pub, sec, ok := ParseAPIKey(s)
		if ok && (len(pub) != publicIDLen || len(sec) != apiSecretLen || !strings.HasPrefix(s, APIKeyPrefix)) {
			t.Fatalf("accepted malformed %q", s)
		}
	})
}
