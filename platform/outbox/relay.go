package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
)

// Appender delivers a batch to the audit service.
type Appender func(ctx context.Context, in *auditv1.AppendEventsRequest) (*auditv1.AppendEventsResponse, error)

// Relay ships the outbox to the audit service: in batches, in order, woken
// by LISTEN/NOTIFY (and a periodic sweep), backing off while audit is
// unreachable. A row is deleted only after audit acknowledged it, so an
// outage delays events and never loses them; audit stores each id once.
type Relay struct {
	db     *pgxpool.Pool
	audit  func(ctx context.Context, in *auditv1.AppendEventsRequest) (*auditv1.AppendEventsResponse, error)
	log    *slog.Logger
	batch  int
	wake   chan struct{}
	sweep  time.Duration
	maxGap time.Duration
}

// NewRelay returns a relay from db's outbox to audit.
func NewRelay(db *pgxpool.Pool, audit Appender, log *slog.Logger) *Relay {
	return &Relay{db: db, audit: audit, log: log, batch: 200, wake: make(chan struct{}, 1),
		sweep: 2 * time.Second, maxGap: 30 * time.Second}
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	go r.listen(ctx)
	backoff := time.Duration(0)
	for {
		n, err := r.ship(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = min(max(2*backoff, 250*time.Millisecond), r.maxGap)
			r.log.WarnContext(ctx, "audit relay: delivery failed; retrying", "in", backoff.String(), "error", err)
			if !sleep(ctx, backoff) {
				return nil
			}
			continue
		case n == r.batch:
			backoff = 0
			continue // more waiting
		}
		backoff = 0
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-time.After(r.sweep):
		}
	}
}

// ship delivers the oldest batch; the rows stay locked (SKIP LOCKED lets other
// replicas take other rows) until audit answers.
func (r *Relay) ship(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, event FROM audit_outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, r.batch)
		if err != nil {
			return err
		}
		var seqs []int64
		req := &auditv1.AppendEventsRequest{}
		for rows.Next() {
			var seq int64
			var raw []byte
			if err := rows.Scan(&seq, &raw); err != nil {
				return err
			}
			ev := &auditv1.EventInput{}
			if err := proto.Unmarshal(raw, ev); err != nil {
				return fmt.Errorf("outbox row %d: %w", seq, err)
			}
			seqs = append(seqs, seq)
			req.Events = append(req.Events, ev)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := r.audit(cctx, req); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM audit_outbox WHERE seq = ANY($1)`, seqs); err != nil {
			return err
		}
		n = len(seqs)
		return nil
	})
	return n, err
}

// listen turns NOTIFY audit_outbox into wake-ups, reconnecting as needed.
func (r *Relay) listen(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := r.db.Acquire(ctx)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		_, err = conn.Exec(ctx, "LISTEN audit_outbox")
		for err == nil {
			_, err = conn.Conn().WaitForNotification(ctx)
			if err == nil {
				select {
				case r.wake <- struct{}{}:
				default:
				}
			}
		}
		conn.Release()
		sleep(ctx, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
