package e2e_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/services/integrations/signing"
)

// tcpProxy stands between every process and a dependency (Redis,
// PostgreSQL); cut makes it unreachable (open connections drop, new ones
// are closed at once) and restore brings it back, on the same address.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	down         bool
	conns        map[net.Conn]struct{}
}

func startRedisProxy(t testing.TB) *tcpProxy { return startProxy(t, pgtest.RedisURL(t)) }

// startProxy proxies to the host of a URL.
func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: l.Addr().String(), target: u.Host, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

// via rewrites a URL of the proxied dependency to go through the proxy.
func (p *tcpProxy) via(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Host = p.addr
	return u.String()
}

func (p *tcpProxy) url(t testing.TB) string { return p.via(pgtest.RedisURL(t)) }

func (p *tcpProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// While Redis is down, what protects the system fails closed (sign-in and
// its throttle, inbound hooks and their replay window) and what only
// smooths it degrades (rate limits, caches: every request is checked with
// identity, so a session ended during the outage is refused at once); the
// services stay ready. When Redis returns, everything recovers by itself.
func TestWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	proxy := startRedisProxy(t)
	s := StartSuite(t, SuiteOptions{RedisURL: proxy.url(t), Integrations: fastRetry})
	s.signup(t, "redis@example.com", goodPassword)
	stay, _ := s.login(t, "redis@example.com", goodPassword)
	leave, _ := s.login(t, "redis@example.com", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Outage"}, stay, "")
	org := out["org"].(map[string]any)["id"].(string)
	sec := newWebhookSecret(t)
	_, out = s.req(t, "POST", "/v1/integrations", map[string]any{"name": "in", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": "https://example.com/x"}, "inboundSecret": sec}, stay, org)
	hook := out["integration"].(map[string]any)["id"].(string)
	key, _ := signing.ParseSecret(sec)
	if code, _, _ := s.call(t, nil, "GET", s.URL+"/v1/me", nil, leave); code != 200 {
		t.Fatal("the second session does not work")
	}

	proxy.cut()
	cutAt := time.Now()
	time.Sleep(3 * time.Second) // subscriptions notice, health checks run

	if code, _, _ := s.call(t, nil, "GET", s.URL+"/v1/me", nil, stay); code != 200 {
		t.Errorf("an authenticated read while Redis is down: %d", code)
	}
	if code, _ := s.post(t, "/v1/auth/login", map[string]any{"email": "redis@example.com", "password": goodPassword}, ""); code != 503 {
		t.Errorf("sign-in while Redis is down: %d, want 503 (the throttle cannot be enforced)", code)
	}
	if code, _ := s.post(t, "/v1/auth/logout", map[string]any{}, leave); code != 200 {
		t.Errorf("logout while Redis is down: %d", code)
	}
	if code, _, _ := s.call(t, nil, "GET", s.URL+"/v1/me", nil, leave); code != 401 {
		t.Errorf("a session ended while Redis is down still works: %d", code)
	}
	body := `{"type":"ping"}`
	req, _ := http.NewRequest("POST", s.URL+"/v1/hooks/standard/"+hook, strings.NewReader(body))
	for k, v := range signing.Headers([][]byte{key}, "msg_"+newUUID(t), time.Now(), []byte(body)) {
		req.Header[k] = v
	}
	if resp, err := s.Client.Do(req); err != nil || resp.StatusCode != 503 {
		t.Errorf("an inbound hook while Redis is down: %v %v, want 503 (replays cannot be refused)", resp.StatusCode, err)
	}
	if code, _, _ := s.call(t, nil, "GET", s.URL+"/readyz", nil, ""); code != 200 {
		t.Errorf("readyz while Redis is down: %d (services are degraded, not down)", code)
	}

	proxy.restore()
	restoredAt := time.Now()
	var recovered time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := s.post(t, "/v1/auth/login", map[string]any{"email": "redis@example.com", "password": goodPassword}, "")
		if code == 200 {
			recovered = time.Since(restoredAt)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-in did not recover: %d", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("Redis down for %s; sign-in back %s after it returned", restoredAt.Sub(cutAt).Round(time.Millisecond), recovered.Round(time.Millisecond))
	if code, _, _ := s.call(t, nil, "GET", s.URL+"/v1/me", nil, stay); code != 200 {
		t.Errorf("after recovery: %d", code)
	}
}
