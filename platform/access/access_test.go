package access_test

import (
	"slices"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	_ "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	_ "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
	_ "github.com/pythorix/pythorix/gen/go/pythorix/scanning/v1"
	_ "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/access"
)

var services = []string{"identity", "tenancy", "scanning", "audit", "integrations", "gateway"}

// TestEveryRPCDeclaresItsAccess walks every RPC of every Pythorix service in
// the compiled descriptors. A new RPC without an access option, with an
// ambiguous one, or internal yet reachable over REST fails here.
func TestEveryRPCDeclaresItsAccess(t *testing.T) {
	t.Parallel()
	count := 0
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "pythorix.") {
			return true
		}
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				count++
				rule, err := access.RuleOf(md)
				if err != nil {
					t.Error(err)
					continue
				}
				http := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				switch k := rule.GetKind().(type) {
				case *optionsv1.Access_Internal:
					if http != nil {
						t.Errorf("%s is internal but has a REST route", md.FullName())
					}
					for _, c := range k.Internal.GetCallers() {
						if !slices.Contains(services, c) {
							t.Errorf("%s lists unknown caller %q", md.FullName(), c)
						}
					}
				case *optionsv1.Access_Permission:
					if !rule.GetOrgScoped() {
						t.Errorf("%s needs permission %q but is not org_scoped", md.FullName(), k.Permission)
					}
				}
				if rule.GetProjectKeys() && rule.GetPermission() == "" {
					t.Errorf("%s admits project keys without a permission", md.FullName())
				}
			}
		}
		return true
	})
	if count < 50 {
		t.Fatalf("found only %d RPCs; are all service packages imported?", count)
	}
}

// TestCrossFieldRulesNameAField holds message-level validation rules to the
// convention the validation interceptor relies on: the rule id ends with the
// JSON name of a field of that message, so the 400 names a field.
func TestCrossFieldRulesNameAField(t *testing.T) {
	t.Parallel()
	n := 0
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "pythorix.") {
			return true
		}
		for i := range fd.Messages().Len() {
			md := fd.Messages().Get(i)
			rules, _ := proto.GetExtension(md.Options(), validate.E_Message).(*validate.MessageRules)
			for _, rule := range rules.GetCel() {
				n++
				id := rule.GetId()
				field := id[strings.LastIndexByte(id, '.')+1:]
				if md.Fields().ByJSONName(field) == nil {
					t.Errorf("%s: rule %q does not end with a JSON field name of the message", md.FullName(), id)
				}
			}
		}
		return true
	})
	if n == 0 {
		t.Fatal("no message-level rules found")
	}
}
