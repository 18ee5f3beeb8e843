package authn

import (
	"context"
	"encoding/base64"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
	"github.com/pythorix/pythorix/platform/access"
)

// Metadata keys the gateway sets. Services read them only on calls whose
// peer may assert a principal (peer authentication guarantees that), and the
// gateway never forwards a client's own headers under these names.
const (
	PrincipalKey = "x-pythorix-principal-bin"
	ClientIPKey  = "x-pythorix-client-ip"
	UserAgentKey = "x-pythorix-user-agent"
)

type principalKey struct{}

type orgKey struct{}

// WithOrg stores the authorised active organisation in the context.
func WithOrg(ctx context.Context, orgID string) context.Context {
	return context.WithValue(ctx, orgKey{}, orgID)
}

// OrgFrom returns the organisation the call was authorised in, or "". Handlers
// take the org from here, never from the request body.
func OrgFrom(ctx context.Context) string {
	o, _ := ctx.Value(orgKey{}).(string)
	return o
}

// WithPrincipal stores the authenticated principal in the context.
func WithPrincipal(ctx context.Context, p *identityv1.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the call's principal, or nil.
func PrincipalFrom(ctx context.Context) *identityv1.Principal {
	p, _ := ctx.Value(principalKey{}).(*identityv1.Principal)
	return p
}

// OutgoingPrincipal encodes a principal for metadata (the gateway's side).
func OutgoingPrincipal(p *identityv1.Principal) (string, error) {
	b, err := proto.Marshal(p)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// incomingPrincipal decodes the principal metadata, if any.
func incomingPrincipal(ctx context.Context) (*identityv1.Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(PrincipalKey)
	if len(vals) == 0 {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, fmt.Errorf("authn: %d principals in metadata", len(vals))
	}
	raw := []byte(vals[0])
	p := &identityv1.Principal{}
	if err := proto.Unmarshal(raw, p); err != nil {
		// Some transports hand -bin values still encoded.
		if dec, derr := base64.RawStdEncoding.DecodeString(vals[0]); derr == nil && proto.Unmarshal(dec, p) == nil {
			return p, nil
		}
		return nil, fmt.Errorf("authn: principal metadata: %w", err)
	}
	return p, nil
}

// Client returns the end client's IP and user agent as the gateway saw them.
func Client(ctx context.Context) (ip, userAgent string) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(ClientIPKey); len(v) > 0 {
		ip = v[0]
	}
	if v := md.Get(UserAgentKey); len(v) > 0 {
		userAgent = v[0]
	}
	return ip, userAgent
}

// MembershipChecker answers whether a principal holds a permission in an
// organisation. The tenancy work provides it; without one, permission RPCs
// are refused.
type MembershipChecker interface {
	Check(ctx context.Context, p *identityv1.Principal, orgID string, rule *optionsv1.Access) error
}

// Authorizer admits public and internal RPCs, requires a signed-in user for
// authenticated RPCs, and a permission in the active organisation for the
// rest. It fails closed.
type Authorizer struct {
	Memberships MembershipChecker
}

var _ access.Authorizer = Authorizer{}

// Authorize implements access.Authorizer.
func (a Authorizer) Authorize(ctx context.Context, call access.Call, req any) (context.Context, error) {
	if _, ok := call.Rule.GetKind().(*optionsv1.Access_Internal); ok {
		return ctx, nil
	}
	p, err := incomingPrincipal(ctx)
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, "invalid principal")
	}
	if p != nil {
		ctx = WithPrincipal(ctx, p)
	}
	switch k := call.Rule.GetKind().(type) {
	case *optionsv1.Access_Public:
		return ctx, nil
	case *optionsv1.Access_Authenticated:
		if p == nil || p.GetKind() != identityv1.Principal_KIND_USER || p.GetUserId() == "" {
			return ctx, status.Error(codes.Unauthenticated, "authentication required")
		}
		return ctx, nil
	case *optionsv1.Access_Permission:
		if p == nil {
			return ctx, status.Error(codes.Unauthenticated, "authentication required")
		}
		if a.Memberships == nil || k.Permission == "" {
			return ctx, status.Error(codes.PermissionDenied, "permission denied")
		}
		org := orgFromMetadata(ctx)
		if f := call.Rule.GetOrgField(); f != "" {
			org = stringField(req, f)
		}
		if err := a.Memberships.Check(ctx, p, org, call.Rule); err != nil {
			return ctx, err
		}
		return WithOrg(ctx, org), nil
	default:
		return ctx, status.Error(codes.PermissionDenied, "permission denied")
	}
}

// stringField reads a request's string field by name (the org_field option).
func stringField(req any, name string) string {
	m, ok := req.(proto.Message)
	if !ok {
		return ""
	}
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || fd.Kind() != protoreflect.StringKind {
		return ""
	}
	return m.ProtoReflect().Get(fd).String()
}

func orgFromMetadata(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-org-id"); len(v) == 1 {
		return v[0]
	}
	return ""
}
