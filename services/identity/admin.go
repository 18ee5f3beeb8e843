package identity

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/redact"
)

// ErrSelfDisable is a platform admin disabling their own account, which would
// lock out the one person able to undo it.
var ErrSelfDisable = errors.New("you cannot disable your own account")

// ErrSelfTOTPReset is a platform admin resetting their own second factor:
// recovery is another administrator's check of who they are.
var ErrSelfTOTPReset = errors.New("you cannot reset your own two-factor authentication: ask another platform administrator")

// ErrAdminNeedsMFA is a platform admin resetting a second factor from a
// session signed in without their own.
var ErrAdminNeedsMFA = errors.New("sign in with your own two-factor authentication to reset another user's")

// Disabled is what disabling an account ended.
type Disabled struct {
	Sessions, APIKeys int
}

// DisableUser disables an account on a platform admin's word: in one
// transaction it marks the user disabled, revokes every live session and
// every live API key the user created (in any organisation) and records it,
// then announces the revocations so that every cache forgets them at once.
// Sign-in stays refused until EnableUser; what was revoked stays revoked.
// Disabling a disabled account revokes whatever is live and changes nothing else.
func (a *Accounts) DisableUser(ctx context.Context, adminID, userID, reason string) (Disabled, error) {
	if adminID == userID {
		return Disabled{}, ErrSelfDisable
	}
	var sessions []string
	type key struct{ ID, OrgID string }
	var keys []key
	// The API keys live under row-level security: an explicit all-organisations
	// transaction, as the key's own organisation is what is being looked for.
	err := postgres.InOrg(ctx, a.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, now()), updated_at = now() WHERE id = $1`, userID)
		if err != nil {
			return mapNoRows(err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if sessions, err = revokeSessions(ctx, tx, userID, "", "user_disabled"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE api_keys SET revoked_at = now() WHERE created_by = $1 AND revoked_at IS NULL
			RETURNING id::text, org_id::text`, userID)
		if err != nil {
			return err
		}
		if keys, err = pgx.CollectRows(rows, pgx.RowToStructByPos[key]); err != nil {
			return err
		}
		for _, k := range keys {
			// Each organisation's chain shows its own keys ending.
			ev := event("identity.api_key.revoke", "api_key", k.ID, userActor(adminID), map[string]any{"reason": "user_disabled"})
			ev.OrgId = k.OrgID
			if err := outbox.Append(ctx, tx, ev); err != nil {
				return err
			}
		}
		return outbox.Append(ctx, tx, event("identity.user.disable", "user", userID, userActor(adminID),
			map[string]any{"reason": redact.Text(reason, 200), "sessions_revoked": len(sessions), "api_keys_revoked": len(keys)}))
	})
	if err != nil {
		return Disabled{}, err
	}
	a.revoker.Sessions(ctx, sessions...)
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	a.revoker.APIKeys(ctx, ids...)
	return Disabled{Sessions: len(sessions), APIKeys: len(keys)}, nil
}

// RevokeUserSessions ends every live session of a user on a platform admin's
// word, without disabling the account, and announces them to every cache.
func (a *Accounts) RevokeUserSessions(ctx context.Context, adminID, userID, reason string) (int, error) {
	var revoked []string
	err := pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		// The user's row is held as openSession holds it, so no sign-in
		// counts the sessions while they end.
		var id string
		if err := tx.QueryRow(ctx, `SELECT id::text FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&id); err != nil {
			return mapNoRows(err)
		}
		var err error
		if revoked, err = revokeSessions(ctx, tx, userID, "", "admin"); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event("identity.user.sessions.revoke", "user", userID, userActor(adminID),
			map[string]any{"reason": redact.Text(reason, 200), "sessions_revoked": len(revoked)}))
	})
	if err != nil {
		return 0, err
	}
	a.revoker.Sessions(ctx, revoked...)
	return len(revoked), nil
}

// TOTPReset is what resetting a user's second factor changed.
type TOTPReset struct {
	WasEnabled bool
	Sessions   int
}

// ResetUserTOTP is the recovery of a lost second factor, once a platform
// admin (signed in with their own, adminMFA) has proved the user's identity
// out of band: in one transaction it turns TOTP off, voids the backup codes
// and the pending second-factor sign-ins, ends every session of the user and
// records it; then the revocations are announced to every cache. The user
// signs in with the first factor alone and enrols again; an organisation
// that requires two-factor authentication keeps refusing them until then.
func (a *Accounts) ResetUserTOTP(ctx context.Context, adminID string, adminMFA bool, userID, reason string) (TOTPReset, error) {
	if adminID == userID {
		return TOTPReset{}, ErrSelfTOTPReset
	}
	if !adminMFA {
		return TOTPReset{}, ErrAdminNeedsMFA
	}
	var (
		res     TOTPReset
		revoked []string
	)
	err := pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		// The user's row is held as openSession holds it, so no sign-in
		// counts the sessions while they end.
		if err := tx.QueryRow(ctx, `SELECT totp_enabled_at IS NOT NULL FROM users WHERE id = $1 FOR UPDATE`, userID).
			Scan(&res.WasEnabled); err != nil {
			return mapNoRows(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = 0, updated_at = now()
			WHERE id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM backup_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE mfa_challenges SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
			return err
		}
		var err error
		if revoked, err = revokeSessions(ctx, tx, userID, "", "totp_reset"); err != nil {
			return err
		}
		res.Sessions = len(revoked)
		return outbox.Append(ctx, tx, event("identity.user.totp.reset", "user", userID, userActor(adminID),
			map[string]any{"reason": redact.Text(reason, 200), "totp_was_enabled": res.WasEnabled, "sessions_revoked": len(revoked)}))
	})
	if err != nil {
		return TOTPReset{}, err
	}
	a.revoker.Sessions(ctx, revoked...)
	return res, nil
}

// EnableUser lets a disabled account sign in again. Its old sessions and API
// keys stay revoked.
func (a *Accounts) EnableUser(ctx context.Context, adminID, userID, reason string) error {
	return pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled_at = NULL, updated_at = now() WHERE id = $1`, userID)
		if err != nil {
			return mapNoRows(err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return outbox.Append(ctx, tx, event("identity.user.enable", "user", userID, userActor(adminID), map[string]any{"reason": redact.Text(reason, 200)}))
	})
}
