package e2e_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/services/scanning"
	"github.com/pythorix/pythorix/services/scanning/catalog"
	"github.com/pythorix/pythorix/services/scanning/finding"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

// site is a real HTTPS site on loopback whose response headers a test sets.
type site struct {
	srv     *httptest.Server
	mu      sync.Mutex
	headers map[string][]string
	body    string
	hang    chan struct{} // while non-nil, "/" waits for it to close
	methods map[string]int
	agents  map[string]int
	gets    atomic.Int64
}

func startSite(t testing.TB, pkiDir string) *site {
	t.Helper()
	st := &site{methods: map[string]int{}, agents: map[string]int{}}
	st.srv = httptest.NewUnstartedServer(http.HandlerFunc(st.serve))
	cert, err := tls.LoadX509KeyPair(pki.GatewayHTTPSPaths(pkiDir).Cert, pki.GatewayHTTPSPaths(pkiDir).Key)
	if err != nil {
		t.Fatal(err)
	}
	st.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	st.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the scanner's TLS probe fails handshakes on purpose
	st.srv.StartTLS()
	t.Cleanup(st.srv.Close)
	return st
}

func (st *site) set(headers map[string][]string, body string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.headers, st.body = headers, body
}

func (st *site) hostPort() string { return strings.TrimPrefix(st.srv.URL, "https://") }

func (st *site) serve(w http.ResponseWriter, r *http.Request) {
	st.mu.Lock()
	st.methods[r.Method]++
	st.agents[r.UserAgent()]++
	headers, body, hang := st.headers, st.body, st.hang
	st.mu.Unlock()
	st.gets.Add(1)
	for k, v := range headers {
		w.Header()[k] = v
	}
	if hang != nil && !strings.HasPrefix(r.URL.Path, "/.") && !strings.HasPrefix(r.URL.Path, "/pythorix") {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case r.URL.Path == "/.well-known/security.txt":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "Contact: mailto:security@example.test\nExpires: "+time.Now().Add(300*24*time.Hour).UTC().Format(time.RFC3339)+"\n")
	case r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/app"):
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, body)
	}
}

// hardened are headers that grade A+ on the Observatory's scoring.
var hardened = map[string][]string{
	"Content-Security-Policy":      {"default-src 'none'; img-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
	"Strict-Transport-Security":    {"max-age=63072000; includeSubDomains"},
	"X-Content-Type-Options":       {"nosniff"},
	"X-Frame-Options":              {"DENY"},
	"Referrer-Policy":              {"no-referrer"},
	"Cross-Origin-Resource-Policy": {"same-origin"},
	"Cross-Origin-Opener-Policy":   {"same-origin"},
	"Cross-Origin-Embedder-Policy": {"require-corp"},
	"Permissions-Policy":           {"camera=(), microphone=()"},
	"Set-Cookie":                   {"__Host-session=s3cr3tvalue123; Path=/; Secure; HttpOnly; SameSite=Lax"},
}

// redirector is the plain-HTTP side of every test site: /app<n> on it
// redirects to the HTTPS site registered under that path.
type redirector struct {
	mu      sync.Mutex
	targets map[string]string
	port    string
}

func startRedirector(t testing.TB) *redirector {
	t.Helper()
	rd := &redirector{targets: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd.mu.Lock()
		to, ok := rd.targets[r.URL.Path]
		rd.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, to, http.StatusMovedPermanently)
	}))
	t.Cleanup(srv.Close)
	_, rd.port, _ = net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	return rd
}

func (rd *redirector) add(path, to string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.targets[path] = to
}

type scanEnv struct {
	s                 *Suite
	owner, org        string
	intruder, foreign string
}

func (e *scanEnv) asset(t testing.TB, host, env string) string {
	t.Helper()
	code, out := e.s.req(t, "POST", "/v1/assets", map[string]any{"host": host, "kind": "ASSET_KIND_WEB_APP", "environment": env}, e.owner, e.org)
	if code != 200 {
		t.Fatalf("asset %s: %d %v", host, code, out)
	}
	return out["asset"].(map[string]any)["id"].(string)
}

func (e *scanEnv) grant(t testing.TB, asset string) string {
	t.Helper()
	code, out := e.s.req(t, "POST", "/v1/assets/"+asset+"/grants", map[string]any{"expireTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, e.owner, e.org)
	if code != 200 {
		t.Fatalf("grant: %d %v", code, out)
	}
	return out["grant"].(map[string]any)["id"].(string)
}

func (e *scanEnv) scan(t testing.TB, asset string) map[string]any {
	t.Helper()
	code, out := e.s.req(t, "POST", "/v1/scans", map[string]any{"assetId": asset}, e.owner, e.org)
	if code != 200 {
		t.Fatalf("scan: %d %v", code, out)
	}
	return out["scan"].(map[string]any)
}

// wait polls a scan until its status is one of want.
func (e *scanEnv) wait(t testing.TB, id string, want ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out := e.s.req(t, "GET", "/v1/scans/"+id, nil, e.owner, e.org)
		if code != 200 {
			t.Fatalf("get scan: %d %v", code, out)
		}
		sc := out["scan"].(map[string]any)
		for _, w := range want {
			if sc["status"] == w {
				return sc
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan %s stayed %v, want %v", id, sc["status"], want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *scanEnv) findings(t *testing.T, path string) []map[string]any {
	t.Helper()
	code, out := e.s.req(t, "GET", path, nil, e.owner, e.org)
	if code != 200 {
		t.Fatalf("%s: %d %v", path, code, out)
	}
	var list []map[string]any
	for _, f := range asList(out["findings"]) {
		list = append(list, f.(map[string]any))
	}
	return list
}

func asList(v any) []any { l, _ := v.([]any); return l }

func byCheck(list []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, f := range list {
		out[f["checkId"].(string)] = f
	}
	return out
}

func startScanEnv(t testing.TB, so SuiteOptions) *scanEnv {
	t.Helper()
	s := StartSuite(t, so)
	e := &scanEnv{s: s}
	s.signup(t, "sec@scans.test", goodPassword)
	e.owner, _ = s.login(t, "sec@scans.test", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Scans"}, e.owner, "")
	e.org = out["org"].(map[string]any)["id"].(string)
	s.signup(t, "other@scans.test", goodPassword)
	e.intruder, _ = s.login(t, "other@scans.test", goodPassword)
	_, out = s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Elsewhere"}, e.intruder, "")
	e.foreign = out["org"].(map[string]any)["id"].(string)
	return e
}

func TestScansOverREST(t *testing.T) {
	t.Parallel()
	rd := startRedirector(t)
	e := startScanEnv(t, SuiteOptions{Scanning: func(c *scanning.Settings) {
		c.AllowCIDRs = []string{"127.0.0.0/8"}
		c.HTTPPort = rd.port
	}})
	s := e.s
	good := startSite(t, s.PKI)
	good.set(hardened, "<!doctype html><title>ok</title><p>hello</p>")
	rd.add("/app1", "https://"+good.hostPort()+"/app1")
	goodAsset := e.asset(t, good.hostPort()+"/app1", "ENVIRONMENT_STAGING")

	t.Run("a scan needs an active grant and, in production, verified ownership", func(t *testing.T) {
		code, out := s.req(t, "POST", "/v1/scans", map[string]any{"assetId": goodAsset}, e.owner, e.org)
		if code != 412 || !strings.Contains(toJSON(out), "grant") {
			t.Fatalf("without a grant: %d %v", code, out)
		}
		prod := e.asset(t, good.hostPort()+"/prod", "ENVIRONMENT_PRODUCTION")
		e.grant(t, prod)
		code, out = s.req(t, "POST", "/v1/scans", map[string]any{"assetId": prod}, e.owner, e.org)
		if code != 412 || !strings.Contains(toJSON(out), "verification") {
			t.Fatalf("unverified production asset: %d %v", code, out)
		}
		if code, _ := s.req(t, "POST", "/v1/scans", map[string]any{"assetId": goodAsset}, e.intruder, e.foreign); code != 404 {
			t.Fatalf("scan of a foreign asset: %d", code)
		}
		if code, out := s.req(t, "POST", "/v1/scans", map[string]any{"assetId": "nope"}, e.owner, e.org); code != 400 || !strings.Contains(toJSON(out), "assetId") {
			t.Fatalf("bad asset id: %d %v", code, out)
		}
		_, list := s.req(t, "GET", "/v1/scans", nil, e.owner, e.org)
		if len(asList(list["scans"])) != 0 {
			t.Fatalf("refused scans were persisted: %v", list)
		}
	})

	var first map[string]any
	t.Run("a hardened site grades A+ through the queue", func(t *testing.T) {
		grant := e.grant(t, goodAsset)
		sc := e.scan(t, goodAsset)
		if sc["status"] != "SCAN_STATUS_QUEUED" || sc["grantId"] != grant || sc["actorId"] == "" || sc["orgId"] != e.org {
			t.Fatalf("queued scan: %v", sc)
		}
		first = e.wait(t, sc["id"].(string), "SCAN_STATUS_SUCCEEDED", "SCAN_STATUS_FAILED")
		if first["status"] != "SCAN_STATUS_SUCCEEDED" || first["grade"] != "A+" || first["progress"] != float64(100) {
			fs := e.findings(t, "/v1/scans/"+sc["id"].(string)+"/findings")
			t.Fatalf("scan: %v\nfindings: %v", first, toJSON(fs))
		}
		good.mu.Lock()
		defer good.mu.Unlock()
		for m := range good.methods {
			if m != "GET" && m != "HEAD" && m != "OPTIONS" {
				t.Errorf("the scanner sent %s", m)
			}
		}
		for ua := range good.agents {
			if ua != "Pythorix-IntelOps/1.0 (+defensive)" {
				t.Errorf("user agent %q", ua)
			}
		}
		if code, _ := s.req(t, "GET", "/v1/scans/"+sc["id"].(string), nil, e.intruder, e.foreign); code != 404 {
			t.Errorf("foreign scan read: %d", code)
		}
	})

	t.Run("findings carry across scans: new, persisting, resolved, regressed", func(t *testing.T) {
		bare := map[string][]string{"Server": {"Apache/2.4.1 (Unix)"}}
		good.set(bare, "<!doctype html><script src=\"http://cdn.example.test/x.js\"></script>")
		second := e.wait(t, e.scan(t, goodAsset)["id"].(string), "SCAN_STATUS_SUCCEEDED")
		if second["grade"] != "F" {
			t.Errorf("bare site graded %v", second["grade"])
		}
		fs := byCheck(e.findings(t, "/v1/scans/"+second["id"].(string)+"/findings"))
		for _, id := range []string{"headers.csp.missing", "headers.hsts.missing", "headers.xcto.missing", "disclosure.server_version"} {
			f, ok := fs[id]
			if !ok {
				t.Errorf("bare site: no %s in %v", id, keys(fs))
				continue
			}
			if f["status"] != "FINDING_STATUS_NEW" || f["title"] == id || f["remediation"] == "" || len(asList(f["compliance"])) == 0 || f["fingerprint"] == "" {
				t.Errorf("%s: %v", id, f)
			}
		}
		good.set(map[string][]string{"Server": {"Apache/2.4.1 (Unix)"}, "X-Content-Type-Options": {"nosniff"}}, "<p>x</p>")
		third := e.wait(t, e.scan(t, goodAsset)["id"].(string), "SCAN_STATUS_SUCCEEDED")
		fs = byCheck(e.findings(t, "/v1/scans/"+third["id"].(string)+"/findings"))
		if fs["headers.csp.missing"]["status"] != "FINDING_STATUS_PERSISTING" || fs["headers.xcto.missing"]["status"] != "FINDING_STATUS_RESOLVED" {
			t.Errorf("third scan: csp %v, xcto %v", fs["headers.csp.missing"]["status"], fs["headers.xcto.missing"]["status"])
		}
		good.set(bare, "<p>x</p>")
		fourth := e.wait(t, e.scan(t, goodAsset)["id"].(string), "SCAN_STATUS_SUCCEEDED")
		fs = byCheck(e.findings(t, "/v1/scans/"+fourth["id"].(string)+"/findings"))
		if fs["headers.xcto.missing"]["status"] != "FINDING_STATUS_REGRESSED" {
			t.Errorf("fourth scan: xcto %v", fs["headers.xcto.missing"])
		}
		// The organisation's view: one entry per fingerprint, filtered.
		all := e.findings(t, "/v1/findings?assetId="+goodAsset+"&status=FINDING_STATUS_REGRESSED")
		if len(all) != 1 || all[0]["checkId"] != "headers.xcto.missing" {
			t.Errorf("regressed findings: %v", toJSON(all))
		}
		high := e.findings(t, "/v1/scans/"+fourth["id"].(string)+"/findings?severity=SEVERITY_HIGH&severity=SEVERITY_CRITICAL")
		for _, f := range high {
			if f["severity"] != "SEVERITY_HIGH" && f["severity"] != "SEVERITY_CRITICAL" {
				t.Errorf("severity filter let through %v", f["severity"])
			}
		}
		code, _ := s.req(t, "GET", "/v1/scans/"+fourth["id"].(string)+"/findings", nil, e.intruder, e.foreign)
		if code != 404 {
			t.Errorf("foreign findings: %d", code)
		}
		if _, out := s.req(t, "GET", "/v1/findings", nil, e.intruder, e.foreign); len(asList(out["findings"])) != 0 {
			t.Errorf("foreign organisation sees findings: %v", out)
		}
		// Pages are complete and do not overlap.
		seen := map[string]bool{}
		tok := ""
		for i := 0; i < 50; i++ {
			_, out := s.req(t, "GET", "/v1/scans/"+fourth["id"].(string)+"/findings?pageSize=2&pageToken="+tok, nil, e.owner, e.org)
			for _, f := range asList(out["findings"]) {
				id := f.(map[string]any)["id"].(string)
				if seen[id] {
					t.Fatalf("finding %s on two pages", id)
				}
				seen[id] = true
			}
			tok, _ = out["nextPageToken"].(string)
			if tok == "" {
				break
			}
		}
		if len(seen) != len(e.findings(t, "/v1/scans/"+fourth["id"].(string)+"/findings?pageSize=100")) {
			t.Errorf("paging saw %d findings", len(seen))
		}
	})

	t.Run("reports: JSON, SARIF 2.1.0 and HTML", func(t *testing.T) {
		id := first["id"].(string)
		_, list := s.req(t, "GET", "/v1/scans?assetId="+goodAsset+"&status=SCAN_STATUS_SUCCEEDED", nil, e.owner, e.org)
		last := asList(list["scans"])[0].(map[string]any)["id"].(string)
		for _, tc := range []struct{ format, ctype string }{
			{"json", "application/json"}, {"sarif", "application/sarif+json"}, {"REPORT_FORMAT_SARIF", "application/sarif+json"}, {"html", "text/html"},
		} {
			resp, body := s.do(t, "GET", "/v1/scans/"+last+"/report?format="+tc.format, "", "Authorization", "Bearer "+e.owner, "X-Org-Id", e.org)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Fatalf("%s: %d %s %s", tc.format, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			switch tc.ctype {
			case "application/sarif+json":
				var doc struct {
					Version string `json:"version"`
					Runs    []struct {
						Tool struct {
							Driver struct {
								Rules []map[string]any `json:"rules"`
							} `json:"driver"`
						} `json:"tool"`
						Results []struct {
							RuleID    string `json:"ruleId"`
							Locations []struct {
								PhysicalLocation struct {
									ArtifactLocation struct {
										URI string `json:"uri"`
									} `json:"artifactLocation"`
								} `json:"physicalLocation"`
							} `json:"locations"`
						} `json:"results"`
					} `json:"runs"`
				}
				if err := json.Unmarshal(body, &doc); err != nil || doc.Version != "2.1.0" || len(doc.Runs) != 1 || len(doc.Runs[0].Results) == 0 {
					t.Fatalf("sarif: %v %s", err, body)
				}
				for _, r := range doc.Runs[0].Results {
					if len(r.Locations) == 0 || !strings.HasPrefix(r.Locations[0].PhysicalLocation.ArtifactLocation.URI, "http") {
						t.Errorf("result %s not located by URL", r.RuleID)
					}
				}
				if _, ok := doc.Runs[0].Tool.Driver.Rules[0]["properties"].(map[string]any)["security-severity"]; !ok {
					t.Errorf("rule without security-severity: %v", doc.Runs[0].Tool.Driver.Rules[0])
				}
			case "text/html":
				csp := resp.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "style-src 'sha256-") || strings.Contains(csp, "unsafe") || len(resp.Header.Values("Content-Security-Policy")) != 1 {
					t.Errorf("html report CSP %q", csp)
				}
				if !strings.Contains(string(body), "F") || !strings.Contains(string(body), "headers.csp.missing") && !strings.Contains(string(body), "Content-Security-Policy") {
					t.Errorf("html report lacks the grade or findings")
				}
			case "application/json":
				if !strings.Contains(string(body), `"grade"`) {
					t.Errorf("json report: %s", body)
				}
			}
		}
		if resp, _ := s.do(t, "GET", "/v1/scans/"+id+"/report?format=sarif", "", "Authorization", "Bearer "+e.intruder, "X-Org-Id", e.foreign); resp.StatusCode != 404 {
			t.Errorf("foreign report: %d", resp.StatusCode)
		}
		if resp, _ := s.do(t, "GET", "/v1/scans/"+id+"/report?format=pdf", "", "Authorization", "Bearer "+e.owner, "X-Org-Id", e.org); resp.StatusCode != 400 {
			t.Errorf("unknown format: %d", resp.StatusCode)
		}
	})

	t.Run("cancel a running scan; revoking the grant cancels queued ones", func(t *testing.T) {
		slow := startSite(t, s.PKI)
		slow.set(hardened, "<p>slow</p>")
		slow.mu.Lock()
		slow.hang = make(chan struct{})
		slow.mu.Unlock()
		defer close(slow.hang)
		asset := e.asset(t, slow.hostPort(), "ENVIRONMENT_DEVELOPMENT")
		grant := e.grant(t, asset)
		sc := e.scan(t, asset)
		e.wait(t, sc["id"].(string), "SCAN_STATUS_RUNNING")
		code, out := s.req(t, "POST", "/v1/scans/"+sc["id"].(string)+":cancel", map[string]any{}, e.owner, e.org)
		if code != 200 || out["scan"].(map[string]any)["status"] != "SCAN_STATUS_CANCELED" {
			t.Fatalf("cancel: %d %v", code, out)
		}
		if code, _ := s.req(t, "POST", "/v1/scans/"+sc["id"].(string)+":cancel", map[string]any{}, e.owner, e.org); code != 412 {
			t.Errorf("cancel twice: %d", code)
		}
		// The running worker lets go of the site: its request is abandoned.
		time.Sleep(time.Second)
		if got := e.wait(t, sc["id"].(string), "SCAN_STATUS_CANCELED"); got["grade"] != nil && got["grade"] != "" {
			t.Errorf("a canceled scan was graded: %v", got)
		}
		// Same host, so the second waits for the first under the per-host limit...
		second := e.scan(t, asset)
		third := e.scan(t, asset)
		if code, _ := s.req(t, "DELETE", "/v1/assets/"+asset+"/grants/"+grant, nil, e.owner, e.org); code != 200 {
			t.Fatalf("revoke: %d", code)
		}
		for _, x := range []map[string]any{second, third} {
			got := e.wait(t, x["id"].(string), "SCAN_STATUS_CANCELED")
			if !strings.Contains(got["error"].(string), "grant") {
				t.Errorf("canceled scan's reason: %v", got["error"])
			}
		}
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// recordingScanner stands in for the scanner to observe the queue: how many
// scans run at once per organisation and per host.
type recordingScanner struct {
	mu              sync.Mutex
	running         map[string]int
	maxHost, maxAll int
	total, now      int
	hold            time.Duration
	calls           map[string]int // scans per host
}

// Hosts the recording scanner treats specially.
const (
	flakyHost = "flaky.example.test" // the first attempt fails, as a reset connection would
	stuckHost = "stuck.example.test" // never finishes: only the scan's timeout ends it
)

func (r *recordingScanner) Scan(ctx context.Context, t scanner.Target, p scanner.Progress) (*scanner.Result, error) {
	r.mu.Lock()
	r.running[t.Host]++
	r.maxHost = max(r.maxHost, r.running[t.Host])
	r.now++
	r.maxAll = max(r.maxAll, r.now)
	r.total++
	r.calls[t.Host]++
	hold, calls := r.hold, r.calls[t.Host]
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.running[t.Host]--; r.now--; r.mu.Unlock() }()
	p(50)
	switch {
	case t.Host == flakyHost && calls == 1:
		return nil, errors.New("read tcp: connection reset by peer")
	case t.Host == stuckHost:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	select {
	case <-time.After(hold):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &scanner.Result{Grade: "A", Score: 90, Graded: true}, nil
}

func TestScanQueueLimitsAndRestart(t *testing.T) {
	t.Parallel()
	rec := &recordingScanner{running: map[string]int{}, calls: map[string]int{}, hold: 300 * time.Millisecond}
	e := startScanEnv(t, SuiteOptions{Scanning: func(c *scanning.Settings) {
		c.Scanner = rec
		c.Limits = scanning.Limits{PerHost: 1, PerOrg: 3, Workers: 8, Timeout: 6 * time.Second}
	}})
	s := e.s
	var ids []string
	for i := range 3 {
		host := "target" + string(rune('a'+i)) + ".example.test"
		for _, path := range []string{"/one", "/two"} {
			a := e.asset(t, host+path, "ENVIRONMENT_STAGING")
			e.grant(t, a)
			ids = append(ids, e.scan(t, a)["id"].(string))
		}
	}
	for _, id := range ids {
		e.wait(t, id, "SCAN_STATUS_SUCCEEDED")
	}
	rec.mu.Lock()
	if rec.maxHost != 1 || rec.maxAll > 3 || rec.maxAll < 2 || rec.total != 6 {
		t.Errorf("per-host concurrency %d (limit 1), per-organisation %d (limit 3), scans run %d", rec.maxHost, rec.maxAll, rec.total)
	}
	rec.mu.Unlock()

	t.Run("a transient failure is retried; a scan that runs too long fails", func(t *testing.T) {
		flaky := e.asset(t, flakyHost, "ENVIRONMENT_STAGING")
		e.grant(t, flaky)
		stuck := e.asset(t, stuckHost, "ENVIRONMENT_STAGING")
		e.grant(t, stuck)
		f, st := e.scan(t, flaky)["id"].(string), e.scan(t, stuck)["id"].(string)
		if got := e.wait(t, f, "SCAN_STATUS_SUCCEEDED", "SCAN_STATUS_FAILED"); got["status"] != "SCAN_STATUS_SUCCEEDED" {
			t.Errorf("flaky target: %v", got)
		}
		rec.mu.Lock()
		if rec.calls[flakyHost] != 2 {
			t.Errorf("flaky target scanned %d times, want 2", rec.calls[flakyHost])
		}
		rec.mu.Unlock()
		got := e.wait(t, st, "SCAN_STATUS_FAILED", "SCAN_STATUS_SUCCEEDED")
		if got["status"] != "SCAN_STATUS_FAILED" || !strings.Contains(toJSON(got["error"]), "did not finish within") {
			t.Errorf("stuck target: %v", got)
		}
	})

	t.Run("a running scan survives a restart of the service", func(t *testing.T) {
		rec.mu.Lock()
		rec.hold = time.Minute // longer than a graceful stop waits
		rec.mu.Unlock()
		a := e.asset(t, "restart.example.test", "ENVIRONMENT_STAGING")
		e.grant(t, a)
		id := e.scan(t, a)["id"].(string)
		e.wait(t, id, "SCAN_STATUS_RUNNING")
		s.stop["scanning"]()
		s.restart["scanning"](t)
		rec.mu.Lock()
		rec.hold = 100 * time.Millisecond
		rec.mu.Unlock()
		got := e.wait(t, id, "SCAN_STATUS_SUCCEEDED", "SCAN_STATUS_FAILED")
		if got["status"] != "SCAN_STATUS_SUCCEEDED" {
			t.Fatalf("after restart: %v", got)
		}
	})
}

// The suite's own gateway, scanned by the scanner the service runs (the
// self-scan command's code path), grades A+ with no finding above INFO.
func TestSelfScanGradesTheGatewayAPlus(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closed, _ := net.SplitHostPort(l.Addr().String())
	l.Close() // no plain-HTTP listener: the gateway serves HTTPS only
	res, err := scanning.SelfScan(context.Background(), strings.TrimPrefix(s.URL, "https://")+"/healthz", s.roots, closed)
	if err != nil {
		t.Fatal(err)
	}
	if res.Grade != "A+" || res.Cap != "" {
		t.Errorf("gateway grade %s (headers %s %d, TLS cap %q): %+v", res.Grade, res.HeaderGrade, res.HeaderScore, res.Cap, res.Tests)
	}
	for _, f := range res.Findings {
		sev := f.Severity
		if sev == 0 {
			sev = catalogSeverity(t, f.CheckID)
		}
		if sev > finding.Info {
			t.Errorf("gateway finding %s (%s): %s", f.CheckID, sev, f.Detail)
		}
	}
}

func catalogSeverity(t *testing.T, id string) finding.Severity {
	c, ok := catalog.Lookup(id)
	if !ok {
		t.Fatalf("check %s is not in the catalog", id)
	}
	return c.Severity
}
