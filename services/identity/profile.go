package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/page"
	"github.com/pythorix/pythorix/platform/revocation"
	"github.com/pythorix/pythorix/platform/throttle"
)

// Revoker announces revoked sessions and keys to every replica.
type Revoker struct{ pub *revocation.Publisher }

// Sessions announces revoked sessions.
func (r *Revoker) Sessions(ctx context.Context, ids ...string) {
	r.pub.Publish(ctx, revocation.Session, ids...)
}

// APIKeys announces revoked API keys.
func (r *Revoker) APIKeys(ctx context.Context, ids ...string) {
	r.pub.Publish(ctx, revocation.APIKey, ids...)
}

// User is an account as its owner sees it.
type User struct {
	ID, Email, Name string
	EmailVerified   bool
	TOTPEnabled     bool
	GlobalAdmin     bool
	CreatedAt       time.Time
}

// GetUser returns one account.
func (a *Accounts) GetUser(ctx context.Context, id string) (*User, error) {
	u := &User{}
	err := a.db.QueryRow(ctx, `SELECT id, email, name, email_verified_at IS NOT NULL, totp_enabled_at IS NOT NULL, global_admin, created_at
		FROM users WHERE id = $1`, id).Scan(&u.ID, &u.Email, &u.Name, &u.EmailVerified, &u.TOTPEnabled, &u.GlobalAdmin, &u.CreatedAt)
	if err != nil {
		return nil, mapNoRows(err)
	}
	return u, nil
}

// UpdateName renames the user.
func (a *Accounts) UpdateName(ctx context.Context, id, name string) (*User, error) {
	err := pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET name = $2, updated_at = now() WHERE id = $1`, id, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return outbox.Append(ctx, tx, event("identity.profile.update", "user", id, userActor(id), nil))
	})
	if err != nil {
		return nil, err
	}
	return a.GetUser(ctx, id)
}

// LookupUsers resolves ids and emails (for other services); unknown ones are skipped.
func (a *Accounts) LookupUsers(ctx context.Context, ids, emails []string) ([]*User, error) {
	for i := range emails {
		emails[i] = normaliseEmail(emails[i])
	}
	rows, err := a.db.Query(ctx, `SELECT id, email, name, email_verified_at IS NOT NULL, totp_enabled_at IS NOT NULL, global_admin, created_at
		FROM users WHERE id = ANY($1::uuid[]) OR email = ANY($2) ORDER BY id`, ids, emails)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*User, error) {
		u := &User{}
		return u, r.Scan(&u.ID, &u.Email, &u.Name, &u.EmailVerified, &u.TOTPEnabled, &u.GlobalAdmin, &u.CreatedAt)
	})
}

// Session is a live login session.
type Session struct {
	ID                          string
	CreatedAt, LastSeen, Expiry time.Time
	IP, UserAgent               string
	MFA                         bool
}

// ListSessions pages through a user's live sessions (not revoked, expired or idle), newest first.
func (a *Accounts) ListSessions(ctx context.Context, userID string, pageSize int, pageToken string) ([]Session, string, error) {
	pageSize = page.Size(pageSize)
	after, err := page.After(pageToken)
	if err != nil {
		return nil, "", err
	}
	now := a.now()
	rows, err := a.db.Query(ctx, `SELECT id::text, created_at, last_seen_at, expires_at, ip, user_agent, mfa FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $4 AND last_seen_at > $5 AND id::text < $2
		ORDER BY id DESC LIMIT $3`, userID, after, pageSize+1, now, now.Add(-a.idleTimeout))
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
		var s Session
		return s, r.Scan(&s.ID, &s.CreatedAt, &s.LastSeen, &s.Expiry, &s.IP, &s.UserAgent, &s.MFA)
	})
	if err != nil {
		return nil, "", err
	}
	out, next := page.Trim(out, pageSize, func(s Session) string { return s.ID })
	return out, next, nil
}

// reauthWindow is how long after signing in a session may change its second
// factor without giving the password again.
const reauthWindow = 5 * time.Minute

// reauthenticate checks that the caller has just proved who they are: with
// the account's current password when one is given, or else by a session
// opened less than reauthWindow ago (the only way for an account without a
// password). Wrong passwords count towards the sign-in back-off.
func (a *Accounts) reauthenticate(ctx context.Context, userID, sessionID, password, action string) error {
	var hash, email string
	var opened time.Time
	err := a.db.QueryRow(ctx, `SELECT coalesce(u.password_hash, ''), u.email, s.created_at FROM users u
		JOIN sessions s ON s.user_id = u.id WHERE u.id = $1 AND s.id = $2`, userID, sessionID).Scan(&hash, &email, &opened)
	if err != nil {
		return mapNoRows(err)
	}
	if password == "" {
		if a.now().Sub(opened) < reauthWindow {
			return nil
		}
		return &invalid.Field{Name: "currentPassword", Reason: "is required: give your current password, or sign in again and retry within 5 minutes"}
	}
	acct, ipKey := throttle.Key("account", email), clientIPKey(ctx)
	if err := a.checkLimits(ctx, a.loginLimit, acct, ipKey); err != nil {
		return err
	}
	if hash == "" {
		return ErrNoPassword
	}
	if !passwordMatches(hash, password) {
		a.failLimits(ctx, a.loginLimit, acct, ipKey)
		a.auditNow(ctx, failed(event(action, "user", userID, userActor(userID), map[string]any{"reason": "bad_password"})))
		return &invalid.Field{Name: "currentPassword", Reason: "is not your current password"}
	}
	return nil
}

// EnrollTOTP creates a new (not yet active) TOTP secret for the user, once
// the caller has re-authenticated (the current password, or a fresh sign-in).
func (a *Accounts) EnrollTOTP(ctx context.Context, userID, sessionID, currentPassword string) (secret, url string, err error) {
	if err := a.reauthenticate(ctx, userID, sessionID, currentPassword, "identity.mfa.totp.enroll"); err != nil {
		return "", "", err
	}
	u, err := a.GetUser(ctx, userID)
	if err != nil {
		return "", "", err
	}
	if u.TOTPEnabled {
		return "", "", ErrTOTPAlreadyEnabled
	}
	key, err := newTOTPKey(u.Email)
	if err != nil {
		return "", "", err
	}
	sealed, err := a.kek.Seal([]byte(key.Secret()), totpAAD(userID))
	if err != nil {
		return "", "", err
	}
	err = pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = $2, totp_last_step = 0, updated_at = now()
			WHERE id = $1 AND totp_enabled_at IS NULL`, userID, sealed); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event("identity.mfa.totp.enroll", "user", userID, userActor(userID), nil))
	})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// ConfirmTOTP activates the enrolled secret with a valid code and returns a
// fresh set of backup codes, shown only now.
func (a *Accounts) ConfirmTOTP(ctx context.Context, userID, code string) ([]string, error) {
	codes, err := newBackupCodes()
	if err != nil {
		return nil, err
	}
	err = a.withSecondFactorLimit(ctx, userID, func(tx pgx.Tx) (bool, error) {
		var sealed []byte
		var enabled bool
		var lastStep int64
		err := tx.QueryRow(ctx, `SELECT totp_secret, totp_enabled_at IS NOT NULL, totp_last_step FROM users WHERE id = $1 FOR UPDATE`,
			userID).Scan(&sealed, &enabled, &lastStep)
		if err != nil {
			return false, mapNoRows(err)
		}
		if enabled {
			return false, ErrTOTPAlreadyEnabled
		}
		if sealed == nil {
			return false, ErrTOTPNotEnrolled
		}
		secret, err := a.kek.Open(sealed, totpAAD(userID))
		if err != nil {
			return false, fmt.Errorf("open totp secret: %w", err)
		}
		step, ok := totpStep(string(secret), code, a.now(), otpSHA1, otpSix)
		if !ok || step <= lastStep {
			return false, nil
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_enabled_at = now(), totp_last_step = $2, updated_at = now() WHERE id = $1`,
			userID, step); err != nil {
			return false, err
		}
		if err := a.replaceBackupCodes(ctx, tx, userID, codes); err != nil {
			return false, err
		}
		return true, outbox.Append(ctx, tx, event("identity.mfa.totp.enable", "user", userID, userActor(userID), nil))
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns TOTP off after a valid TOTP or backup code.
func (a *Accounts) DisableTOTP(ctx context.Context, userID, code string) error {
	return a.withSecondFactorLimit(ctx, userID, func(tx pgx.Tx) (bool, error) {
		if err := a.requireTOTP(ctx, tx, userID); err != nil {
			return false, err
		}
		ok, err := a.secondFactor(ctx, tx, userID, code, true)
		if err != nil || !ok {
			return false, err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = 0, updated_at = now()
			WHERE id = $1`, userID); err != nil {
			return false, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM backup_codes WHERE user_id = $1`, userID); err != nil {
			return false, err
		}
		return true, outbox.Append(ctx, tx, event("identity.mfa.totp.disable", "user", userID, userActor(userID), nil))
	})
}

// RegenerateBackupCodes voids every backup code and returns a new set, after a TOTP code.
func (a *Accounts) RegenerateBackupCodes(ctx context.Context, userID, code string) ([]string, error) {
	codes, err := newBackupCodes()
	if err != nil {
		return nil, err
	}
	err = a.withSecondFactorLimit(ctx, userID, func(tx pgx.Tx) (bool, error) {
		if err := a.requireTOTP(ctx, tx, userID); err != nil {
			return false, err
		}
		ok, err := a.secondFactor(ctx, tx, userID, code, false)
		if err != nil || !ok {
			return false, err
		}
		if err := a.replaceBackupCodes(ctx, tx, userID, codes); err != nil {
			return false, err
		}
		return true, outbox.Append(ctx, tx, event("identity.mfa.backup_codes.regenerate", "user", userID, userActor(userID), nil))
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

func (a *Accounts) requireTOTP(ctx context.Context, tx pgx.Tx, userID string) error {
	var enabled bool
	if err := tx.QueryRow(ctx, `SELECT totp_enabled_at IS NOT NULL FROM users WHERE id = $1`, userID).Scan(&enabled); err != nil {
		return mapNoRows(err)
	}
	if !enabled {
		return ErrTOTPNotEnabled
	}
	return nil
}

// withSecondFactorLimit runs check in a transaction under the second-factor
// back-off. check reports whether the code was right; a wrong one is
// counted, audited and answered with ErrInvalidCode.
func (a *Accounts) withSecondFactorLimit(ctx context.Context, userID string, check func(tx pgx.Tx) (bool, error)) error {
	acct, ipKey := "mfa:"+userID, clientIPKey(ctx)
	if err := a.checkLimits(ctx, a.codeLimit, acct, ipKey); err != nil {
		return err
	}
	var ok bool
	err := pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		var err error
		ok, err = check(tx)
		if err == nil && !ok {
			return errWrongCode
		}
		return err
	})
	if errors.Is(err, errWrongCode) {
		a.failLimits(ctx, a.codeLimit, acct, ipKey)
		a.auditNow(ctx, failed(event("identity.mfa.code", "user", userID, userActor(userID), nil)))
		return ErrInvalidCode
	}
	if err != nil {
		return err
	}
	_ = a.codeLimit.Reset(ctx, acct)
	return nil
}

var errWrongCode = errors.New("wrong code")

func newBackupCodes() ([]string, error) {
	codes := make([]string, backupCodeCount)
	for i := range codes {
		c, err := backupCode()
		if err != nil {
			return nil, err
		}
		codes[i] = c
	}
	return codes, nil
}

func (a *Accounts) replaceBackupCodes(ctx context.Context, tx pgx.Tx, userID string, codes []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM backup_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	for _, c := range codes {
		if _, err := tx.Exec(ctx, `INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, $2)`,
			userID, a.pepper.hash("backup_code", c)); err != nil {
			return err
		}
	}
	return nil
}
