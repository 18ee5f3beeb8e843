// Package outboxtest reads what a service has queued in its audit outbox,
// for tests that check which events a change wrote.
package outboxtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
)

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Events are the events in the outbox, oldest first.
func Events(t testing.TB, db Querier) []*auditv1.EventInput {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT event FROM audit_outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*auditv1.EventInput, len(raw))
	for i, b := range raw {
		out[i] = &auditv1.EventInput{}
		if err := proto.Unmarshal(b, out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
