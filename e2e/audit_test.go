package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pythorix/pythorix/services/audit"
)

// auditActions lists the actions of the org's chain, every page.
func (s *Suite) auditActions(t testing.TB, token, org string) []string {
	t.Helper()
	var actions []string
	page := ""
	for {
		code, out := s.req(t, "GET", "/v1/audit/events?pageSize=100&pageToken="+page, nil, token, org)
		if code != 200 {
			t.Fatalf("list events: %d %v", code, out)
		}
		events, _ := out["events"].([]any)
		for _, e := range events {
			actions = append(actions, e.(map[string]any)["action"].(string))
		}
		next, _ := out["nextPageToken"].(string)
		if next == "" {
			return actions
		}
		page = next
	}
}

func (s *Suite) waitForActions(t testing.TB, token, org string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		actions := s.auditActions(t, token, org)
		if len(actions) >= n || time.Now().After(deadline) {
			return actions
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAuditTrailOverREST(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	s.signup(t, "owner@audit.test", goodPassword)
	owner, _ := s.login(t, "owner@audit.test", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Audited"}, owner, "")
	org := out["org"].(map[string]any)["id"].(string)
	s.req(t, "POST", "/v1/projects", map[string]any{"name": "p1"}, owner, org)
	s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "k", "scopes": []string{"audit.read"}}, owner, org)

	t.Run("privileged actions of every service reach the organisation's chain", func(t *testing.T) {
		actions := s.waitForActions(t, owner, org, 3)
		for _, want := range []string{"tenancy.org.create", "tenancy.project.create", "identity.api_key.create"} {
			if !slices.Contains(actions, want) {
				t.Errorf("%s missing from %v", want, actions)
			}
		}
	})

	t.Run("an audit outage delays events and loses none, and none is stored twice", func(t *testing.T) {
		before := len(s.waitForActions(t, owner, org, 3))
		const burst = 40
		done := make(chan struct{})
		started := make(chan struct{}, burst)
		go func() {
			defer close(done)
			for i := range burst {
				if code, out := s.req(t, "POST", "/v1/projects", map[string]any{"name": fmt.Sprintf("burst-%d", i)}, owner, org); code != 200 {
					t.Errorf("project %d: %d %v", i, code, out)
				}
				started <- struct{}{}
			}
		}()
		for range 5 {
			<-started
		}
		s.stop["audit"]() // killed mid-burst: in-flight relay batches fail and stay in the outboxes
		<-done
		s.restart["audit"](t)
		actions := s.waitForActions(t, owner, org, before+burst)
		time.Sleep(time.Second) // any redelivery would land by now
		actions = s.auditActions(t, owner, org)
		if len(actions) != before+burst {
			t.Fatalf("%d events after the outage, want exactly %d", len(actions), before+burst)
		}
		code, v := s.req(t, "GET", "/v1/audit/verify", nil, owner, org)
		if code != 200 || v["ok"] != true || v["verifiedCount"] != fmt.Sprint(before+burst) {
			t.Fatalf("verify: %d %v", code, v)
		}
	})

	t.Run("the export verifies offline and ends at the reported head", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.URL+"/v1/audit/export", nil)
		req.Header.Set("Authorization", "Bearer "+owner)
		req.Header.Set("X-Org-Id", org)
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("export: %d %s", resp.StatusCode, body)
		}
		res, err := audit.VerifyExport(bytes.NewReader(body))
		if err != nil || res.BrokenSeq != 0 || res.Count < 28 {
			t.Fatalf("offline verification: %+v %v", res, err)
		}
		_, v := s.req(t, "GET", "/v1/audit/verify", nil, owner, org)
		if v["headHash"] != res.Head {
			t.Fatalf("export head %s, service head %v", res.Head, v["headHash"])
		}
		// The signed checkpoint and its public key prove the whole export.
		code, cp := s.req(t, "GET", "/v1/audit/checkpoint", nil, owner, org)
		if code != 200 || cp["verifierKey"] != s.AuditVerifier {
			t.Fatalf("checkpoint: %d %v", code, cp)
		}
		if res, err := audit.VerifyExportAgainst(body, []byte(cp["note"].(string)), cp["verifierKey"].(string)); err != nil {
			t.Fatalf("export against checkpoint: %+v %v", res, err)
		}
		code, proof := s.req(t, "GET", "/v1/audit/events/2/proof", nil, owner, org)
		if code != 200 || proof["rootHash"] != cp["rootHash"] || len(proof["hashes"].([]any)) == 0 {
			t.Fatalf("inclusion proof: %d %v (checkpoint root %v)", code, proof, cp["rootHash"])
		}
		if code, out := s.req(t, "GET", "/v1/audit/events?startTime=2026-02-01T00:00:00Z&endTime=2026-01-01T00:00:00Z", nil, owner, org); code != 400 || !slices.Contains(fieldNamed(out), "endTime") {
			t.Fatalf("inverted time range: %d %v", code, out)
		}
		if code, out := s.req(t, "GET", "/v1/audit/verify?fromSeq=100000", nil, owner, org); code != 400 || !strings.Contains(toJSON(out), "fromSeq") {
			t.Fatalf("verify from beyond the head: %d %v", code, out)
		}
		if code, _ := s.req(t, "GET", "/v1/audit/events/100000/proof", nil, owner, org); code != 404 {
			t.Fatalf("proof beyond the head: %d", code)
		}
		// A single changed byte is caught offline.
		tampered := bytes.Replace(body, []byte("burst-3"), []byte("burst-X"), 1)
		if bytes.Equal(tampered, body) {
			t.Fatal("the export holds no burst-3 event to tamper with")
		}
		if res, _ := audit.VerifyExport(bytes.NewReader(tampered)); res.BrokenSeq == 0 {
			t.Fatal("a tampered export verified")
		}
	})

	t.Run("only roles with audit permissions read the log; other orgs see nothing", func(t *testing.T) {
		s.signup(t, "viewer@audit.test", goodPassword)
		_, inv := s.req(t, "POST", "/v1/invitations", map[string]any{"email": "viewer@audit.test", "role": "ROLE_VIEWER"}, owner, org)
		viewer, _ := s.login(t, "viewer@audit.test", goodPassword)
		s.req(t, "POST", "/v1/invitations:accept", map[string]any{"token": inv["token"]}, viewer, "")
		if code, _ := s.req(t, "GET", "/v1/audit/events", nil, viewer, org); code != 403 {
			t.Fatalf("viewer read the audit log: %d", code)
		}
		s.signup(t, "other@audit.test", goodPassword)
		other, _ := s.login(t, "other@audit.test", goodPassword)
		if code, _ := s.req(t, "GET", "/v1/audit/export", nil, other, org); code != 404 {
			t.Fatalf("outsider exported: %d", code)
		}
	})
}
