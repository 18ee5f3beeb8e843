//go:build faults

package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/pki"
)

// faultLoad is a mixed workload through the gateway: signups, logins,
// project, asset and integration writes, scans and reads of the
// organisation, each acknowledged write remembered.
type faultLoad struct {
	s          *Suite
	token, org string
	site       string // host of a site the scans may reach

	mu       sync.Mutex
	codes    map[int]int
	projects []acked
	assets   []acked
	scans    []acked
	signups  []string
	slowest  time.Duration
	requests atomic.Int64
}

// acked is a write the API acknowledged: it must survive every fault.
type acked struct{ org, id string }

func (l *faultLoad) do(t testing.TB, org, method, path string, body any) (int, map[string]any) {
	start := time.Now()
	code, out := l.try(t, org, method, path, body, l.token)
	l.count(code, time.Since(start))
	if code == http.StatusInternalServerError {
		t.Errorf("%s %s: 500 %v (an unreachable dependency must answer 503)", method, path, out)
	}
	return code, out
}

// try is one request through the gateway; a request the gateway never
// answered (it was killed, say) is status 0, not a test failure.
func (l *faultLoad) try(t testing.TB, org, method, path string, body any, token string) (int, map[string]any) {
	req := jsonRequest(t, method, l.s.URL+path, body, bearer(token))
	if org != "" {
		req.Header.Set("X-Org-Id", org)
	}
	resp, err := l.s.Client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil && resp.StatusCode == http.StatusOK {
		t.Errorf("%s %s: 200 with an unreadable body: %v", method, path, err)
		return 0, nil
	}
	return resp.StatusCode, out
}

func (l *faultLoad) count(code int, took time.Duration) {
	l.requests.Add(1)
	l.mu.Lock()
	l.codes[code]++
	l.slowest = max(l.slowest, took)
	l.mu.Unlock()
}

// run is one worker, in an organisation of its own (so that the
// per-organisation caps on projects and assets leave room for the run).
func (l *faultLoad) run(t testing.TB, worker int, org string, stop <-chan struct{}) {
	var target, scannable string // an asset of this worker's on the site; once it has a scan grant
	var scan string              // this worker's latest scan: one at a time
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
		switch {
		case target == "":
			if code, out := l.do(t, org, "POST", "/v1/assets", map[string]any{"host": l.site + fmt.Sprintf("/w%d", worker),
				"kind": "ASSET_KIND_WEB_APP", "environment": "ENVIRONMENT_STAGING"}); code == 200 {
				target = out["asset"].(map[string]any)["id"].(string)
			}
		case scannable == "":
			if code, _ := l.do(t, org, "POST", "/v1/assets/"+target+"/grants",
				map[string]any{"expireTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}); code == 200 {
				scannable = target
			}
		case i%5 == 0 && scan != "":
			if code, out := l.do(t, org, "GET", "/v1/scans/"+scan, nil); code == 200 && finished(out["scan"].(map[string]any)["status"]) {
				scan = ""
			}
		case i%5 == 0:
			if code, out := l.do(t, org, "POST", "/v1/scans", map[string]any{"assetId": scannable}); code == 200 {
				scan = out["scan"].(map[string]any)["id"].(string)
				l.mu.Lock()
				l.scans = append(l.scans, acked{org, scan})
				l.mu.Unlock()
			}
		}
		if worker == 0 && i%8 == 0 {
			// A signup (its code mailed) and a login: the password hashing path.
			email := fmt.Sprintf("signup-%d@faults.example", i)
			if code, _ := l.do(t, "", "POST", "/v1/auth/signup", map[string]any{"email": email, "password": goodPassword, "name": "Fault"}); code == 200 {
				l.mu.Lock()
				l.signups = append(l.signups, email)
				l.mu.Unlock()
			}
			// Logins as a user of their own: a user's sessions are capped, the oldest revoked.
			l.do(t, "", "POST", "/v1/auth/login", map[string]any{"email": "logins@example.com", "password": goodPassword})
		}
	}
}

// finished reports whether a scan status is final.
func finished(status any) bool {
	return status == "SCAN_STATUS_SUCCEEDED" || status == "SCAN_STATUS_FAILED" || status == "SCAN_STATUS_CANCELED"
}

// healthy reports whether a read and a write go through every service.
func (l *faultLoad) healthy(t testing.TB) bool {
	code, _ := l.try(t, l.org, "PATCH", "/v1/orgs/"+l.org, map[string]any{"name": "Faults " + newUUID(t)[:8]}, l.token)
	if code != 200 {
		return false
	}
	for _, path := range []string{"/v1/orgs/" + l.org, "/v1/me", "/v1/assets", "/v1/audit/events?pageSize=1", "/v1/integrations"} {
		if code, _ := l.try(t, l.org, "GET", path, nil, l.token); code != 200 {
			return false
		}
	}
	return true
}

// ownPostgres is a PostgreSQL server of the fault suite's own, provisioned
// by scripts/devenv.sh under .data/faults, so that the suite can stop and
// start it (a real restart: every connection ends, the server is away).
type ownPostgres struct {
	env []string
	url string
}

func startOwnPostgres(t testing.TB) *ownPostgres {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	p := &ownPostgres{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "PYTHORIX_") {
			p.env = append(p.env, kv)
		}
	}
	// REDIS_URL set: devenv provisions PostgreSQL only.
	p.env = append(p.env, "PYTHORIX_DATA_DIR="+filepath.Join(root, ".data", "faults"), "PYTHORIX_PG_PORT=55532",
		"REDIS_URL="+pgtest.RedisURL(t))
	out := p.devenv(t, "up")
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "export DATABASE_URL="); ok {
			p.url = strings.Trim(v, "'")
		}
	}
	if p.url == "" {
		t.Fatalf("devenv up printed no DATABASE_URL: %q", out)
	}
	t.Cleanup(func() { p.devenv(t, "down") })
	return p
}

func (p *ownPostgres) devenv(t testing.TB, verb string) string {
	t.Helper()
	cmd := exec.Command("../scripts/devenv.sh", verb)
	cmd.Env = p.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("devenv %s: %v\n%s", verb, err, stderr.String())
	}
	return string(out)
}

// TestFaults drives a mixed workload through the gateway, with every
// service and the gateway in a process of its own as `make run` starts
// them, while PostgreSQL becomes unreachable, PostgreSQL restarts, each
// service is killed (SIGKILL) and started again, Redis goes away and
// certificates rotate. Afterwards no acknowledged write is lost, every
// acknowledged scan finishes, every audit event is in its chain exactly
// once, every chain verifies, no request outlived its deadline, and the
// suite is healthy with no manual step. Run it with `make faults`.
func TestFaults(t *testing.T) {
	const deadline = 5 * time.Second
	pg := startOwnPostgres(t)
	redis := startRedisProxy(t)
	db := startProxy(t, pg.url)
	rd := startRedirector(t)
	s, procs := StartProcesses(t, ProcessOptions{AdminURL: pg.url, Database: db.via, Env: map[string]string{
		"REDIS_URL": redis.url(t), "PYTHORIX_REQUEST_TIMEOUT": deadline.String(),
		"PYTHORIX_SCAN_TIMEOUT": "5s", "PYTHORIX_SCAN_HTTP_PORT": rd.port}})
	site := startSite(t, s.PKI)
	site.set(hardened, "<!doctype html><title>ok</title><p>hello</p>")
	s.signup(t, "faults@example.com", goodPassword)
	s.signup(t, "logins@example.com", goodPassword)
	tok, _ := s.login(t, "faults@example.com", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Faults"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)
	l := &faultLoad{s: s, token: tok, org: org, site: site.hostPort(), codes: map[int]int{}}
	for w := range 4 {
		rd.add(fmt.Sprintf("/w%d", w), "https://"+site.hostPort()+fmt.Sprintf("/w%d", w))
	}

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
				code, out := l.try(t, l.org, "GET", "/v1/orgs/"+l.org, nil, l.token)
				t.Fatalf("%s: not healthy a minute after it ended: %d %v", name, code, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		recovery[name] = time.Since(healed)
		order = append(order, name)
	}
	fault("postgres unreachable", db.cut, db.restore)
	fault("postgres restarted", func() { pg.devenv(t, "down") }, func() { pg.devenv(t, "up") })
	for _, svc := range []string{"identity", "tenancy", "scanning", "audit", "integrations", "gateway"} {
		fault("kill "+svc, procs[svc].kill, func() { procs[svc].start(t) })
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
	for _, email := range l.signups {
		if s.Mail.Count(email) == 0 {
			t.Errorf("acknowledged signup %s: no verification mail", email)
		}
	}
	// Every acknowledged scan finishes, whatever died under it (a job of a
	// killed worker is rescued once its timeout has surely passed).
	pending := map[string]string{}
	for finish := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		clear(pending)
		for _, a := range l.scans {
			code, out := s.req(t, "GET", "/v1/scans/"+a.id, nil, tok, a.org)
			if code != 200 {
				t.Fatalf("acknowledged scan %s: %d %v", a.id, code, out)
			}
			if st := out["scan"].(map[string]any)["status"]; !finished(st) {
				pending[a.id] = fmt.Sprint(st)
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(finish) {
			t.Fatalf("%d of %d acknowledged scans never finished: %v", len(pending), len(l.scans), pending)
		}
	}
	scanStates := map[string]int{}
	for _, a := range l.scans {
		_, out := s.req(t, "GET", "/v1/scans/"+a.id, nil, tok, a.org)
		scanStates[fmt.Sprint(out["scan"].(map[string]any)["status"])]++
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
	t.Logf("requests %d; by status %s; acknowledged writes %d projects, %d assets, %d signups, %d scans %v; slowest %s",
		l.requests.Load(), strings.Join(codes, " "), len(l.projects), len(l.assets), len(l.signups), len(l.scans), scanStates,
		l.slowest.Round(time.Millisecond))
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
