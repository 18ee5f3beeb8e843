package identity

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/envelope"
	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/roles"
	"github.com/pythorix/pythorix/platform/throttle"
)

// Accounts is the identity domain: accounts, codes, sessions, second factors.
// It knows Postgres and Redis but nothing of gRPC.
type Accounts struct {
	db       *pgxpool.Pool
	rdb      *redis.Client
	log      *slog.Logger
	tokens   *Tokens
	pepper   peppered
	kek      *envelope.Keyring
	mailer   *Mailer
	revoker  *Revoker
	projects Projects
	roleOf   func(ctx context.Context, userID, orgID string) (roles.Role, error)
	now      func() time.Time

	idleTimeout time.Duration // a session unused this long is refused
	maxSessions int           // live sessions per user; a new one ends the least recently used

	loginLimit  *throttle.Backoff // failed passwords, per account
	codeLimit   *throttle.Backoff // failed email codes and second factors, per account
	ipLimit     *throttle.Backoff // every failure above, per client IP (a larger allowance)
	resendLimit *throttle.Backoff // mails sent per address
}

// roleIn is the principal's role in the organisation (platform admins as Admin).
func (a *Accounts) roleIn(ctx context.Context, p *identityv1.Principal, orgID string) (roles.Role, error) {
	if a.roleOf == nil {
		return roles.None, ErrUnavailable
	}
	r, err := a.roleOf(ctx, p.GetUserId(), orgID)
	if err != nil {
		return roles.None, ErrUnavailable
	}
	if r == roles.None && p.GetGlobalAdmin() {
		r = roles.Admin
	}
	return r, nil
}

// Projects tells which organisation a project belongs to ("" when none).
type Projects interface {
	OrgOf(ctx context.Context, projectID string) (string, error)
}

const (
	codeTTL         = 10 * time.Minute
	maxCodeAttempts = 5
	mfaTTL          = 5 * time.Minute
	backupCodeCount = 10
)

func normaliseEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// Signup creates an unverified account and mails a verification code. For an
// address that already has an account it mails a notice instead, so the
// answer, and the work done, are the same either way: no enumeration.
func (a *Accounts) Signup(ctx context.Context, email, password, name string) error {
	email = normaliseEmail(email)
	if reason := CheckPassword(password, email, name); reason != "" {
		return &invalid.Field{Name: "password", Reason: reason}
	}
	if err := a.resendLimit.Check(ctx, throttle.Key("email", email)); err != nil {
		return err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	code, err := sixDigits()
	if err != nil {
		return err
	}
	id := mustUUID()
	err = pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)
			ON CONFLICT (email) DO NOTHING`, id, email, name, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if err := a.mailer.enqueue(ctx, tx, email, "Your Pythorix account",
				"Someone, perhaps you, tried to create a Pythorix account with this address.\n"+
					"You already have one: sign in, or reset your password if you have forgotten it.\n"); err != nil {
				return err
			}
			return outbox.Append(ctx, tx, event("identity.signup.existing_email", "user", "", systemActor(), nil))
		}
		if err := a.storeCode(ctx, tx, id, "verify_email", code); err != nil {
			return err
		}
		if err := a.mailer.enqueue(ctx, tx, email, "Verify your Pythorix account",
			"Your verification code is "+code+".\nIt expires in 10 minutes.\n"); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event("identity.signup", "user", id, userActor(id), nil))
	})
	if err != nil {
		return err
	}
	_, _ = a.resendLimit.Fail(ctx, throttle.Key("email", email))
	a.mailer.wake()
	return nil
}

// ResendVerification mails a fresh code to an unverified account; it answers
// alike for unknown and verified addresses.
func (a *Accounts) ResendVerification(ctx context.Context, email string) error {
	return a.sendCode(ctx, normaliseEmail(email), "verify_email")
}

// RequestPasswordReset mails a reset code if the account exists.
func (a *Accounts) RequestPasswordReset(ctx context.Context, email string) error {
	return a.sendCode(ctx, normaliseEmail(email), "reset_password")
}

func (a *Accounts) sendCode(ctx context.Context, email, purpose string) error {
	key := throttle.Key("email", email)
	if err := a.resendLimit.Check(ctx, key); err != nil {
		return err
	}
	if _, err := a.resendLimit.Fail(ctx, key); err != nil {
		return ErrUnavailable
	}
	code, err := sixDigits()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		var id string
		var verified bool
		err := tx.QueryRow(ctx, `SELECT id, email_verified_at IS NOT NULL FROM users WHERE email = $1`, email).Scan(&id, &verified)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if purpose == "verify_email" && verified {
			return nil
		}
		if err := a.storeCode(ctx, tx, id, purpose, code); err != nil {
			return err
		}
		subject, text := "Verify your Pythorix account", "Your verification code is "+code+".\nIt expires in 10 minutes.\n"
		if purpose == "reset_password" {
			subject = "Reset your Pythorix password"
			text = "Your password reset code is " + code + ".\nIt expires in 10 minutes. If you did not ask for it, ignore this message.\n"
		}
		if err := a.mailer.enqueue(ctx, tx, email, subject, text); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event("identity."+purpose+".code_sent", "user", id, userActor(id), nil))
	})
	if err != nil {
		return err
	}
	a.mailer.wake()
	return nil
}

func (a *Accounts) storeCode(ctx context.Context, tx pgx.Tx, userID, purpose, code string) error {
	_, err := tx.Exec(ctx, `INSERT INTO email_codes (user_id, purpose, code_hash, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, purpose) DO UPDATE SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at,
		attempts = 0, created_at = now()`, userID, purpose, a.pepper.hash(purpose, code), a.now().Add(codeTTL))
	return err
}

// consumeCode checks an emailed code in tx: at most maxCodeAttempts tries,
// expiry enforced, deleted when used or exhausted. It returns the user id.
func (a *Accounts) consumeCode(ctx context.Context, tx pgx.Tx, email, purpose, code string) (string, error) {
	var userID string
	var hash []byte
	var expires time.Time
	var attempts int
	err := tx.QueryRow(ctx, `SELECT c.user_id, c.code_hash, c.expires_at, c.attempts FROM email_codes c
		JOIN users u ON u.id = c.user_id WHERE u.email = $1 AND c.purpose = $2 FOR UPDATE OF c`, email, purpose).
		Scan(&userID, &hash, &expires, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = a.pepper.equal(purpose, code, make([]byte, 32))
		return "", ErrInvalidCode
	}
	if err != nil {
		return "", err
	}
	if !a.now().Before(expires) || attempts >= maxCodeAttempts {
		_, err := tx.Exec(ctx, `DELETE FROM email_codes WHERE user_id = $1 AND purpose = $2`, userID, purpose)
		return "", errors.Join(ErrInvalidCode, err)
	}
	if !a.pepper.equal(purpose, code, hash) {
		if _, err := tx.Exec(ctx, `UPDATE email_codes SET attempts = attempts + 1 WHERE user_id = $1 AND purpose = $2`, userID, purpose); err != nil {
			return "", err
		}
		return userID, ErrInvalidCode
	}
	_, err = tx.Exec(ctx, `DELETE FROM email_codes WHERE user_id = $1 AND purpose = $2`, userID, purpose)
	return userID, err
}

// checkCode runs consumeCode with the per-address and per-IP back-off. A wrong
// code's attempt count is committed even though the call fails.
func (a *Accounts) checkCode(ctx context.Context, email, purpose, code string, then func(tx pgx.Tx, userID string) error) error {
	acct, ipKey := throttle.Key("code", email), clientIPKey(ctx)
	if err := a.checkLimits(ctx, a.codeLimit, acct, ipKey); err != nil {
		return err
	}
	var wrong bool
	err := pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		userID, err := a.consumeCode(ctx, tx, email, purpose, code)
		if errors.Is(err, ErrInvalidCode) {
			wrong = true
			if userID != "" {
				_ = outbox.Append(ctx, tx, failed(event("identity."+purpose+".code_rejected", "user", userID, userActor(userID), nil)))
			}
			return nil // commit the attempt count
		}
		if err != nil {
			return err
		}
		return then(tx, userID)
	})
	if err != nil {
		return err
	}
	if wrong {
		a.failLimits(ctx, a.codeLimit, acct, ipKey)
		return ErrInvalidCode
	}
	_ = a.codeLimit.Reset(ctx, acct)
	return nil
}

// clientIPKey is the back-off key of the calling client's address.
func clientIPKey(ctx context.Context) string {
	ip, _ := authn.Client(ctx)
	return throttle.Key("ip", ip)
}

// checkLimits refuses while the account's or the client IP's back-off is on.
func (a *Accounts) checkLimits(ctx context.Context, account *throttle.Backoff, acctKey, ipKey string) error {
	if err := account.Check(ctx, acctKey); err != nil {
		return err
	}
	return a.ipLimit.Check(ctx, ipKey)
}

// failLimits counts a failure against the account and the client IP.
func (a *Accounts) failLimits(ctx context.Context, account *throttle.Backoff, acctKey, ipKey string) {
	if _, err := account.Fail(ctx, acctKey); err != nil {
		a.log.WarnContext(ctx, "back-off not recorded", "error", err)
	}
	if _, err := a.ipLimit.Fail(ctx, ipKey); err != nil {
		a.log.WarnContext(ctx, "back-off not recorded", "error", err)
	}
}

// VerifyEmail marks the address verified with the emailed code.
func (a *Accounts) VerifyEmail(ctx context.Context, email, code string) error {
	email = normaliseEmail(email)
	return a.checkCode(ctx, email, "verify_email", code, func(tx pgx.Tx, userID string) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET email_verified_at = now(), updated_at = now() WHERE id = $1`, userID); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event("identity.email.verified", "user", userID, userActor(userID), nil))
	})
}

// ResetPassword sets a new password with the emailed code and revokes every session.
func (a *Accounts) ResetPassword(ctx context.Context, email, code, newPassword string) error {
	email = normaliseEmail(email)
	if reason := CheckPassword(newPassword, email); reason != "" {
		return &invalid.Field{Name: "newPassword", Reason: reason}
	}
	hash, err := hashPassword(newPassword)
	if err != nil {
		return err
	}
	var revoked []string
	err = a.checkCode(ctx, email, "reset_password", code, func(tx pgx.Tx, userID string) error {
		// Proving control of the mailbox also verifies it.
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, email_verified_at = coalesce(email_verified_at, now()),
			updated_at = now() WHERE id = $1`, userID, hash); err != nil {
			return err
		}
		var err error
		if revoked, err = revokeSessions(ctx, tx, userID, "", "password_reset"); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event("identity.password.reset", "user", userID, userActor(userID),
			map[string]any{"sessions_revoked": len(revoked)}))
	})
	if err != nil {
		return err
	}
	a.revoker.Sessions(ctx, revoked...)
	return nil
}

// LoginResult is a successful password check: a session, or a second-factor challenge.
type LoginResult struct {
	AccessToken string
	ExpiresAt   time.Time
	SessionID   string
	MFAToken    string
}

// Login checks a password. Unknown accounts cost the same bcrypt, and every
// failure reads the same, so the answer reveals nothing about the account.
func (a *Accounts) Login(ctx context.Context, email, password string) (*LoginResult, error) {
	email = normaliseEmail(email)
	acct, ipKey := throttle.Key("account", email), clientIPKey(ctx)
	if err := a.checkLimits(ctx, a.loginLimit, acct, ipKey); err != nil {
		return nil, err
	}
	var (
		id, hash string
		verified bool
		totpOn   bool
		disabled bool
	)
	err := a.db.QueryRow(ctx, `SELECT id, coalesce(password_hash, ''), email_verified_at IS NOT NULL, totp_enabled_at IS NOT NULL,
		disabled_at IS NOT NULL FROM users WHERE email = $1`, email).Scan(&id, &hash, &verified, &totpOn, &disabled)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	// A disabled account answers exactly as a wrong password does (and
	// counts as one), so the answer does not tell that the account exists.
	if matches := passwordMatches(hash, password); !matches || disabled {
		a.failLimits(ctx, a.loginLimit, acct, ipKey)
		if id != "" {
			reason := "bad_password"
			if matches {
				reason = "disabled"
			}
			a.auditNow(ctx, failed(event("identity.login", "user", id, userActor(id), map[string]any{"reason": reason})))
		} else {
			// The address is recorded only as a keyed hash: failed logins must not
			// turn the audit log into a list of addresses people typed.
			a.auditNow(ctx, failed(event("identity.login", "user", "", systemActor(),
				map[string]any{"reason": "unknown_account", "email_hmac": hex.EncodeToString(a.pepper.hash("audit_email", email))[:32]})))
		}
		return nil, ErrInvalidCredentials
	}
	_ = a.loginLimit.Reset(ctx, acct)
	if !verified {
		return nil, ErrEmailNotVerified
	}
	var res *LoginResult
	if totpOn {
		res, err = a.startMFA(ctx, id)
	} else {
		res, err = a.openSession(ctx, id, "password", false)
	}
	if errors.Is(err, errAccountDisabled) { // disabled since the check above
		return nil, ErrInvalidCredentials
	}
	return res, err
}

// errAccountDisabled is a sign-in of a disabled account. Each sign-in path
// answers it as it answers a wrong credential; it never reaches a client.
var errAccountDisabled = errors.New("account disabled")

// startMFA opens a second-factor challenge; a disabled account gets none.
func (a *Accounts) startMFA(ctx context.Context, userID string) (*LoginResult, error) {
	challenge := mustUUID()
	tag, err := a.db.Exec(ctx, `INSERT INTO mfa_challenges (id, user_id, expires_at)
		SELECT $1, id, $3 FROM users WHERE id = $2 AND disabled_at IS NULL`, challenge, userID, a.now().Add(mfaTTL))
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		a.auditNow(ctx, failed(event("identity.login", "user", userID, userActor(userID), map[string]any{"reason": "disabled"})))
		return nil, errAccountDisabled
	}
	tok, err := a.tokens.IssueMFA(userID, challenge, a.now(), mfaTTL)
	if err != nil {
		return nil, err
	}
	return &LoginResult{MFAToken: tok}, nil
}

// LoginMFA completes a login with a TOTP code or a backup code.
func (a *Accounts) LoginMFA(ctx context.Context, mfaToken, code string) (*LoginResult, error) {
	claims, err := a.tokens.VerifyMFA(mfaToken, a.now())
	if err != nil {
		return nil, ErrInvalidCode
	}
	userID := claims.Subject
	acct, ipKey := "mfa:"+userID, clientIPKey(ctx)
	if err := a.checkLimits(ctx, a.codeLimit, acct, ipKey); err != nil {
		return nil, err
	}
	var ok bool
	err = pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		var attempts int
		err := tx.QueryRow(ctx, `SELECT c.attempts FROM mfa_challenges c JOIN users u ON u.id = c.user_id
			WHERE c.id = $1 AND c.user_id = $2 AND c.used_at IS NULL AND c.expires_at > now() AND u.disabled_at IS NULL
			FOR UPDATE OF c`, claims.ID, userID).Scan(&attempts)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && attempts >= maxCodeAttempts) {
			return nil
		}
		if err != nil {
			return err
		}
		if ok, err = a.secondFactor(ctx, tx, userID, code, true); err != nil {
			return err
		}
		if !ok {
			_, err := tx.Exec(ctx, `UPDATE mfa_challenges SET attempts = attempts + 1 WHERE id = $1`, claims.ID)
			if err == nil {
				err = outbox.Append(ctx, tx, failed(event("identity.login.mfa", "user", userID, userActor(userID), nil)))
			}
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE mfa_challenges SET used_at = now() WHERE id = $1`, claims.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		a.failLimits(ctx, a.codeLimit, acct, ipKey)
		return nil, ErrInvalidCode
	}
	_ = a.codeLimit.Reset(ctx, acct)
	res, err := a.openSession(ctx, userID, "password+mfa", true)
	if errors.Is(err, errAccountDisabled) { // disabled while the challenge was open
		return nil, ErrInvalidCode
	}
	return res, err
}

// secondFactor accepts a TOTP code (never the same time step twice) or, when
// allowBackup, an unused backup code, which it consumes.
func (a *Accounts) secondFactor(ctx context.Context, tx pgx.Tx, userID, code string, allowBackup bool) (bool, error) {
	var sealed []byte
	var lastStep int64
	err := tx.QueryRow(ctx, `SELECT totp_secret, totp_last_step FROM users WHERE id = $1 AND totp_enabled_at IS NOT NULL FOR UPDATE`,
		userID).Scan(&sealed, &lastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(code) == 6 && strings.Trim(code, "0123456789") == "" {
		secret, err := a.kek.Open(sealed, totpAAD(userID))
		if err != nil {
			return false, fmt.Errorf("open totp secret: %w", err)
		}
		step, ok := totpStep(string(secret), code, a.now(), otpSHA1, otpSix)
		if !ok || step <= lastStep {
			return false, nil
		}
		_, err = tx.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1`, userID, step)
		return err == nil, err
	}
	if !allowBackup {
		return false, nil
	}
	norm := normaliseBackupCode(code)
	if norm == "" {
		return false, nil
	}
	tag, err := tx.Exec(ctx, `UPDATE backup_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
		userID, a.pepper.hash("backup_code", norm))
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 1 {
		return true, outbox.Append(ctx, tx, event("identity.backup_code.used", "user", userID, userActor(userID), nil))
	}
	return false, nil
}

func totpAAD(userID string) []byte { return []byte("identity/totp/" + userID) }

// openSession starts a session for a user who proved who they are, with a
// second factor when mfa is set (organisations that require one read it). It
// holds the user's row while it counts the live sessions, so concurrent
// sign-ins cannot exceed the cap together, and a disabling cannot miss the new session.
func (a *Accounts) openSession(ctx context.Context, userID, method string, mfa bool) (*LoginResult, error) {
	sid := mustUUID()
	ip, ua := authn.Client(ctx)
	now := a.now()
	tok, exp, err := a.tokens.Issue(userID, sid, now)
	if err != nil {
		return nil, err
	}
	var evicted []string
	err = pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		var disabled bool
		if err := tx.QueryRow(ctx, `SELECT disabled_at IS NOT NULL FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&disabled); err != nil {
			return mapNoRows(err)
		}
		if disabled {
			return errAccountDisabled
		}
		var err error
		if evicted, err = a.evictOverCap(ctx, tx, userID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, mfa)
			VALUES ($1, $2, $3, $3, $4, $5, $6, $7)`, sid, userID, now, exp, ip, truncateUTF8(ua, 512), mfa); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event("identity.login", "session", sid, userActor(userID), map[string]any{"method": method, "mfa": mfa}))
	})
	if errors.Is(err, errAccountDisabled) {
		a.auditNow(ctx, failed(event("identity.login", "user", userID, userActor(userID), map[string]any{"reason": "disabled", "method": method})))
	}
	if err != nil {
		return nil, err
	}
	a.revoker.Sessions(ctx, evicted...)
	return &LoginResult{AccessToken: tok, ExpiresAt: exp, SessionID: sid}, nil
}

// evictOverCap makes room for one more session under the cap: it revokes the
// user's least recently used live sessions beyond maxSessions-1 and returns them.
func (a *Accounts) evictOverCap(ctx context.Context, tx pgx.Tx, userID string, now time.Time) ([]string, error) {
	rows, err := tx.Query(ctx, `UPDATE sessions SET revoked_at = now(), revoke_reason = 'session_limit'
		WHERE id IN (
			SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3
			ORDER BY last_seen_at DESC, id DESC OFFSET $4)
		RETURNING id::text`, userID, now, now.Add(-a.idleTimeout), a.maxSessions-1)
	if err != nil {
		return nil, err
	}
	evicted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, id := range evicted {
		if err := outbox.Append(ctx, tx, event("identity.session.revoked", "session", id, userActor(userID),
			map[string]any{"reason": "session_limit"})); err != nil {
			return nil, err
		}
	}
	return evicted, nil
}

// Logout revokes the caller's session.
func (a *Accounts) Logout(ctx context.Context, userID, sessionID string) error {
	return a.RevokeSession(ctx, userID, sessionID, "logout")
}

// RevokeSession revokes one of the user's sessions.
func (a *Accounts) RevokeSession(ctx context.Context, userID, sessionID, reason string) error {
	err := pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoke_reason = $3
			WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, sessionID, userID, reason)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return outbox.Append(ctx, tx, event("identity.session.revoked", "session", sessionID, userActor(userID), map[string]any{"reason": reason}))
	})
	if err != nil {
		return err
	}
	a.revoker.Sessions(ctx, sessionID)
	return nil
}

// ChangePassword checks the current password, sets the new one and revokes
// every other session of the user.
func (a *Accounts) ChangePassword(ctx context.Context, userID, sessionID, current, next string) error {
	var hash, email string
	if err := a.db.QueryRow(ctx, `SELECT coalesce(password_hash, ''), email FROM users WHERE id = $1`, userID).Scan(&hash, &email); err != nil {
		return mapNoRows(err)
	}
	acct, ipKey := throttle.Key("account", email), clientIPKey(ctx)
	if err := a.checkLimits(ctx, a.loginLimit, acct, ipKey); err != nil {
		return err
	}
	if hash == "" {
		return ErrNoPassword
	}
	if !passwordMatches(hash, current) {
		a.failLimits(ctx, a.loginLimit, acct, ipKey)
		a.auditNow(ctx, failed(event("identity.password.change", "user", userID, userActor(userID), nil)))
		return &invalid.Field{Name: "currentPassword", Reason: "is not your current password"}
	}
	if reason := CheckPassword(next, email); reason != "" {
		return &invalid.Field{Name: "newPassword", Reason: reason}
	}
	newHash, err := hashPassword(next)
	if err != nil {
		return err
	}
	var revoked []string
	err = pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, userID, newHash); err != nil {
			return err
		}
		var err error
		if revoked, err = revokeSessions(ctx, tx, userID, sessionID, "password_change"); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event("identity.password.change", "user", userID, userActor(userID),
			map[string]any{"sessions_revoked": len(revoked)}))
	})
	if err != nil {
		return err
	}
	a.revoker.Sessions(ctx, revoked...)
	return nil
}

// revokeSessions revokes all of a user's live sessions except keep.
func revokeSessions(ctx context.Context, tx pgx.Tx, userID, keep, reason string) ([]string, error) {
	rows, err := tx.Query(ctx, `UPDATE sessions SET revoked_at = now(), revoke_reason = $3
		WHERE user_id = $1 AND revoked_at IS NULL AND id::text <> $2 RETURNING id::text`, userID, keep, reason)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// auditNow records an event outside any other transaction (failures, which
// change nothing else).
func (a *Accounts) auditNow(ctx context.Context, ev *auditv1.EventInput) {
	if err := outbox.Append(ctx, a.db, ev); err != nil {
		a.log.ErrorContext(ctx, "audit outbox append failed", "action", ev.GetAction(), "error", err)
	}
}

func failed(ev *auditv1.EventInput) *auditv1.EventInput {
	ev.Outcome = auditv1.Outcome_OUTCOME_FAILURE
	return ev
}

// event builds an audit event; details must never contain secrets.
func event(action, resourceType, resourceID string, actor *auditv1.Actor, details map[string]any) *auditv1.EventInput {
	ev := &auditv1.EventInput{Action: action, ResourceType: resourceType, ResourceId: resourceID, Actor: actor}
	if details != nil {
		if s, err := structpb.NewStruct(details); err == nil {
			ev.Details = s
		}
	}
	return ev
}

func userActor(id string) *auditv1.Actor {
	return &auditv1.Actor{Type: auditv1.ActorType_ACTOR_TYPE_USER, Id: id}
}

func systemActor() *auditv1.Actor {
	return &auditv1.Actor{Type: auditv1.ActorType_ACTOR_TYPE_SYSTEM}
}

func mustUUID() string {
	id, err := uuid.NewV7()
	if err != nil {
		panic(err) // only fails when the system's random source does
	}
	return id.String()
}

func mapNoRows(err error) error {
	if postgres.NotFound(err) {
		return ErrNotFound
	}
	return err
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
