package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/pythorix/pythorix/gen"
	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	"github.com/pythorix/pythorix/platform/logging"
	"github.com/pythorix/pythorix/platform/revocation"
)

// forwardedHeaders are the only request headers that reach the services as
// gRPC metadata. Everything else a client sends stays at the edge.
var forwardedHeaders = map[string]string{
	"X-Org-Id":     "x-org-id",
	"X-Request-Id": logging.RequestIDHeader,
}

// The gateway's credential cache (forget drops one credential, revoke
// every credential of a session or API key) is brought up to date by an
// answer that ends a credential as soon as it passes through here: the
// caller's next request must not be served from the cache while the
// revocation's announcement is still on its way to every replica.
func newMux(log *slog.Logger, s *sessions, forget func(credential string), revoke func(kind, id string)) *runtime.ServeMux {
	refuse := func(w http.ResponseWriter, r *http.Request, err error) {
		errorHandler(log)(r.Context(), nil, nil, w, r, err)
	}
	return runtime.NewServeMux(append(muxOptions(log), runtime.WithForwardResponseOption(
		func(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
			id, _ := ctx.Value(pathParamsCtxKey{}).(map[string]string)
			switch m.(type) {
			case *identityv1.LogoutResponse:
				if c, ok := ctx.Value(credentialCtxKey{}).(string); ok {
					forget(c)
				}
			case *identityv1.RevokeApiKeyResponse:
				revoke(revocation.APIKey, id["id"])
			case *identityv1.RevokeSessionResponse:
				revoke(revocation.Session, id["id"])
			}
			return s.forward(ctx, w, m)
		}), runtime.WithMiddlewares(s.oidcCallbackGuard(refuse), keepPathParams))...)
}

// pathParamsCtxKey holds the matched route's path parameters.
type pathParamsCtxKey struct{}

func keepPathParams(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		next(w, r.WithContext(context.WithValue(r.Context(), pathParamsCtxKey{}, params)), params)
	}
}

func muxOptions(log *slog.Logger) []runtime.ServeMuxOption {
	jsonpb := &runtime.JSONPb{
		MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: false},
		// Unknown fields are rejected (400), as the API contract says.
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	return []runtime.ServeMuxOption{
		runtime.WithMetadata(outgoingMetadata),
		runtime.WithMarshalerOption("text/plain", backupCodesText{Marshaler: jsonpb}),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: jsonpb}),
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			md, ok := forwardedHeaders[textproto.CanonicalMIMEHeaderKey(h)]
			return md, ok
		}),
		// No response metadata or trailers are turned into headers unless listed.
		runtime.WithOutgoingHeaderMatcher(func(k string) (string, bool) {
			// A service may tighten the CSP of a document it renders (the
			// HTML scan report allows its own stylesheet by hash).
			if k == upstreamCSP {
				return upstreamCSP, true
			}
			return "", false
		}),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithErrorHandler(errorHandler(log)),
		runtime.WithRoutingErrorHandler(func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
			c := codes.NotFound
			if code == http.StatusMethodNotAllowed {
				c = codes.Unimplemented
			}
			errorHandler(log)(ctx, mux, m, w, r, status.Error(c, http.StatusText(code)))
		}),
	}
}

// errorHandler answers errors as the API contract says: the HTTP status
// follows the gRPC code, the body carries code, message, details and the
// request id. Messages of server-side failures are replaced by generic text so
// that transport and internal details never reach a client.
func errorHandler(log *slog.Logger) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		st := status.Convert(err)
		switch st.Code() {
		case codes.Internal, codes.Unknown, codes.DataLoss:
			log.ErrorContext(r.Context(), "upstream error", "path", r.URL.Path, "code", st.Code().String(), "error", st.Message())
			st = status.New(st.Code(), "internal error")
		case codes.Unavailable:
			log.WarnContext(r.Context(), "upstream unavailable", "path", r.URL.Path, "error", st.Message())
			st = status.New(codes.Unavailable, "service temporarily unavailable")
		case codes.DeadlineExceeded:
			st = status.New(codes.DeadlineExceeded, "request timed out")
		case codes.InvalidArgument:
			// grpc-gateway's own parse errors quote Go internals; keep the
			// service's validation messages, which name fields.
			if !strings.HasPrefix(st.Message(), "invalid request") {
				st = status.New(codes.InvalidArgument, "invalid request: "+firstLine(protoPosition.ReplaceAllString(st.Message(), "")))
			}
		}
		body := map[string]any{
			"code":      CodeName(st.Code()),
			"message":   st.Message(),
			"details":   detailsJSON(st),
			"requestId": logging.RequestID(r.Context()),
		}
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
				secs := int64(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
				w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(HTTPStatus(st.Code()))
		_ = json.NewEncoder(w).Encode(body)
	}
}

// HTTPStatus is the API contract's mapping of gRPC codes to HTTP statuses.
// It follows grpc-gateway's except FailedPrecondition, which the contract
// answers 412 (grpc-gateway says 400).
func HTTPStatus(c codes.Code) int {
	if c == codes.FailedPrecondition {
		return http.StatusPreconditionFailed
	}
	return runtime.HTTPStatusFromCode(c)
}

// writeError answers an error raised at the edge exactly as upstream errors are answered.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) {
	errorHandler(g.log)(r.Context(), nil, nil, w, r, err)
}

// protoPosition strips the decoder's "proto: (line 1:62): " prefix.
var protoPosition = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

// CodeName is the canonical name of a gRPC code, e.g. INVALID_ARGUMENT.
func CodeName(c codes.Code) string { return rpccode.Code(c).String() }

func detailsJSON(st *status.Status) []json.RawMessage {
	out := []json.RawMessage{}
	for _, d := range st.Proto().GetDetails() {
		b, err := protojson.Marshal(d)
		if err == nil {
			out = append(out, b)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func (g *Gateway) routes(mux *runtime.ServeMux) http.Handler {
	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		upstreams, ok := g.ready(r.Context())
		code, st := http.StatusOK, "ready"
		if !ok {
			code, st = http.StatusServiceUnavailable, "not ready"
		}
		writeJSON(w, code, map[string]any{"status": st, "upstreams": upstreams})
	})
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(gen.OpenAPI)
	})
	root.Handle("POST /v1/hooks/{provider}/{integrationId}", g.hooks(integrationsv1.NewIntegrationsServiceClient(g.conns["integrations"])))
	root.Handle("/v1/", reports(mux))
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": CodeName(codes.NotFound), "message": "not found", "details": []any{}, "requestId": logging.RequestID(r.Context())})
	})
	return g.middleware(root)
}

// upstreamCSP is response metadata in which a service sends the
// Content-Security-Policy for a document it renders.
const upstreamCSP = "x-pythorix-content-security-policy"

var reportPath = regexp.MustCompile(`^/v1/scans/[^/]+/report$`)

// reportFormats are the short forms of ?format= the contract accepts.
var reportFormats = map[string]string{"json": "REPORT_FORMAT_JSON", "sarif": "REPORT_FORMAT_SARIF", "html": "REPORT_FORMAT_HTML"}

// reports lets a report be asked for as ?format=json|sarif|html and serves
// it under the CSP its service sent.
func reports(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !reportPath.MatchString(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		if full, ok := reportFormats[strings.ToLower(q.Get("format"))]; ok {
			q.Set("format", full)
			r.URL.RawQuery = q.Encode()
		}
		next.ServeHTTP(&cspWriter{ResponseWriter: w}, r)
	})
}

// cspWriter moves a service's CSP into the Content-Security-Policy header,
// replacing the gateway's default, before the status line goes out.
type cspWriter struct {
	http.ResponseWriter
	wrote bool
}

func (c *cspWriter) WriteHeader(code int) {
	if !c.wrote {
		c.wrote = true
		h := c.Header()
		key := http.CanonicalHeaderKey(upstreamCSP)
		if v := h.Values(key); len(v) == 1 && v[0] != "" {
			h.Set("Content-Security-Policy", v[0])
		}
		h.Del(key)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cspWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *cspWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// middleware applies, outermost first: request id, access log, security
// headers, request deadline and body size limit.
func (g *Gateway) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := logging.SanitizeRequestID(r.Header.Get("X-Request-Id"))
		r.Header.Set("X-Request-Id", id)
		ctx := logging.WithRequestID(r.Context(), id)
		ctx, cancel := context.WithTimeout(ctx, g.cfg.RequestTimeout)
		defer cancel()

		SetSecurityHeaders(w.Header())
		w.Header().Set("X-Request-Id", id)
		asDownload(w, r)
		if r.ContentLength > g.cfg.MaxBodyBytes {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"code": CodeName(codes.InvalidArgument),
				"message": "request body too large", "details": []any{}, "requestId": id})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		r, ok := r.WithContext(ctx), true
		if len(r.Header) > g.cfg.MaxHeaders {
			writeJSON(rec, http.StatusRequestHeaderFieldsTooLarge, map[string]any{"code": CodeName(codes.InvalidArgument),
				"message": "too many header fields", "details": []any{}, "requestId": id})
			ok = false
		}
		if ok && r.Method == http.MethodOptions && r.Header.Get("Origin") != "" {
			// A preflight carries no credential: the address's limit applies.
			if allowed, after, _ := g.limiter.allow(ctx, r); !allowed {
				g.rateLimited(rec, r, after)
				ok = false
			} else if g.cors.preflight(rec, r) {
				ok = false // answered
			}
		}
		if ok && !strings.HasPrefix(r.URL.Path, "/v1/hooks/") { // hooks are verified by signature, not credentials
			r, ok = g.authenticateRequest(rec, r)
		}
		if ok {
			g.cors.actual(rec, r)
		}
		if ok && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			allowed, after, err := g.limiter.allow(ctx, r)
			if err != nil {
				g.log.WarnContext(ctx, "rate limit unavailable; request let through", "error", err.Error())
			}
			if !allowed {
				g.rateLimited(rec, r, after)
				ok = false
			}
		}
		if ok {
			next.ServeHTTP(rec, r)
		}
		g.metrics.observe(r.Method, r.URL.Path, rec.status, time.Since(start))
		g.log.LogAttrs(ctx, slog.LevelInfo, "http", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	})
}

// SetSecurityHeaders sets the headers every response carries. Together they
// grade A+ on the MDN HTTP Observatory scoring (CSP default-src 'none' +10,
// frame-ancestors +5, Referrer-Policy no-referrer +5, CORP same-origin +10).
func SetSecurityHeaders(h http.Header) {
	h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Embedder-Policy", "require-corp")
	h.Set("Cache-Control", "no-store")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush keeps streaming responses (audit export) streaming.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
