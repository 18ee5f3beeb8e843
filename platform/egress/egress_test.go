package egress_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pythorix/pythorix/platform/egress"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	strict, _ := egress.NewGuard()
	local, _ := egress.NewGuard("127.0.0.0/8")
	tests := []struct {
		addr          string
		strict, local bool
	}{
		{"8.8.8.8", true, true}, {"1.1.1.1", true, true}, {"2606:4700:4700::1111", true, true},
		{"127.0.0.1", false, true}, {"127.9.9.9", false, true}, {"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, false}, {"172.16.0.1", false, false}, {"192.168.1.1", false, false},
		{"169.254.169.254", false, false}, {"100.64.0.1", false, false}, {"0.0.0.0", false, false},
		{"224.0.0.1", false, false}, {"255.255.255.255", false, false}, {"192.0.2.1", false, false},
		{"::1", false, false}, {"::", false, false}, {"fe80::1", false, false}, {"fc00::1", false, false},
		{"fd00:ec2::254", false, false}, {"::ffff:10.0.0.1", false, false}, {"64:ff9b::a00:1", false, false},
		// Zones must not hide an address; IPv4-compatible addresses are not public.
		{"fd00::1%eth0", false, false}, {"64:ff9b::a9fe:a9fe%1", false, false}, {"2002:a9fe:a9fe::1%1", false, false},
		{"100::1%1", false, false}, {"::7f00:1", false, false}, {"fe80::1%lo", false, false},
	}
	for _, tc := range tests {
		a := netip.MustParseAddr(tc.addr)
		if got := strict.Allowed(a); got != tc.strict {
			t.Errorf("strict %s: %v", tc.addr, got)
		}
		if got := local.Allowed(a); got != tc.local {
			t.Errorf("local %s: %v", tc.addr, got)
		}
	}
	if _, err := egress.NewGuard("not-a-cidr"); err == nil {
		t.Error("accepted a malformed range")
	}
}

func server(t *testing.T, ip string, h http.Handler) *httptest.Server {
	t.Helper()
	lis, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener = lis
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestClientRefusesNonPublicDestinations(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	s := server(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	strict, _ := egress.NewGuard()
	c := strict.Client(egress.ClientOptions{ReadOnly: true, MaxRedirects: 5})
	port := s.URL[strings.LastIndex(s.URL, ":"):]
	for _, u := range []string{s.URL, "http://localhost" + port, "http://169.254.169.254/latest/meta-data/", "http://[::1]" + port} {
		if _, err := c.Get(u); !errors.Is(err, egress.ErrBlocked) {
			t.Errorf("%s: err = %v, want ErrBlocked", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests reached the server", hits.Load())
	}
}

func TestEveryRedirectHopIsCheckedAgain(t *testing.T) {
	t.Parallel()
	var inner atomic.Int32
	internal := server(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.Add(1) }))
	public := server(t, "127.0.0.1", http.RedirectHandler(internal.URL+"/secret", http.StatusFound))
	g, _ := egress.NewGuard("127.0.0.1/32") // the "public" site only
	c := g.Client(egress.ClientOptions{ReadOnly: true, MaxRedirects: 5})
	if _, err := c.Get(public.URL); !errors.Is(err, egress.ErrBlocked) {
		t.Fatalf("redirect into a refused range: %v", err)
	}
	if inner.Load() != 0 {
		t.Fatal("the redirect target was reached")
	}
	// Webhooks follow no redirect at all: the 302 itself is the answer.
	noRedirects := g.Client(egress.ClientOptions{})
	resp, err := noRedirects.Get(public.URL)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("without redirects: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestReadOnlyTransport(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	var ua atomic.Value
	s := server(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		ua.Store(r.UserAgent())
		_, _ = w.Write([]byte(strings.Repeat("x", 10000)))
	}))
	g, _ := egress.NewGuard("127.0.0.0/8")
	c := g.Client(egress.ClientOptions{ReadOnly: true})
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT"} {
		req, _ := http.NewRequest(m, s.URL, strings.NewReader("x"))
		if _, err := c.Do(req); !errors.Is(err, egress.ErrMethodNotAllowed) {
			t.Errorf("%s: %v", m, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("a write method reached the server (%d)", hits.Load())
	}
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		req, _ := http.NewRequest(m, s.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		body, cut, _ := egress.ReadBody(resp.Body, 5120)
		resp.Body.Close()
		if m == "GET" && (len(body) != 5120 || !cut) {
			t.Errorf("body bound: %d bytes, cut %v", len(body), cut)
		}
	}
	if ua.Load() != egress.UserAgent {
		t.Errorf("User-Agent %q", ua.Load())
	}
}
