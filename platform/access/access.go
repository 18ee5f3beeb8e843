package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
)

// Infrastructure services (health, reflection) carry no Access option: any
// peer of the trust domain may call them, and they reveal no tenant data.
var infrastructure = []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}

// IsInfrastructure reports whether a full method ("/pkg.Svc/M") belongs to an
// infrastructure service.
func IsInfrastructure(fullMethod string) bool {
	svc, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return slices.Contains(infrastructure, svc)
}

// RuleOf returns a method descriptor's Access option, validated.
func RuleOf(md protoreflect.MethodDescriptor) (*optionsv1.Access, error) {
	opts := md.Options()
	if opts == nil || !proto.HasExtension(opts, optionsv1.E_Access) {
		return nil, fmt.Errorf("access: %s has no (pythorix.options.v1.access) option", md.FullName())
	}
	rule, ok := proto.GetExtension(opts, optionsv1.E_Access).(*optionsv1.Access)
	if !ok || rule == nil {
		return nil, fmt.Errorf("access: %s has an unreadable access option", md.FullName())
	}
	switch k := rule.GetKind().(type) {
	case nil:
		return nil, fmt.Errorf("access: %s sets none of permission, public, authenticated, internal", md.FullName())
	case *optionsv1.Access_Permission:
		if k.Permission == "" {
			return nil, fmt.Errorf("access: %s has an empty permission", md.FullName())
		}
	case *optionsv1.Access_Public:
		if !k.Public {
			return nil, fmt.Errorf("access: %s sets public: false", md.FullName())
		}
	case *optionsv1.Access_Authenticated:
		if !k.Authenticated {
			return nil, fmt.Errorf("access: %s sets authenticated: false", md.FullName())
		}
	case *optionsv1.Access_Internal:
		if len(k.Internal.GetCallers()) == 0 {
			return nil, fmt.Errorf("access: %s is internal with no callers", md.FullName())
		}
	}
	if rule.GetOrgField() != "" {
		if md.Input().Fields().ByName(protoreflect.Name(rule.GetOrgField())) == nil {
			return nil, fmt.Errorf("access: %s names org_field %q, which its request lacks", md.FullName(), rule.GetOrgField())
		}
	}
	return rule, nil
}

// Table maps every method of the given gRPC services to its Access rule. It
// fails when any method lacks a valid rule, so a server cannot start with an
// RPC nobody decided the access of.
func Table(services map[string]grpc.ServiceInfo) (map[string]*optionsv1.Access, error) {
	table := map[string]*optionsv1.Access{}
	var errs []error
	for name, info := range services {
		if slices.Contains(infrastructure, name) {
			continue
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("access: service %s has no registered descriptor: %w", name, err))
			continue
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			errs = append(errs, fmt.Errorf("access: %s is not a service", name))
			continue
		}
		for _, m := range info.Methods {
			md := sd.Methods().ByName(protoreflect.Name(m.Name))
			if md == nil {
				errs = append(errs, fmt.Errorf("access: %s/%s has no descriptor", name, m.Name))
				continue
			}
			rule, err := RuleOf(md)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			table["/"+name+"/"+m.Name] = rule
		}
	}
	return table, errors.Join(errs...)
}

// Call describes an authorised call as the authorization hook sees it.
type Call struct {
	FullMethod string
	Rule       *optionsv1.Access
	// Caller is the calling service's name, from its verified SPIFFE ID.
	Caller string
}

// Authorizer decides whether a call may proceed and may return a context
// enriched with the principal and organisation it established.
type Authorizer interface {
	Authorize(ctx context.Context, call Call, req any) (context.Context, error)
}
