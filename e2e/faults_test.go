//go:build faults

package e2e_test

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/pki"
)

// faultLoad is a mixed workload through the gateway: project and asset
// writes (each acknowledged write remembered), reads of the organisation,
// and integration changes.
type faultLoad struct {
	s          *Suite
	token, org string

	mu       sync.Mutex
	codes    map[int]int
	projects []acked
	assets   []acked
	slowest  time.Duration
	requests atomic.Int64
}

// acked is a write the API acknowledged: it must survive every fault.
type acked struct{ org, id string }

func (l *faultLoad) do(t testing.TB, org, method, path string, body any) (int, map[string]any) {
	start := time.Now()
	code, out := l.s.req(t, method, path, body, l.token, org)
	took := time.Since(start)
	l.requests.Add(1)
	l.mu.Lock()
	l.codes[code]++
	l.slowest = max(l.slowest, took)
	l.mu.Unlock()
	return code, out
}

// run is one worker, in an organisation of its own (so that the
// per-organisation caps on projects and assets leave room for the run).
func (l *faultLoad) run(t testing.TB, worker int, org string, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		if i%3 == 0 {
			if code, out := l.do(t, org, "POST", "/v1/projects", map[string]any{"name": fmt.Sprintf("w%d-%d", worker, i)}); code == 200 {
				l.mu.Lock()
				l.projects = append(l.projects, acked{org, out["project"].(map[string]any)["id"].(string)})
				l.mu.Unlock()
			}
		}
		l.do(t, org, "GET", "/v1/orgs/"+org, nil)
		if code, out := l.do(t, org, "POST", "/v1/assets", map[string]any{"host": fmt.Sprintf("w%d-%d.fault.example", worker, i),
			"kind": "ASSET_KIND_WEB_APP", "environment": "ENVIRONMENT_STAGING"}); code == 200 {
			l.mu.Lock()
			l.assets = append(l.assets, acked{org, out["asset"].(map[string]any)["id"].(string)})
			l.mu.Unlock()
		}
		if i%10 == 0 {
			l.do(t, org, "POST", "/v1/integrations", map[string]any{"name": fmt.Sprintf("w%d-%d", worker, i), "kind": "INTEGRATION_KIND_WEBHOOK",
				"webhook": map[string]any{"url": "https://example.com/hook"}})
		}
	}
}

// healthy reports whether a read and a write both go through.
func (l *faultLoad) healthy(t testing.TB) bool {
	code, _ := l.s.req(t, "GET", "/v1/orgs/"+l.org, nil, l.token, l.org)
	if code != 200 {
		return false
	}
	code, _ = l.s.req(t, "PATCH", "/v1/orgs/"+l.org, map[string]any{"name": "Faults " + newUUID(t)[:8]}, l.token, l.org)
	return code == 200
}

// TestFaults drives a mixed workload through the gateway while PostgreSQL
// goes away, each service is killed and restarted, Redis goes away and
// certificates rotate. Afterwards no acknowledged write is lost, every audit
// event is in its chain exactly once, every chain verifies, no request
// outlived its deadline, and the suite is healthy with no manual step.
// Run it with `make faults`.
func TestFaults(t *testing.T) {
	const deadline = 5 * time.Second
	redis := startRedisProxy(t)
	db := startProxy(t, pgtest.AdminURL(t))
	s := StartSuite(t, SuiteOptions{RedisURL: redis.url(t), Database: db.via, Integrations: fastRetry,
		GatewayEnv: map[string]string{"PYTHORIX_REQUEST_TIMEOUT": deadline.String()}})
	s.signup(t, "faults@example.com", goodPassword)
	tok, _ := s.login(t, "faults@example.com", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Faults"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)
	l := &faultLoad{s: s, token: tok, org: org, codes: map[int]int{}}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var orgs []string
	for w := range 4 {
		_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": fmt.Sprintf("Worker %d", w)}, tok, "")
		wo := out["org"].(map[string]any)["id"].(string)
		orgs = append(orgs, wo)
		wg.Add(1)
		go func() { defer wg.Done(); l.run(t, w, wo, stop) }()
	}
	recovery := map[string]time.Duration{}
	var order []string
	fault := func(name string, inject, heal func()) {
		time.Sleep(time.Second)
		inject()
		time.Sleep(3 * time.Second)
		heal()
		healed := time.Now()
		for !l.healthy(t) {
			if time.Since(healed) > time.Minute {
				code, out := l.s.req(t, "GET", "/v1/orgs/"+l.org, nil, l.token, l.org)
				t.Fatalf("%s: not healthy a minute after it ended: %d %v", name, code, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		recovery[name] = time.Since(healed)
		order = append(order, name)
	}
	fault("postgres away", db.cut, db.restore)
	for _, svc := range []string{"identity", "tenancy", "scanning", "audit", "integrations"} {
		fault("restart "+svc, s.stop[svc], func() { s.restart[svc](t) })
	}
	fault("redis away", redis.cut, redis.restore)
	fault("certificates rotated", func() { rotateCertificates(t, s.PKI) }, func() {})
	close(stop)
	wg.Wait()

	// No acknowledged write is lost.
	for _, a := range l.projects {
		if code, _ := s.req(t, "GET", "/v1/projects/"+a.id, nil, tok, a.org); code != 200 {
			t.Errorf("acknowledged project %s: %d", a.id, code)
		}
	}
	for _, a := range l.assets {
		if code, _ := s.req(t, "GET", "/v1/assets/"+a.id, nil, tok, a.org); code != 200 {
			t.Errorf("acknowledged asset %s: %d", a.id, code)
		}
	}
	// Every acknowledged write's audit event is in the chain exactly once,
	// and the chain verifies.
	events := map[string]int{}
	waitFor(t, "every audit event", time.Minute, func() bool {
		clear(events)
		for _, o := range orgs {
			for _, e := range s.auditEvents(t, tok, o) {
				if e["action"] == "tenancy.project.create" {
					events[fmt.Sprint(e["resourceId"])]++
				}
			}
		}
		return len(events) >= len(l.projects)
	})
	for _, a := range l.projects {
		if events[a.id] != 1 {
			t.Errorf("project %s has %d audit events, want 1", a.id, events[a.id])
		}
	}
	for _, o := range append(orgs, org) {
		if code, v := s.req(t, "GET", "/v1/audit/verify", nil, tok, o); code != 200 || v["ok"] != true {
			t.Errorf("audit chain of %s: %d %v", o, code, v)
		}
	}
	if l.slowest > deadline+2*time.Second {
		t.Errorf("a request took %s, beyond its %s deadline", l.slowest, deadline)
	}

	// The report.
	var codes []string
	for c, n := range l.codes {
		codes = append(codes, fmt.Sprintf("%d:%d", c, n))
	}
	sort.Strings(codes)
	var rec []string
	for _, name := range order {
		rec = append(rec, fmt.Sprintf("%s %s", name, recovery[name].Round(time.Millisecond)))
	}
	t.Logf("requests %d; by status %s; acknowledged writes %d projects, %d assets; slowest %s",
		l.requests.Load(), strings.Join(codes, " "), len(l.projects), len(l.assets), l.slowest.Round(time.Millisecond))
	t.Logf("recovery after each fault: %s", strings.Join(rec, "; "))
}

// rotateCertificates issues new certificates, from the same CA, for every
// service and for the gateway's HTTPS listener; each process picks its own
// up without a restart.
func rotateCertificates(t testing.TB, dir string) {
	t.Helper()
	ca, err := pki.LoadCA(pki.CAPath(dir), dir+"/ca.key")
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"identity", "tenancy", "scanning", "audit", "integrations", "gateway"} {
		leaf, err := ca.Issue(pki.LeafOptions{CommonName: svc, SPIFFEID: pki.SPIFFEID("pythorix.local", svc),
			DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		p := pki.ServicePaths(dir, svc)
		if err := leaf.Write(p.Cert, p.Key); err != nil {
			t.Fatal(err)
		}
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Write(pki.GatewayHTTPSPaths(dir).Cert, pki.GatewayHTTPSPaths(dir).Key); err != nil {
		t.Fatal(err)
	}
}

// auditEvents lists the events of the org's chain, every page.
func (s *Suite) auditEvents(t testing.TB, token, org string) []map[string]any {
	t.Helper()
	var events []map[string]any
	page := ""
	for {
		code, out := s.req(t, "GET", "/v1/audit/events?pageSize=100&pageToken="+page, nil, token, org)
		if code != 200 {
			t.Fatalf("list events: %d %v", code, out)
		}
		for _, e := range asList(out["events"]) {
			events = append(events, e.(map[string]any))
		}
		next, _ := out["nextPageToken"].(string)
		if next == "" {
			return events
		}
		page = next
	}
}
