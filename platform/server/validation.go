package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pythorix/pythorix/platform/invalid"
)

// validationUnary and validationStream run the proto's buf.validate rules
// before any handler. A failure answers InvalidArgument with a
// google.rpc.BadRequest naming each field by its JSON (REST) name, so REST and
// gRPC clients alike learn which field to fix.
func validationUnary(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := validateMessage(v, req); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

func validationStream(v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &validatingStream{ServerStream: ss, v: v})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v protovalidate.Validator
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return validateMessage(s.v, m)
}

func validateMessage(v protovalidate.Validator, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Error(codes.Internal, "internal error")
	}
	err := v.Validate(msg)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// A rule that does not compile is our bug, not the caller's.
		return fmt.Errorf("validation rules for %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	br := &errdetails.BadRequest{}
	var parts []string
	for _, viol := range verr.Violations {
		field := JSONFieldPath(viol.Proto.GetField())
		if field == "" {
			field = messageRuleField(viol.Proto.GetRuleId())
		}
		desc := viol.Proto.GetMessage()
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field: field, Description: desc, Reason: viol.Proto.GetRuleId(),
		})
		if field == "" {
			parts = append(parts, desc)
		} else {
			parts = append(parts, field+": "+desc)
		}
	}
	st, derr := status.New(codes.InvalidArgument, "invalid request: "+strings.Join(parts, "; ")).WithDetails(br)
	if derr != nil {
		return status.Error(codes.InvalidArgument, "invalid request: "+strings.Join(parts, "; "))
	}
	return st.Err()
}

// messageRuleField names the field a message-level (cross-field) rule is
// about. By convention such a rule's id ends with that field's JSON name,
// e.g. "list_events.endTime", so every violation names a field.
func messageRuleField(ruleID string) string {
	if i := strings.LastIndexByte(ruleID, '.'); i >= 0 {
		return ruleID[i+1:]
	}
	return ""
}

// JSONFieldPath renders a violation's field path with JSON field names
// (new_password -> newPassword) and [index] / ["key"] subscripts.
func JSONFieldPath(p *validate.FieldPath) string {
	var b strings.Builder
	for i, el := range p.GetElements() {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(lowerCamel(el.GetFieldName()))
		switch sub := el.GetSubscript().(type) {
		case *validate.FieldPathElement_Index:
			fmt.Fprintf(&b, "[%d]", sub.Index)
		case *validate.FieldPathElement_StringKey:
			fmt.Fprintf(&b, "[%q]", sub.StringKey)
		case *validate.FieldPathElement_IntKey:
			fmt.Fprintf(&b, "[%d]", sub.IntKey)
		case *validate.FieldPathElement_UintKey:
			fmt.Fprintf(&b, "[%d]", sub.UintKey)
		case *validate.FieldPathElement_BoolKey:
			fmt.Fprintf(&b, "[%t]", sub.BoolKey)
		}
	}
	return b.String()
}

func lowerCamel(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// FieldError is the InvalidArgument status naming one bad field (by its JSON
// name) with a google.rpc.BadRequest detail, as validation failures are.
func FieldError(field, reason string) error {
	msg := "invalid request: " + field + ": " + reason
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: reason}},
	})
	if err != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// StatusOf is the service edge's one translation of domain errors: errors
// already carrying a status pass through, *invalid.Field becomes
// InvalidArgument naming the field, errors matching a key of known get that
// code with their own (user-facing) text, cancellations keep their meaning,
// and anything else is logged and answered as a bare Internal.
func StatusOf(ctx context.Context, log *slog.Logger, err error, known map[error]codes.Code) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *invalid.Field
	if errors.As(err, &fe) {
		return FieldError(fe.Name, fe.Reason)
	}
	for target, code := range known {
		if errors.Is(err, target) {
			return status.Error(code, target.Error())
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if unreachable(err) {
		// A dependency (PostgreSQL, Redis, a peer) is away: the caller may
		// retry, and nothing was acknowledged.
		log.WarnContext(ctx, "dependency unavailable", "error", err)
		return status.Error(codes.Unavailable, "temporarily unavailable; retry later")
	}
	log.ErrorContext(ctx, "operation failed", "error", err)
	return status.Error(codes.Internal, "internal error")
}

// unreachable reports an error of a dependency that could not be reached
// or dropped the connection, including PostgreSQL going down or starting
// up (SQLSTATE class 57P, operator intervention: admin_shutdown,
// crash_shutdown, cannot_connect_now) and its connection exceptions (08).
func unreachable(err error) bool {
	var connect *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "08")
	}
	return errors.As(err, &connect) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
