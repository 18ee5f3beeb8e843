package server

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"buf.build/go/protovalidate"
	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
	"github.com/pythorix/pythorix/platform/access"
	"github.com/pythorix/pythorix/platform/logging"
	"github.com/pythorix/pythorix/platform/mtls"
)

// Interceptor is one named link of the chain; the names make the order
// reviewable and testable.
type Interceptor struct {
	Name   string
	Unary  grpc.UnaryServerInterceptor
	Stream grpc.StreamServerInterceptor
}

// chain returns the interceptors in their fixed order: request id, logging,
// recovery, peer authentication, validation, authorization. Recovery sits
// inside the first two so that a panic is logged with its request id and
// the call's log line shows the Internal it became; the two outer steps do
// nothing that can panic. (The OpenTelemetry stats handler is installed as
// a grpc.StatsHandler and so wraps them all.)
func (s *Server) chain(validator protovalidate.Validator) []Interceptor {
	return []Interceptor{
		{Name: "request_id", Unary: unaryFromCtx(requestID), Stream: streamFromCtx(requestID)},
		{Name: "logging", Unary: s.logUnary, Stream: s.logStream},
		{Name: "recovery", Unary: recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(s.recovered)),
			Stream: recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(s.recovered))},
		{Name: "peer_authentication", Unary: unaryFromCtx(s.authenticatePeer), Stream: streamFromCtx(s.authenticatePeer)},
		{Name: "validation", Unary: validationUnary(validator), Stream: validationStream(validator)},
		{Name: "authorization", Unary: s.authorizeUnary, Stream: s.authorizeStream},
	}
}

type callerKey struct{}

// Caller returns the calling service's name (from its SPIFFE ID) for a call
// that passed peer authentication.
func Caller(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(string)
	return c
}

func (s *Server) recovered(ctx context.Context, p any) error {
	s.log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

func requestID(ctx context.Context, _ string) (context.Context, error) {
	var id string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(logging.RequestIDHeader); len(v) > 0 {
			id = v[0]
		}
	}
	id = logging.SanitizeRequestID(id)
	_ = grpc.SetHeader(ctx, metadata.Pairs(logging.RequestIDHeader, id))
	return logging.WithRequestID(ctx, id), nil
}

// authenticatePeer identifies the caller by the SPIFFE ID of its client
// certificate and applies the RPC's caller rules: internal RPCs only from the
// services they list, user-facing RPCs only from principal assertors (the
// gateway), infrastructure services from any peer of the trust domain.
func (s *Server) authenticatePeer(ctx context.Context, method string) (context.Context, error) {
	id, err := mtls.PeerID(ctx)
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, "peer identity required")
	}
	if id.TrustDomain() != s.tls.TrustDomain() {
		return ctx, status.Error(codes.Unauthenticated, "peer outside trust domain")
	}
	caller, err := mtls.ServiceName(id)
	if err != nil {
		return ctx, status.Error(codes.PermissionDenied, "peer is not a suite service")
	}
	ctx = context.WithValue(ctx, callerKey{}, caller)
	if access.IsInfrastructure(method) {
		return ctx, nil
	}
	rule, ok := s.rules[method]
	if !ok {
		return ctx, status.Error(codes.Unimplemented, "unknown method")
	}
	allowed := s.cfg.PrincipalAssertors
	if in, ok := rule.GetKind().(*optionsv1.Access_Internal); ok {
		allowed = in.Internal.GetCallers()
	}
	if !slices.Contains(allowed, caller) {
		s.log.WarnContext(ctx, "peer not allowed", "method", method, "caller", caller)
		return ctx, status.Error(codes.PermissionDenied, "caller not allowed for this method")
	}
	return ctx, nil
}

func (s *Server) authorize(ctx context.Context, method string, req any) (context.Context, error) {
	if access.IsInfrastructure(method) {
		return ctx, nil
	}
	return s.authorizer.Authorize(ctx, access.Call{FullMethod: method, Rule: s.rules[method], Caller: Caller(ctx)}, req)
}

func (s *Server) authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod, req)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// authorizeStream authorizes a server-streaming call on its single request,
// read before the handler runs.
func (s *Server) authorizeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if info.IsClientStream {
		// No client-streaming RPCs exist; refuse rather than authorize blind.
		return status.Error(codes.Unimplemented, "client streaming is not supported")
	}
	return h(srv, &authorizingStream{ServerStream: ss, s: s, method: info.FullMethod})
}

type authorizingStream struct {
	grpc.ServerStream
	s      *Server
	method string
	ctx    context.Context
}

func (a *authorizingStream) Context() context.Context {
	if a.ctx != nil {
		return a.ctx
	}
	return a.ServerStream.Context()
}

func (a *authorizingStream) RecvMsg(m any) error {
	if err := a.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	ctx, err := a.s.authorize(a.ServerStream.Context(), a.method, m)
	if err != nil {
		return err
	}
	a.ctx = ctx
	return nil
}

func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	err = s.finish(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	return s.finish(ss.Context(), info.FullMethod, start, h(srv, ss))
}

// finish logs the call and makes sure no internal error text reaches the
// client: an error that is not already a gRPC status is logged in full and
// answered with a bare Internal.
func (s *Server) finish(ctx context.Context, method string, start time.Time, err error) error {
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			s.log.ErrorContext(ctx, "unmapped error", "method", method, "error", err)
			err = status.Error(codes.Internal, "internal error")
		}
	}
	code := status.Code(err)
	level := slog.LevelInfo
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable:
		level = slog.LevelError
	case codes.Unauthenticated, codes.PermissionDenied:
		level = slog.LevelWarn
	}
	if access.IsInfrastructure(method) && code == codes.OK {
		level = slog.LevelDebug
	}
	peerID := "unverified"
	if id, err := mtls.PeerID(ctx); err == nil {
		peerID = id.String()
	}
	s.log.Log(ctx, level, "rpc", "method", method, "code", code.String(),
		"duration_ms", float64(time.Since(start).Microseconds())/1000, "peer", peerID)
	return err
}

// unaryFromCtx and streamFromCtx adapt a context step to both call shapes.
func unaryFromCtx(f func(context.Context, string) (context.Context, error)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := f(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

func streamFromCtx(f func(context.Context, string) (context.Context, error)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := f(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		w := middleware.WrapServerStream(ss)
		w.WrappedContext = ctx
		return h(srv, w)
	}
}

var errNoRules = errors.New("server: no services registered")
