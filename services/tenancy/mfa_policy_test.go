package tenancy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	optionsv1 "github.com/pythorix/pythorix/gen/go/pythorix/options/v1"
	"github.com/pythorix/pythorix/platform/authz"
	"github.com/pythorix/pythorix/platform/outbox/outboxtest"
	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/redisconn"
	"github.com/pythorix/pythorix/platform/server/servertest"
)

// testTenancy is the tenancy domain on a fresh database and a private Redis namespace.
func testTenancy(t *testing.T) *Tenancy {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.ServiceDatabase(t, Migrations()), 4, postgres.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rdb, err := redisconn.Open(ctx, pgtest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return &Tenancy{db: pool, rdb: rdb, namespace: servertest.Namespace(t), log: slog.New(slog.NewJSONHandler(io.Discard, nil)), now: time.Now}
}

func addMember(t *testing.T, tn *Tenancy, orgID, userID, role string) {
	t.Helper()
	if err := postgres.InOrg(context.Background(), tn.db, orgID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3)`, orgID, userID, role)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRequireMFAPolicy: an organisation's require_mfa is enforced where every
// service resolves memberships (authz.Checker over tenancy's answer), for
// every role and platform admins too, but not for API keys; turning it on
// needs a session with a second factor; a change is audited and announced
// for the whole organisation, so cached memberships are dropped at once.
func TestRequireMFAPolicy(t *testing.T) {
	t.Parallel()
	tn := testTenancy(t)
	ctx := context.Background()
	owner, dev, admin, stranger := newID(), newID(), newID(), newID()
	org, err := tn.CreateOrg(ctx, owner, "Strict")
	if err != nil {
		t.Fatal(err)
	}
	other, err := tn.CreateOrg(ctx, owner, "Relaxed")
	if err != nil {
		t.Fatal(err)
	}
	addMember(t, tn, org.ID, dev, "developer")
	addMember(t, tn, other.ID, dev, "developer")
	if org.RequireMFA {
		t.Fatal("a new organisation requires MFA by default")
	}

	// A cache that lives an hour: only an announced change can refresh it.
	checker := authz.NewChecker(tn, time.Hour)
	read := &optionsv1.Access{Kind: &optionsv1.Access_Permission{Permission: "assets.read"}, OrgScoped: true}
	user := func(id string, mfa, globalAdmin bool) *identityv1.Principal {
		return &identityv1.Principal{Kind: identityv1.Principal_KIND_USER, UserId: id, SessionId: newID(), Mfa: mfa, GlobalAdmin: globalAdmin}
	}
	key := &identityv1.Principal{Kind: identityv1.Principal_KIND_API_KEY, UserId: dev, ApiKeyId: newID(), OrgId: org.ID, Scopes: []string{"assets.read"}}
	type call struct {
		name  string
		p     *identityv1.Principal
		org   string
		off   codes.Code // policy off
		on    codes.Code // policy on
		isMFA bool       // the refusal is the policy's
	}
	calls := []call{
		{"developer without MFA", user(dev, false, false), org.ID, codes.OK, codes.PermissionDenied, true},
		{"developer with MFA", user(dev, true, false), org.ID, codes.OK, codes.OK, false},
		{"owner without MFA", user(owner, false, false), org.ID, codes.OK, codes.PermissionDenied, true},
		{"platform admin without MFA", user(admin, false, true), org.ID, codes.OK, codes.PermissionDenied, true},
		{"platform admin with MFA", user(admin, true, true), org.ID, codes.OK, codes.OK, false},
		{"a stranger (existence not revealed)", user(stranger, false, false), org.ID, codes.NotFound, codes.NotFound, false},
		{"the organisation's API key", key, org.ID, codes.OK, codes.OK, false},
		{"developer without MFA, in another organisation", user(dev, false, false), other.ID, codes.OK, codes.OK, false},
	}
	check := func(t *testing.T, on bool) {
		t.Helper()
		for _, c := range calls {
			want := c.off
			if on {
				want = c.on
			}
			err := checker.Check(ctx, c.p, c.org, read)
			if status.Code(err) != want {
				t.Errorf("policy on=%v, %s: %v, want %v", on, c.name, err, want)
				continue
			}
			if want == codes.PermissionDenied && c.isMFA {
				info := errorInfo(err)
				if info.GetReason() != authz.MFARequiredReason {
					t.Errorf("%s: refusal %v carries no %s reason", c.name, err, authz.MFARequiredReason)
				}
			}
		}
	}
	check(t, false)

	// Announcements of the policy are heard as every service hears them.
	sub := tn.rdb.Subscribe(ctx, authz.Channel(tn.namespace))
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	announced := func(t *testing.T) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		msg, err := sub.ReceiveMessage(rctx)
		if err != nil || msg.Payload != org.ID+":*" {
			t.Fatalf("announcement: %v %v, want %s:*", msg, err, org.ID)
		}
		checker.Forget(org.ID, "") // what Watch does with it
	}

	on, off := true, false
	t.Run("turning it on needs a second factor", func(t *testing.T) {
		_, err := tn.UpdateOrg(ctx, Actor{UserID: owner}, org.ID, OrgChange{RequireMFA: &on})
		if !errors.Is(err, ErrMFAFirst) {
			t.Fatalf("err = %v, want ErrMFAFirst", err)
		}
		if o, _ := tn.GetOrg(ctx, org.ID); o.RequireMFA {
			t.Fatal("the policy was turned on anyway")
		}
		// Turning it off (it is off) needs nothing, and changes nothing.
		if _, err := tn.UpdateOrg(ctx, Actor{UserID: owner}, org.ID, OrgChange{RequireMFA: &off}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("on", func(t *testing.T) {
		o, err := tn.UpdateOrg(ctx, Actor{UserID: owner, MFA: true}, org.ID, OrgChange{RequireMFA: &on})
		if err != nil || !o.RequireMFA {
			t.Fatalf("%+v, %v", o, err)
		}
		// Until the announcement is applied, the cache answers as before: the
		// eviction, not the cache's lifetime, makes the change take effect.
		if err := checker.Check(ctx, user(dev, false, false), org.ID, read); err != nil {
			t.Fatalf("cached answer: %v", err)
		}
		announced(t)
		check(t, true)
		orgs, _, err := tn.ListOrgs(ctx, dev, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orgs {
			if o.RequireMFA != (o.ID == org.ID) {
				t.Errorf("ListOrgs: %s require_mfa = %v", o.Name, o.RequireMFA)
			}
		}
	})
	t.Run("renaming keeps it", func(t *testing.T) {
		name := "Strict Ltd"
		o, err := tn.UpdateOrg(ctx, Actor{UserID: owner}, org.ID, OrgChange{Name: &name})
		if err != nil || !o.RequireMFA || o.Name != name {
			t.Fatalf("%+v, %v", o, err)
		}
	})
	t.Run("off", func(t *testing.T) {
		// Only a caller who passed the policy reaches UpdateOrg; turning it off needs no more.
		o, err := tn.UpdateOrg(ctx, Actor{UserID: owner, MFA: true}, org.ID, OrgChange{RequireMFA: &off})
		if err != nil || o.RequireMFA {
			t.Fatalf("%+v, %v", o, err)
		}
		announced(t)
		check(t, false)
	})

	var changes []map[string]any
	for _, ev := range outboxEvents(t, tn) {
		if ev.GetAction() == "tenancy.org.require_mfa" {
			if ev.GetOrgId() != org.ID || ev.GetActor().GetId() != owner {
				t.Errorf("event %v", ev)
			}
			changes = append(changes, ev.GetDetails().AsMap())
		}
	}
	if len(changes) != 2 || changes[0]["require_mfa"] != true || changes[1]["require_mfa"] != false {
		t.Fatalf("audited policy changes: %v, want on then off", changes)
	}
}

func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

func outboxEvents(t *testing.T, tn *Tenancy) []*auditv1.EventInput {
	t.Helper()
	return outboxtest.Events(t, tn.db)
}
