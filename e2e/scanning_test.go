package e2e_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/services/scanning"
)

// dnsServer is a real DNS server answering TXT queries from a table.
type dnsServer struct {
	addr string
	mu   sync.Mutex
	txt  map[string][]string
	a    map[string]net.IP
}

func startDNS(t testing.TB) *dnsServer {
	t.Helper()
	d := &dnsServer{txt: map[string][]string{}, a: map[string]net.IP{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		d.mu.Lock()
		for _, q := range r.Question {
			name := strings.ToLower(q.Name)
			recs, ok := d.txt[name]
			ip, isA := d.a[name]
			if !ok && !isA {
				m.Rcode = dns.RcodeNameError
			}
			if q.Qtype == dns.TypeA && isA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: ip})
			}
			if q.Qtype == dns.TypeTXT {
				for _, v := range recs {
					m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{v}})
				}
			}
		}
		d.mu.Unlock()
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

// setA answers name with an IPv4 address.
func (d *dnsServer) setA(name, ip string) {
	d.mu.Lock()
	d.a[dns.Fqdn(strings.ToLower(name))] = net.ParseIP(ip).To4()
	d.mu.Unlock()
}

func (d *dnsServer) set(name, value string) {
	d.mu.Lock()
	d.txt[dns.Fqdn(strings.ToLower(name))] = []string{value}
	d.mu.Unlock()
}

func TestAssetsOwnershipAndGrantsOverREST(t *testing.T) {
	t.Parallel()
	dnsSrv := startDNS(t)
	s := StartSuite(t, SuiteOptions{Scanning: func(c *scanning.Settings) {
		c.DNSServer = dnsSrv.addr
		c.AllowCIDRs = []string{"127.0.0.0/8"} // local mode: the HTTPS site below is on loopback
	}})

	s.signup(t, "sec@scan.test", goodPassword)
	owner, _ := s.login(t, "sec@scan.test", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Scan"}, owner, "")
	org := out["org"].(map[string]any)["id"].(string)
	s.signup(t, "intruder@scan.test", goodPassword)
	intruder, _ := s.login(t, "intruder@scan.test", goodPassword)
	_, out = s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Other"}, intruder, "")
	otherOrg := out["org"].(map[string]any)["id"].(string)

	t.Run("assets are validated", func(t *testing.T) {
		for host, field := range map[string]string{"10.0.0.5": "host", "169.254.169.254": "host", "not a host!": "host", "": "host",
			"127.1": "host", "2130706433": "host", "0x7f.1": "host"} {
			code, out := s.req(t, "POST", "/v1/assets", map[string]any{"host": host, "kind": "ASSET_KIND_WEB_APP", "environment": "ENVIRONMENT_PRODUCTION"}, owner, org)
			if code != 400 || !strings.Contains(toJSON(out), field) {
				t.Errorf("host %q: %d %v", host, code, out)
			}
		}
		code, _ := s.req(t, "POST", "/v1/assets", map[string]any{"host": "shop.example.test", "kind": "ASSET_KIND_WEB_APP"}, owner, org)
		if code != 400 {
			t.Errorf("missing environment: %d", code)
		}
	})

	var dnsAsset map[string]any
	t.Run("ownership by DNS TXT record", func(t *testing.T) {
		code, out := s.req(t, "POST", "/v1/assets", map[string]any{"host": "Shop.Example.test", "kind": "ASSET_KIND_WEB_APP",
			"environment": "ENVIRONMENT_PRODUCTION", "criticality": "CRITICALITY_HIGH", "tags": []string{"pci"}}, owner, org)
		if code != 200 {
			t.Fatalf("create: %d %v", code, out)
		}
		dnsAsset = out["asset"].(map[string]any)
		if dnsAsset["verified"] == true || dnsAsset["host"] != "shop.example.test" {
			t.Fatalf("new asset: %v", dnsAsset)
		}
		if code, _ := s.req(t, "POST", "/v1/assets", map[string]any{"host": "shop.example.test", "kind": "ASSET_KIND_API", "environment": "ENVIRONMENT_STAGING"}, owner, org); code != 409 {
			t.Fatalf("duplicate host: %d", code)
		}
		id := dnsAsset["id"].(string)
		verify := func() (int, map[string]any) {
			return s.req(t, "POST", "/v1/assets/"+id+":verify", map[string]any{"method": "VERIFICATION_METHOD_DNS_TXT"}, owner, org)
		}
		if code, out := verify(); code != 412 || !strings.Contains(toJSON(out), "_pythorix-challenge.shop.example.test") {
			t.Fatalf("no record yet: %d %v", code, out)
		}
		dnsSrv.set("_pythorix-challenge.shop.example.test", "wrong-token")
		if code, _ := verify(); code != 412 {
			t.Fatalf("wrong token: %d", code)
		}
		dnsSrv.set("_pythorix-challenge.shop.example.test", dnsAsset["verificationToken"].(string))
		code, out = verify()
		if code != 200 || out["asset"].(map[string]any)["verified"] != true {
			t.Fatalf("verify: %d %v", code, out)
		}
	})

	t.Run("ownership by HTTPS well-known file", func(t *testing.T) {
		var token string
		site := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/.well-known/pythorix-verification.txt" && r.Method == http.MethodGet {
				_, _ = w.Write([]byte(token + "\n"))
				return
			}
			http.NotFound(w, r)
		}))
		cert, err := tls.LoadX509KeyPair(pki.GatewayHTTPSPaths(s.PKI).Cert, pki.GatewayHTTPSPaths(s.PKI).Key)
		if err != nil {
			t.Fatal(err)
		}
		site.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		site.StartTLS()
		defer site.Close()
		host := strings.TrimPrefix(site.URL, "https://")
		code, out := s.req(t, "POST", "/v1/assets", map[string]any{"host": host, "kind": "ASSET_KIND_API", "environment": "ENVIRONMENT_STAGING"}, owner, org)
		if code != 200 {
			t.Fatalf("create loopback asset (allowed range): %d %v", code, out)
		}
		a := out["asset"].(map[string]any)
		token = "not-the-token"
		if code, _ := s.req(t, "POST", "/v1/assets/"+a["id"].(string)+":verify", map[string]any{"method": "VERIFICATION_METHOD_HTTP_FILE"}, owner, org); code != 412 {
			t.Fatalf("wrong file: %d", code)
		}
		token = a["verificationToken"].(string)
		code, out = s.req(t, "POST", "/v1/assets/"+a["id"].(string)+":verify", map[string]any{"method": "VERIFICATION_METHOD_HTTP_FILE"}, owner, org)
		if code != 200 || out["asset"].(map[string]any)["verified"] != true {
			t.Fatalf("verify: %d %v", code, out)
		}
	})

	t.Run("a project API key sees only its project's assets", func(t *testing.T) {
		_, p := s.req(t, "POST", "/v1/projects", map[string]any{"name": "shop"}, owner, org)
		project := p["project"].(map[string]any)["id"].(string)
		code, out := s.req(t, "POST", "/v1/assets", map[string]any{"host": "in.example.test", "kind": "ASSET_KIND_API",
			"environment": "ENVIRONMENT_STAGING", "projectId": project}, owner, org)
		if code != 200 {
			t.Fatalf("project asset: %d %v", code, out)
		}
		inProject := out["asset"].(map[string]any)["id"].(string)
		_, k := s.req(t, "POST", "/v1/api-keys", map[string]any{"name": "p", "scopes": []string{"assets.read"}, "projectId": project}, owner, org)
		key := k["key"].(string)
		_, list := s.req(t, "GET", "/v1/assets", nil, key, org)
		assets, _ := list["assets"].([]any)
		if len(assets) != 1 || assets[0].(map[string]any)["id"] != inProject {
			t.Fatalf("project key listed %v", list)
		}
		if code, _ := s.req(t, "GET", "/v1/assets/"+dnsAsset["id"].(string), nil, key, org); code != 404 {
			t.Fatalf("project key read an asset outside its project: %d", code)
		}
		if code, _ := s.req(t, "GET", "/v1/assets/"+inProject, nil, key, org); code != 200 {
			t.Fatalf("project key reading its own project's asset: %d", code)
		}
	})

	t.Run("grants: explicit, time-limited, revocable, never across organisations", func(t *testing.T) {
		id := dnsAsset["id"].(string)
		exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		code, out := s.req(t, "POST", "/v1/assets/"+id+"/grants", map[string]any{"expireTime": exp, "note": "quarterly"}, owner, org)
		if code != 200 || out["grant"].(map[string]any)["active"] != true {
			t.Fatalf("grant: %d %v", code, out)
		}
		gid := out["grant"].(map[string]any)["id"].(string)
		far := time.Now().Add(100 * 24 * time.Hour).UTC().Format(time.RFC3339)
		if code, _ := s.req(t, "POST", "/v1/assets/"+id+"/grants", map[string]any{"expireTime": far}, owner, org); code != 400 {
			t.Fatalf("grant beyond 90 days: %d", code)
		}
		if code, _ := s.req(t, "GET", "/v1/assets/"+id, nil, intruder, otherOrg); code != 404 {
			t.Fatalf("foreign asset: %d", code)
		}
		if code, _ := s.req(t, "POST", "/v1/assets/"+id+"/grants", map[string]any{"expireTime": exp}, intruder, otherOrg); code != 404 {
			t.Fatalf("grant on a foreign asset: %d", code)
		}
		if code, _ := s.req(t, "DELETE", "/v1/assets/"+id+"/grants/"+gid, nil, owner, org); code != 200 {
			t.Fatalf("revoke: %d", code)
		}
		_, list := s.req(t, "GET", "/v1/assets/"+id+"/grants", nil, owner, org)
		if gs := list["grants"].([]any); len(gs) != 1 || gs[0].(map[string]any)["active"] == true {
			t.Fatalf("after revocation: %v", list)
		}
	})
}
