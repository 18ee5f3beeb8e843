package e2e_test

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/access"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/authz"
	"github.com/pythorix/pythorix/platform/server/servertest"
	"time"
)

// publishedMatrix reads the role/permission table of the README: the
// specification the implementation is checked against.
func publishedMatrix(t *testing.T) (map[string]map[string]bool, []string) {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var roleNames []string
	matrix := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "| permission | ") {
			for _, c := range strings.Split(strings.Trim(line, "| "), "|")[1:] {
				roleNames = append(roleNames, strings.ToLower(strings.TrimSpace(c)))
			}
			continue
		}
		if roleNames == nil {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break // end of the matrix table
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		perm := strings.Trim(strings.TrimSpace(cells[0]), "`")
		for i, r := range roleNames {
			if matrix[r] == nil {
				matrix[r] = map[string]bool{}
			}
			matrix[r][perm] = strings.TrimSpace(cells[i+1]) == "yes"
		}
	}
	if len(roleNames) != 5 || len(matrix["owner"]) < 20 {
		t.Fatalf("README matrix not found or incomplete: roles %v", roleNames)
	}
	return matrix, roleNames
}

// TestAuthorizationMatrix walks every RPC of every service, from the
// descriptors, and asks the real authorizer (real principals from identity,
// real memberships from tenancy) what each kind of caller gets: each role in
// its own organisation and in a foreign one, nobody, and API keys of each
// scope (org-wide and project-bound).
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	matrix, roleNames := publishedMatrix(t)
	s := StartSuite(t)

	// Organisation A with one member of each role; organisation B owned by an outsider.
	s.signup(t, "owner@a.test", goodPassword)
	ownerTok, _ := s.login(t, "owner@a.test", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "A"}, ownerTok, "")
	orgA := out["org"].(map[string]any)["id"].(string)
	tokens := map[string]string{"owner": ownerTok}
	for _, r := range roleNames[1:] {
		email := r + "@a.test"
		s.signup(t, email, goodPassword)
		_, inv := s.req(t, "POST", "/v1/invitations", map[string]any{"email": email, "role": "ROLE_" + strings.ToUpper(r)}, ownerTok, orgA)
		tok, _ := s.login(t, email, goodPassword)
		if code, out := s.req(t, "POST", "/v1/invitations:accept", map[string]any{"token": inv["token"]}, tok, ""); code != 200 {
			t.Fatalf("%s accepts: %d %v", r, code, out)
		}
		tokens[r] = tok
	}
	s.signup(t, "outsider@b.test", goodPassword)
	outsiderTok, _ := s.login(t, "outsider@b.test", goodPassword)
	_, out = s.req(t, "POST", "/v1/orgs", map[string]any{"name": "B"}, outsiderTok, "")
	orgB := out["org"].(map[string]any)["id"].(string)

	// One API key per permission, each with that single scope, and a project key.
	keys := map[string]string{}
	for perm := range matrix["owner"] {
		code, out := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": perm, "scopes": []string{perm}}, ownerTok, orgA)
		if code != 200 {
			t.Fatalf("key for %s: %d %v", perm, code, out)
		}
		keys[perm] = out["key"].(string)
	}
	_, proj := s.req(t, "POST", "/v1/projects", map[string]any{"name": "p"}, ownerTok, orgA)
	_, pk := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "pk", "scopes": []string{"assets.read", "members.read"},
		"projectId": proj["project"].(map[string]any)["id"]}, ownerTok, orgA)
	projectKey := pk["key"].(string)
	// A key can never carry more than its creator's role.
	if code, _ := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "x", "scopes": []string{"members.write"}}, tokens["developer"], orgA); code != 400 {
		t.Fatalf("developer minted a members.write key: %d", code)
	}

	ctx := context.Background()
	principal := func(cred string) *identityv1.Principal {
		p, err := s.Gateway.Authenticate(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	conn := servertest.Dial(t, s.PKI, "gateway", "tenancy", s.gatewayEnv["PYTHORIX_TENANCY_ADDR"])
	authorizer := authn.Authorizer{Memberships: authz.NewChecker(authz.TenancyResolver{Client: tenancyv1.NewTenancyServiceClient(conn)}, time.Minute)}

	decide := func(rule *optionsv1.Access, md protoreflect.MethodDescriptor, p *identityv1.Principal, org string) codes.Code {
		mdata := metadata.MD{}
		if p != nil {
			b, _ := proto.Marshal(p)
			mdata.Set(authn.PrincipalKey, string(b))
		}
		if org != "" {
			mdata.Set("x-org-id", org)
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		if err != nil {
			t.Fatal(err)
		}
		req := mt.New()
		if f := rule.GetOrgField(); f != "" && org != "" {
			req.Set(req.Descriptor().Fields().ByName(protoreflect.Name(f)), protoreflect.ValueOfString(org))
		}
		_, err = authorizer.Authorize(metadata.NewIncomingContext(ctx, mdata), access.Call{FullMethod: "/" + string(md.Parent().FullName()) + "/" + string(md.Name()), Rule: rule}, req.Interface())
		return status.Code(err)
	}

	users := map[string]*identityv1.Principal{}
	for r, tok := range tokens {
		users[r] = principal(tok)
	}
	outsider := principal(outsiderTok)
	keyPrincipals := map[string]*identityv1.Principal{}
	for perm, k := range keys {
		keyPrincipals[perm] = principal(k)
	}
	projectPrincipal := principal(projectKey)

	cases, rpcs := 0, 0
	check := func(rpc, who string, got, want codes.Code) {
		cases++
		if got != want {
			t.Errorf("%s as %s: %v, want %v", rpc, who, got, want)
		}
	}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "pythorix.") {
			return true
		}
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				rpc := string(sd.Name()) + "." + string(md.Name())
				rule, err := access.RuleOf(md)
				if err != nil {
					t.Errorf("%s: %v", rpc, err) // a new RPC without an access option fails here
					continue
				}
				rpcs++
				switch k := rule.GetKind().(type) {
				case *optionsv1.Access_Public:
					check(rpc, "nobody", decide(rule, md, nil, ""), codes.OK)
				case *optionsv1.Access_Internal:
					// Reachable only by the listed peers (the peer-authentication
					// test covers that); the contract test proves it has no REST route.
				case *optionsv1.Access_Authenticated:
					check(rpc, "nobody", decide(rule, md, nil, ""), codes.Unauthenticated)
					check(rpc, "viewer", decide(rule, md, users["viewer"], ""), codes.OK)
					check(rpc, "an API key", decide(rule, md, keyPrincipals["orgs.read"], ""), codes.Unauthenticated)
				case *optionsv1.Access_Permission:
					perm := k.Permission
					check(rpc, "nobody", decide(rule, md, nil, orgA), codes.Unauthenticated)
					check(rpc, "outsider in A", decide(rule, md, outsider, orgA), codes.NotFound)
					for _, r := range roleNames {
						want := codes.PermissionDenied
						if matrix[r][perm] {
							want = codes.OK
						}
						check(rpc, r+" in own org", decide(rule, md, users[r], orgA), want)
						check(rpc, r+" in a foreign org", decide(rule, md, users[r], orgB), codes.NotFound)
					}
					if rule.GetOrgField() == "" {
						check(rpc, "owner without X-Org-Id", decide(rule, md, users["owner"], ""), codes.InvalidArgument)
					}
					for kp, p := range keyPrincipals {
						want := codes.PermissionDenied
						if kp == perm {
							want = codes.OK
						}
						check(rpc, "key scoped "+kp, decide(rule, md, p, orgA), want)
					}
					check(rpc, "key in a foreign org", decide(rule, md, keyPrincipals[perm], orgB), codes.NotFound)
					wantProject := codes.PermissionDenied
					if rule.GetProjectKeys() && (perm == "assets.read" || perm == "members.read") {
						wantProject = codes.OK
					}
					check(rpc, "project key", decide(rule, md, projectPrincipal, orgA), wantProject)
				}
			}
		}
		return true
	})
	if rpcs < 60 || cases < 1000 {
		t.Fatalf("only %d RPCs and %d cases checked", rpcs, cases)
	}
	t.Logf("%d RPCs, %d authorization cases", rpcs, cases)
}
