package identity

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pythorix/pythorix/platform/envelope"
	"github.com/pythorix/pythorix/platform/mail"
)

// Mailer delivers the mail outbox. Bodies (which carry one-time codes) are
// envelope-encrypted at rest and bound to their recipient.
type Mailer struct {
	db     *pgxpool.Pool
	kek    *envelope.Keyring
	sender mail.Sender
	log    *slog.Logger
	wakeCh chan struct{}
}

const maxMailAttempts = 12

func newMailer(db *pgxpool.Pool, kek *envelope.Keyring, sender mail.Sender, log *slog.Logger) *Mailer {
	return &Mailer{db: db, kek: kek, sender: sender, log: log, wakeCh: make(chan struct{}, 1)}
}

func mailAAD(to string) []byte { return []byte("identity/mail/" + to) }

func (m *Mailer) enqueue(ctx context.Context, tx pgx.Tx, to, subject, body string) error {
	sealed, err := m.kek.Seal([]byte(body), mailAAD(to))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO mail_outbox (recipient, subject, body) VALUES ($1, $2, $3)`, to, subject, sealed)
	return err
}

// wake asks the worker to look now instead of at its next tick.
func (m *Mailer) wake() {
	select {
	case m.wakeCh <- struct{}{}:
	default:
	}
}

// Run delivers due mail until ctx ends. Replicas share the work through
// FOR UPDATE SKIP LOCKED; failures retry with exponential back-off.
func (m *Mailer) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for {
			n, err := m.deliverBatch(ctx)
			if err != nil && ctx.Err() == nil {
				m.log.ErrorContext(ctx, "mail delivery batch failed", "error", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.wakeCh:
		}
	}
}

func (m *Mailer) deliverBatch(ctx context.Context) (int, error) {
	delivered := 0
	err := pgx.BeginFunc(ctx, m.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, recipient, subject, body, attempts FROM mail_outbox
			WHERE next_try <= now() ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED`)
		if err != nil {
			return err
		}
		type item struct {
			id       int64
			to, subj string
			body     []byte
			attempts int
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
			var it item
			return it, r.Scan(&it.id, &it.to, &it.subj, &it.body, &it.attempts)
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			body, err := m.kek.Open(it.body, mailAAD(it.to))
			if err == nil {
				err = m.sender.Send(ctx, mail.Message{To: it.to, Subject: it.subj, Text: string(body)})
			}
			if err == nil || errors.Is(err, envelope.ErrDecrypt) || it.attempts+1 >= maxMailAttempts {
				if err != nil {
					m.log.ErrorContext(ctx, "mail dropped", "id", it.id, "attempts", it.attempts+1, "error", err)
				}
				if _, err := tx.Exec(ctx, `DELETE FROM mail_outbox WHERE id = $1`, it.id); err != nil {
					return err
				}
				delivered++
				continue
			}
			m.log.WarnContext(ctx, "mail delivery failed; will retry", "id", it.id, "error", err)
			backoff := time.Duration(1<<min(it.attempts, 12)) * time.Second
			if _, err := tx.Exec(ctx, `UPDATE mail_outbox SET attempts = attempts + 1, next_try = now() + make_interval(secs => $2) WHERE id = $1`,
				it.id, backoff.Seconds()); err != nil {
				return err
			}
		}
		return nil
	})
	return delivered, err
}
