package audit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/postgres"
)

// testStore returns the store (running as the service's restricted role) and
// a superuser connection to the same database, for tampering.
func testStore(t testing.TB) (*Store, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.ServiceDatabase(t, Migrations())
	pool, err := postgres.Open(ctx, url, 8, postgres.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	return NewStore(pool), admin
}

func input(org string, i int) *auditv1.EventInput {
	details, _ := structpb.NewStruct(map[string]any{"n": i, "password": "hunter2", "nested": map[string]any{"apiKey": "pyx_x"}})
	return &auditv1.EventInput{Id: uuid.NewString(), OrgId: org, Time: timestamppb.Now(),
		Actor:  &auditv1.Actor{Type: auditv1.ActorType_ACTOR_TYPE_USER, Id: "user-1"},
		Action: fmt.Sprintf("test.action.%d", i), ResourceType: "thing", ResourceId: fmt.Sprint(i),
		Outcome: auditv1.Outcome_OUTCOME_SUCCESS, SourceIp: "203.0.113.7", UserAgent: "test", RequestId: "req", Details: details}
}

func appendN(t testing.TB, s *Store, org string, n int) []*auditv1.EventInput {
	t.Helper()
	var in []*auditv1.EventInput
	for i := range n {
		in = append(in, input(org, i+1))
	}
	if got, dup, err := s.Append(context.Background(), in); err != nil || got != n || dup != 0 {
		t.Fatalf("append: %d appended, %d duplicates, %v", got, dup, err)
	}
	return in
}

func TestAppendVerifyAndRedaction(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	org := uuid.NewString()
	in := appendN(t, s, org, 10)
	appendN(t, s, "", 3) // the platform chain

	v, err := s.Verify(ctx, org, ChainOf(org), 0, 0)
	if err != nil || !v.OK || v.Count != 10 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if v, _ := s.Verify(ctx, postgres.AllOrgs, PlatformChain, 0, 0); !v.OK || v.Count != 3 {
		t.Fatalf("platform chain: %+v", v)
	}
	if v, _ := s.Verify(ctx, org, ChainOf(org), 4, 7); !v.OK || v.Count != 4 {
		t.Fatalf("range 4..7: %+v", v)
	}
	events, err := s.List(ctx, org, Filter{Chain: ChainOf(org), Limit: 100})
	if err != nil || len(events) != 10 {
		t.Fatalf("list: %d %v", len(events), err)
	}
	if strings.Contains(events[0].Details, "hunter2") || strings.Contains(events[0].Details, "pyx_x") {
		t.Fatalf("secrets stored in details: %s", events[0].Details)
	}
	// Another organisation sees nothing of this chain.
	if other, _ := s.List(ctx, uuid.NewString(), Filter{Chain: ChainOf(org), Limit: 100}); len(other) != 0 {
		t.Fatalf("foreign organisation listed %d events", len(other))
	}
	// Delivering the same events again stores nothing new.
	if got, dup, err := s.Append(ctx, in); err != nil || got != 0 || dup != 10 {
		t.Fatalf("redelivery: %d appended, %d duplicates, %v", got, dup, err)
	}
	if v, _ := s.Verify(ctx, org, ChainOf(org), 0, 0); v.Count != 10 {
		t.Fatalf("redelivery changed the chain: %+v", v)
	}
}

func TestTheServiceRoleCannotRewriteHistory(t *testing.T) {
	t.Parallel()
	s, admin := testStore(t)
	ctx := context.Background()
	org := uuid.NewString()
	appendN(t, s, org, 3)
	for _, q := range []string{`UPDATE events SET action = 'x'`, `DELETE FROM events`, `TRUNCATE events`} {
		err := postgres.InOrg(ctx, s.db, postgres.AllOrgs, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, q); return err })
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("service role: %s: %v", q, err)
		}
	}
	// Even the owner is stopped by the trigger.
	for _, q := range []string{`UPDATE events SET action = 'x'`, `DELETE FROM events`, `TRUNCATE events`} {
		if _, err := admin.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("owner: %s: %v", q, err)
		}
	}
}

// TestTamperingIsDetected tampers as the database superuser, with triggers
// switched off, and checks that verification names the first bad entry.
func TestTamperingIsDetected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper []string
		seq    int64
		reason string
	}{
		{"a field is changed", []string{`UPDATE events SET action = 'innocent' WHERE seq = 4`}, 4, "content"},
		{"the time is changed", []string{`UPDATE events SET time = time - interval '1 day' WHERE seq = 2`}, 2, "content"},
		{"an entry is deleted", []string{`DELETE FROM events WHERE seq = 5`}, 5, "missing"},
		{"the last entry is deleted", []string{`DELETE FROM events WHERE seq = 8`}, 8, "missing"},
		{"two entries are swapped", []string{
			`UPDATE events SET seq = 100 WHERE seq = 3`, `UPDATE events SET seq = 3 WHERE seq = 6`, `UPDATE events SET seq = 6 WHERE seq = 100`}, 3, "prev_hash"},
		{"a forged entry is appended", []string{`INSERT INTO events (chain, seq, id, org_id, time, actor_type, actor_id, action, resource_type, resource_id,
			outcome, source_ip, user_agent, request_id, trace_id, details, prev_hash, hash)
			SELECT chain, 9, gen_random_uuid(), org_id, time, actor_type, actor_id, 'forged', resource_type, resource_id,
			outcome, source_ip, user_agent, request_id, trace_id, details, hash, sha256(hash) FROM events WHERE seq = 8`}, 9, "beyond"},
		{"an entry is rewritten with a recomputed-looking hash", []string{`UPDATE events SET hash = sha256(hash) WHERE seq = 8`}, 8, "content"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, admin := testStore(t)
			ctx := context.Background()
			org := uuid.NewString()
			appendN(t, s, org, 8)
			if _, err := admin.Exec(ctx, `SET session_replication_role = replica`); err != nil {
				t.Fatal(err)
			}
			for _, q := range tc.tamper {
				if _, err := admin.Exec(ctx, q); err != nil {
					t.Fatalf("tamper %q: %v", q, err)
				}
			}
			v, err := s.Verify(ctx, org, ChainOf(org), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.BrokenSeq != tc.seq || !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("verify = %+v, want broken at %d (%s)", v, tc.seq, tc.reason)
			}
		})
	}
}

func TestChainsAppendInParallel(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	orgs := make([]string, 8)
	for i := range orgs {
		orgs[i] = uuid.NewString()
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 10 {
				batch := []*auditv1.EventInput{input(orgs[(w+i)%len(orgs)], i), input(orgs[(w+i+1)%len(orgs)], i)}
				if _, _, err := s.Append(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var total int64
	for _, org := range orgs {
		v, err := s.Verify(ctx, org, ChainOf(org), 0, 0)
		if err != nil || !v.OK {
			t.Fatalf("chain %s: %+v %v", org, v, err)
		}
		total += v.Count
	}
	if total != 16*10*2 {
		t.Fatalf("%d events in all chains, want %d", total, 16*10*2)
	}
}
