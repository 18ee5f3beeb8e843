package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/server"
)

func TestStatusOf(t *testing.T) {
	t.Parallel()
	errGone := errors.New("widget not found")
	known := map[error]codes.Code{errGone: codes.NotFound}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tests := []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"known, wrapped", fmt.Errorf("loading: %w", errGone), codes.NotFound, "widget not found"},
		{"field", fmt.Errorf("x: %w", &invalid.Field{Name: "pageToken", Reason: "is bad"}), codes.InvalidArgument, "pageToken"},
		{"status passes through", status.Error(codes.ResourceExhausted, "slow down"), codes.ResourceExhausted, "slow down"},
		{"deadline", fmt.Errorf("q: %w", context.DeadlineExceeded), codes.DeadlineExceeded, ""},
		{"unknown never leaks", errors.New("pq: password authentication failed for user svc"), codes.Internal, "internal error"},
		{"dependency away", fmt.Errorf("insert: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), codes.Unavailable, "retry"},
		{"connection dropped", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), codes.Unavailable, "retry"},
		{"postgres shutting down", fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), codes.Unavailable, "retry"},
		{"postgres starting up", fmt.Errorf("connect: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}), codes.Unavailable, "retry"},
		{"a constraint is not an outage", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505", Message: "duplicate key"}), codes.Internal, "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(server.StatusOf(context.Background(), log, tc.err, known))
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) || strings.Contains(st.Message(), "password") {
				t.Fatalf("got %v %q", st.Code(), st.Message())
			}
			if tc.code == codes.InvalidArgument {
				if br, ok := st.Details()[0].(*errdetails.BadRequest); !ok || br.GetFieldViolations()[0].GetField() != "pageToken" {
					t.Fatalf("details %v", st.Details())
				}
			}
		})
	}
	if server.StatusOf(context.Background(), log, nil, known) != nil {
		t.Fatal("nil error became a status")
	}
}
