package outbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/logging"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are applied to every service database, under their own version
// table, before the service's own migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded path is fixed at build time
	}
	return sub
}

// Execer is the part of pgx.Tx (or a pool) that Append needs.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Append writes an audit event to the outbox with the caller's transaction,
// so the event exists exactly when the change it records does. It fills the
// event id, time, request id, trace id, client IP and user agent from the
// context when the caller left them empty.
func Append(ctx context.Context, tx Execer, ev *auditv1.EventInput) error {
	if ev.GetId() == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		ev.Id = id.String()
	}
	if ev.GetTime() == nil {
		ev.Time = timestamppb.Now()
	}
	if ev.GetRequestId() == "" {
		ev.RequestId = logging.RequestID(ctx)
	}
	if ev.GetTraceId() == "" {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			ev.TraceId = sc.TraceID().String()
		}
	}
	ip, ua := authn.Client(ctx)
	if ev.GetSourceIp() == "" && net.ParseIP(ip) != nil {
		ev.SourceIp = ip
	}
	if ev.GetUserAgent() == "" {
		ev.UserAgent = truncate(ua, 512)
	}
	if ev.GetOutcome() == auditv1.Outcome_OUTCOME_UNSPECIFIED {
		ev.Outcome = auditv1.Outcome_OUTCOME_SUCCESS
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("outbox: marshal: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_outbox (event_id, event) VALUES ($1, $2)`, ev.GetId(), b); err != nil {
		return fmt.Errorf("outbox: insert: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
