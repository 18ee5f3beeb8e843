package e2e_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	"github.com/pythorix/pythorix/platform/envelope"
	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/server/servertest"
	"github.com/pythorix/pythorix/services/integrations"
	"github.com/pythorix/pythorix/services/integrations/signing"
	"github.com/pythorix/pythorix/services/scanning"
)

// receiver is a real HTTPS endpoint that checks each delivery's Standard
// Webhooks signature and answers as a test tells it to.
type receiver struct {
	srv  *httptest.Server
	keys [][]byte
	mu   sync.Mutex
	mode string // "ok", "fail", "slow", "redirect"
	got  []receivedHook
	// okIDs are the events taken: signature valid, answered 200.
	okIDs map[string]bool
}

type receivedHook struct {
	id, typ  string
	verified bool
	header   http.Header
	body     []byte
}

func startReceiver(t testing.TB, pkiDir string, secrets ...string) *receiver {
	t.Helper()
	rc := &receiver{mode: "ok", okIDs: map[string]bool{}}
	for _, s := range secrets {
		k, err := signing.ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		rc.keys = append(rc.keys, k)
	}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	cert, err := tls.LoadX509KeyPair(pki.GatewayHTTPSPaths(pkiDir).Cert, pki.GatewayHTTPSPaths(pkiDir).Key)
	if err != nil {
		t.Fatal(err)
	}
	rc.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	rc.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h := map[string]string{}
	for k, v := range r.Header {
		h[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	_, err := signing.VerifyStandard(rc.keys, h, body, time.Now())
	var env struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &env)
	rc.mu.Lock()
	mode := rc.mode
	rc.got = append(rc.got, receivedHook{id: h["webhook-id"], typ: env.Type, verified: err == nil, header: r.Header.Clone(), body: body})
	if err == nil && mode == "ok" {
		rc.okIDs[h["webhook-id"]] = true
	}
	rc.mu.Unlock()
	switch mode {
	case "fail":
		http.Error(w, "receiver down; token=s3cr3tvalue", http.StatusServiceUnavailable)
	case "slow":
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	case "redirect":
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
	default:
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
}

func (rc *receiver) set(mode string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.mode = mode
}

func (rc *receiver) hooks() []receivedHook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedHook(nil), rc.got...)
}

func (rc *receiver) url() string { return rc.srv.URL + "/hooks" }

func newWebhookSecret(t testing.TB) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// fastRetry retries within a second or two and gives an endpoint up after
// three seconds of failures.
func fastRetry(c *integrations.Settings) {
	c.AllowCIDRs = []string{"127.0.0.0/8"}
	c.Retry = integrations.Retry{Schedule: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond,
		400 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}, DisableAfter: 3 * time.Second}
	c.Timeout = time.Second
}

// publisher calls PublishEvent as the scanning service does.
func (s *Suite) publisher(t testing.TB) integrationsv1.IntegrationsServiceClient {
	conn := servertest.Dial(t, s.PKI, "scanning", "integrations", s.gatewayEnv["PYTHORIX_INTEGRATIONS_ADDR"])
	return integrationsv1.NewIntegrationsServiceClient(conn)
}

func publish(t testing.TB, c integrationsv1.IntegrationsServiceClient, org, typ string, payload map[string]any) int {
	t.Helper()
	n, _ := publishID(t, c, org, typ, payload)
	return n
}

// publishID publishes an event and answers how many deliveries it queued
// and its id.
func publishID(t testing.TB, c integrationsv1.IntegrationsServiceClient, org, typ string, payload map[string]any) (int, string) {
	t.Helper()
	p, err := structpb.NewStruct(payload)
	if err != nil {
		t.Fatal(err)
	}
	id := newUUID(t)
	out, err := c.PublishEvent(context.Background(), &integrationsv1.PublishEventRequest{OrgId: org, EventType: typ, EventId: id, Payload: p})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.GetQueuedCount()), id
}

func newUUID(testing.TB) string { return uuid.NewString() }

func waitFor(t testing.TB, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIntegrationsOverREST(t *testing.T) {
	t.Parallel()
	e := startScanEnv(t, SuiteOptions{Integrations: fastRetry})
	s := e.s
	sec := newWebhookSecret(t)
	rc := startReceiver(t, s.PKI, sec)
	pub := s.publisher(t)

	create := func(t *testing.T, body map[string]any) (int, map[string]any) {
		t.Helper()
		return s.req(t, "POST", "/v1/integrations", body, e.owner, e.org)
	}
	code, out := create(t, map[string]any{"name": "siem", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": rc.url(), "events": []string{"scan.completed", "finding.created"}}, "secret": sec})
	if code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	hook := out["integration"].(map[string]any)
	id := hook["id"].(string)

	t.Run("secrets are write-only and sealed at rest", func(t *testing.T) {
		raw := toJSON(out)
		if strings.Contains(raw, sec) || hook["secretSet"] != true || hook["secretLast4"] != sec[len(sec)-4:] {
			t.Fatalf("create answer: %s", raw)
		}
		_, got := s.req(t, "GET", "/v1/integrations/"+id, nil, e.owner, e.org)
		if strings.Contains(toJSON(got), sec) {
			t.Fatal("the secret came back")
		}
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, s.databases["integrations"])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `SELECT set_config('pythorix.org_id', '*', true)`); err != nil {
			t.Fatal(err)
		}
		var blob []byte
		var orgID string
		if err := tx.QueryRow(ctx, `SELECT secret, org_id::text FROM integrations WHERE id = $1`, id).Scan(&blob, &orgID); err != nil {
			t.Fatal(err)
		}
		key := strings.TrimPrefix(sec, "whsec_")
		if strings.Contains(string(blob), sec) || strings.Contains(string(blob), key) {
			t.Fatal("plaintext in the secret column")
		}
		if pt, err := s.KEK.Open(blob, []byte("integrations/"+orgID+"/"+id+"/secret")); err != nil || string(pt) != sec {
			t.Fatalf("the ciphertext does not open in place: %v", err)
		}
		// Moved to another row (or field), it no longer opens.
		if _, err := s.KEK.Open(blob, []byte("integrations/"+orgID+"/"+newUUID(t)+"/secret")); err == nil {
			t.Fatal("a ciphertext opened for another integration")
		}
		if _, err := s.KEK.Open(blob, []byte("integrations/"+orgID+"/"+id+"/inbound")); err == nil {
			t.Fatal("a ciphertext opened as another field")
		}
	})

	t.Run("bad configuration is refused, naming the field, and nothing is stored", func(t *testing.T) {
		cases := []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"name": "x", "kind": "INTEGRATION_KIND_WEBHOOK", "webhook": map[string]any{"url": "http://example.com/h"}}, "webhook.url"},
			{map[string]any{"name": "x", "kind": "INTEGRATION_KIND_WEBHOOK", "webhook": map[string]any{"url": "https://169.254.169.254/latest"}}, "webhook.url"},
			{map[string]any{"name": "x", "kind": "INTEGRATION_KIND_WEBHOOK", "webhook": map[string]any{"url": "https://u:p@example.com/"}}, "webhook.url"},
			{map[string]any{"name": "x", "kind": "INTEGRATION_KIND_WEBHOOK", "webhook": map[string]any{"url": "https://example.com/"}, "secret": "short"}, "secret"},
			{map[string]any{"name": "x", "kind": "INTEGRATION_KIND_SLACK", "slack": map[string]any{}, "secret": "https://evil.example/services/x"}, "secret"},
			{map[string]any{"name": "x", "kind": "INTEGRATION_KIND_PAGERDUTY", "pagerduty": map[string]any{}}, "secret"},
			{map[string]any{"name": "x", "kind": "INTEGRATION_KIND_SLACK", "webhook": map[string]any{"url": "https://example.com/"}}, "kind"},
		}
		for _, c := range cases {
			code, out := create(t, c.body)
			if code != 400 || !strings.Contains(toJSON(out), c.field) {
				t.Errorf("%v: %d %v", c.body, code, out)
			}
		}
		_, list := s.req(t, "GET", "/v1/integrations", nil, e.owner, e.org)
		if n := len(asList(list["integrations"])); n != 1 {
			t.Errorf("%d integrations stored, want 1", n)
		}
	})

	t.Run("a generated signing secret is shown once", func(t *testing.T) {
		code, out := create(t, map[string]any{"name": "gen", "kind": "INTEGRATION_KIND_WEBHOOK", "webhook": map[string]any{"url": rc.url()}})
		gen, _ := out["generatedSecret"].(string)
		if code != 200 || !strings.HasPrefix(gen, "whsec_") {
			t.Fatalf("create without a secret: %d %v", code, out)
		}
		gid := out["integration"].(map[string]any)["id"].(string)
		_, got := s.req(t, "GET", "/v1/integrations/"+gid, nil, e.owner, e.org)
		if strings.Contains(toJSON(got), gen) {
			t.Fatal("the generated secret came back")
		}
		if code, _ := s.req(t, "DELETE", "/v1/integrations/"+gid, nil, e.owner, e.org); code != 200 {
			t.Fatal("delete")
		}
	})

	t.Run("another organisation sees nothing", func(t *testing.T) {
		for _, p := range []string{"/v1/integrations/" + id, "/v1/integrations/" + id + "/deliveries"} {
			if code, _ := s.req(t, "GET", p, nil, e.intruder, e.foreign); code != 404 {
				t.Errorf("GET %s from another org: %d", p, code)
			}
		}
		if code, _ := s.req(t, "POST", "/v1/integrations/"+id+":test", map[string]any{}, e.intruder, e.foreign); code != 404 {
			t.Errorf("test from another org: %d", code)
		}
		if code, _ := s.req(t, "DELETE", "/v1/integrations/"+id, nil, e.intruder, e.foreign); code != 404 {
			t.Errorf("delete from another org: %d", code)
		}
		_, list := s.req(t, "GET", "/v1/integrations", nil, e.intruder, e.foreign)
		if len(asList(list["integrations"])) != 0 {
			t.Error("another org lists our integration")
		}
	})

	t.Run("a test event is signed per Standard Webhooks", func(t *testing.T) {
		code, out := s.req(t, "POST", "/v1/integrations/"+id+":test", map[string]any{}, e.owner, e.org)
		d, _ := out["delivery"].(map[string]any)
		if code != 200 || d["status"] != "DELIVERY_STATUS_SUCCEEDED" || d["responseStatus"] != float64(200) {
			t.Fatalf("test: %d %v", code, out)
		}
		got := rc.hooks()
		last := got[len(got)-1]
		if !last.verified || last.typ != integrations.TestEvent || !strings.HasPrefix(last.header.Get("webhook-signature"), "v1,") ||
			last.header.Get("webhook-id") == "" || last.header.Get("User-Agent") == "" {
			t.Fatalf("delivery as received: %+v", last)
		}
	})

	t.Run("events fan out to subscribers, once per event id", func(t *testing.T) {
		before := len(rc.hooks())
		if n := publish(t, pub, e.org, "scan.completed", map[string]any{"grade": "A", "target": "x"}); n != 1 {
			t.Fatalf("queued %d", n)
		}
		if n := publish(t, pub, e.org, "asset.created", map[string]any{}); n != 0 {
			t.Fatalf("an unsubscribed event was queued %d times", n)
		}
		waitFor(t, "the delivery", 10*time.Second, func() bool { return len(rc.hooks()) > before })
		p, _ := structpb.NewStruct(map[string]any{"a": 1})
		dup := newUUID(t)
		for i, want := range []int32{1, 0} {
			out, err := pub.PublishEvent(context.Background(), &integrationsv1.PublishEventRequest{OrgId: e.org, EventType: "finding.created", EventId: dup, Payload: p})
			if err != nil || out.GetQueuedCount() != want {
				t.Fatalf("publish #%d of one event id: %v %v", i+1, out, err)
			}
		}
	})

	t.Run("a failing receiver is retried until it answers; the log shows it", func(t *testing.T) {
		rc.set("fail")
		_, ev := publishID(t, pub, e.org, "scan.completed", map[string]any{"grade": "B"})
		ours := func(status string) map[string]any {
			_, out := s.req(t, "GET", "/v1/integrations/"+id+"/deliveries?pageSize=100"+status, nil, e.owner, e.org)
			for _, d := range asList(out["deliveries"]) {
				if d := d.(map[string]any); d["eventId"] == ev {
					return d
				}
			}
			return nil
		}
		var failing map[string]any
		waitFor(t, "a retry", 10*time.Second, func() bool {
			failing = ours("&status=DELIVERY_STATUS_RETRYING")
			return failing != nil
		})
		if failing["responseStatus"] != float64(503) || strings.Contains(toJSON(failing), "s3cr3tvalue") || failing["nextAttemptTime"] == nil {
			t.Errorf("failing delivery: %v", failing)
		}
		rc.set("ok")
		var first map[string]any
		waitFor(t, "the retry to succeed", 10*time.Second, func() bool {
			first = ours("&status=DELIVERY_STATUS_SUCCEEDED")
			return first != nil
		})
		if first["attempts"].(float64) < 2 {
			t.Errorf("after recovery: %v", first)
		}
		// A manual replay is a new delivery of the same event.
		code, rep := s.req(t, "POST", "/v1/deliveries/"+first["id"].(string)+":replay", map[string]any{}, e.owner, e.org)
		if code != 200 || rep["delivery"].(map[string]any)["replayOf"] != first["id"] {
			t.Fatalf("replay: %d %v", code, rep)
		}
		if code, _ := s.req(t, "POST", "/v1/deliveries/"+first["id"].(string)+":replay", map[string]any{}, e.intruder, e.foreign); code != 404 {
			t.Errorf("replay from another org: %d", code)
		}
	})

	t.Run("timeouts and redirects fail; days of failures disable the endpoint", func(t *testing.T) {
		for _, mode := range []string{"slow", "redirect"} {
			rc.set(mode)
			code, out := s.req(t, "POST", "/v1/integrations/"+id+":test", map[string]any{}, e.owner, e.org)
			d, _ := out["delivery"].(map[string]any)
			if code != 200 || d["status"] != "DELIVERY_STATUS_FAILED" {
				t.Errorf("%s receiver: %d %v", mode, code, out)
			}
		}
		rc.set("fail")
		publish(t, pub, e.org, "finding.created", map[string]any{"severity": "HIGH"})
		waitFor(t, "the integration to be disabled", 20*time.Second, func() bool {
			_, out := s.req(t, "GET", "/v1/integrations/"+id, nil, e.owner, e.org)
			x := out["integration"].(map[string]any)
			return x["enabled"] != true && strings.Contains(toJSON(x["disabledReason"]), "failed")
		})
		if n := publish(t, pub, e.org, "scan.completed", map[string]any{}); n != 0 {
			t.Errorf("a disabled integration got %d deliveries", n)
		}
		rc.set("ok")
		code, out := s.req(t, "PATCH", "/v1/integrations/"+id, map[string]any{"enabled": true}, e.owner, e.org)
		if code != 200 || out["integration"].(map[string]any)["disabledReason"] != nil {
			t.Errorf("re-enable: %d %v", code, out)
		}
	})

	t.Run("a rotated secret signs beside the old one", func(t *testing.T) {
		next := newWebhookSecret(t)
		if code, out := s.req(t, "PATCH", "/v1/integrations/"+id, map[string]any{"secret": next}, e.owner, e.org); code != 200 {
			t.Fatalf("rotate: %d %v", code, out)
		}
		s.req(t, "POST", "/v1/integrations/"+id+":test", map[string]any{}, e.owner, e.org)
		got := rc.hooks()
		sigs := strings.Fields(got[len(got)-1].header.Get("webhook-signature"))
		if len(sigs) != 2 || !got[len(got)-1].verified {
			t.Fatalf("signatures while rotating: %v", sigs)
		}
	})

	t.Run("delete erases the integration and its deliveries", func(t *testing.T) {
		if code, out := s.req(t, "DELETE", "/v1/integrations/"+id, nil, e.owner, e.org); code != 200 {
			t.Fatalf("delete: %d %v", code, out)
		}
		if code, _ := s.req(t, "GET", "/v1/integrations/"+id, nil, e.owner, e.org); code != 404 {
			t.Errorf("after delete: %d", code)
		}
	})
}

// Inbound hooks are verified before anything else, with the published
// signature schemes, inside a 5-minute window, once.
func TestInboundHooks(t *testing.T) {
	t.Parallel()
	e := startScanEnv(t, SuiteOptions{Integrations: fastRetry})
	s := e.s
	sec := newWebhookSecret(t)
	const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	mk := func(name string, body map[string]any) string {
		code, out := s.req(t, "POST", "/v1/integrations", body, e.owner, e.org)
		if code != 200 {
			t.Fatalf("create %s: %d %v", name, code, out)
		}
		return out["integration"].(map[string]any)["id"].(string)
	}
	std := mk("standard", map[string]any{"name": "in", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": "https://example.com/out"}, "inboundSecret": sec})
	// The outbound signing secret never verifies a hook: a delivery sent back in is refused.
	out := mk("outbound only", map[string]any{"name": "out", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": "https://example.com/out"}, "secret": sec})
	slack := mk("slack", map[string]any{"name": "slack", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": "https://example.com/out"}, "inboundSecret": slackSecret})
	stripe := mk("stripe", map[string]any{"name": "stripe", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": "https://example.com/out"}, "inboundSecret": "whsec_stripe_test_secret"})

	post := func(t *testing.T, path string, h http.Header, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	key, _ := signing.ParseSecret(sec)
	body := `{"type":"ping","n":1}`

	t.Run("standard webhooks", func(t *testing.T) {
		now := time.Now()
		h := signing.Headers([][]byte{key}, "msg_"+newUUID(t), now, []byte(body))
		if code := post(t, "/v1/hooks/standard/"+std, h, body); code != 200 {
			t.Fatalf("valid hook: %d", code)
		}
		if code := post(t, "/v1/hooks/standard/"+std, h, body); code != 401 {
			t.Errorf("the same hook again: %d", code)
		}
		if code := post(t, "/v1/hooks/standard/"+strings.ToUpper(std), h, body); code != 401 {
			t.Errorf("the same hook again, id in capitals: %d", code)
		}
		if code := post(t, "/v1/hooks/standard/"+out, signing.Headers([][]byte{key}, "msg_"+newUUID(t), now, []byte(body)), body); code != 401 {
			t.Errorf("a hook signed with the outbound secret: %d", code)
		}
		withAuth := signing.Headers([][]byte{key}, "msg_"+newUUID(t), now, []byte(body))
		withAuth.Set("Authorization", "Basic c2xhY2s6eA==")
		if code := post(t, "/v1/hooks/standard/"+std, withAuth, body); code != 200 {
			t.Errorf("a provider's own Authorization header: %d", code)
		}
		if code := post(t, "/v1/hooks/standard/"+std, h, body+" "); code != 401 {
			t.Errorf("tampered body: %d", code)
		}
		old := signing.Headers([][]byte{key}, "msg_"+newUUID(t), now.Add(-6*time.Minute), []byte(body))
		if code := post(t, "/v1/hooks/standard/"+std, old, body); code != 401 {
			t.Errorf("6 minutes old: %d", code)
		}
		ahead := signing.Headers([][]byte{key}, "msg_"+newUUID(t), now.Add(6*time.Minute), []byte(body))
		if code := post(t, "/v1/hooks/standard/"+std, ahead, body); code != 401 {
			t.Errorf("6 minutes ahead: %d", code)
		}
		if code := post(t, "/v1/hooks/standard/"+newUUID(t), signing.Headers([][]byte{key}, "msg_x", now, []byte(body)), body); code != 401 {
			t.Errorf("unknown integration: %d", code)
		}
		if code := post(t, "/v1/hooks/standard/"+std, http.Header{}, body); code != 401 {
			t.Errorf("unsigned: %d", code)
		}
	})

	t.Run("slack v0", func(t *testing.T) {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h := http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {slackSignature(slackSecret, ts, body)}}
		if code := post(t, "/v1/hooks/slack/"+slack, h, body); code != 200 {
			t.Fatalf("valid slack hook: %d", code)
		}
		if code := post(t, "/v1/hooks/slack/"+slack, h, body); code != 401 {
			t.Errorf("replayed slack hook: %d", code)
		}
		if code := post(t, "/v1/hooks/stripe/"+slack, h, body); code != 401 {
			t.Errorf("slack signature as stripe: %d", code)
		}
	})

	t.Run("stripe", func(t *testing.T) {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h := http.Header{"Stripe-Signature": {"t=" + ts + ",v1=" + hmacHex("whsec_stripe_test_secret", ts+"."+body)}}
		if code := post(t, "/v1/hooks/stripe/"+stripe, h, body); code != 200 {
			t.Fatalf("valid stripe hook: %d", code)
		}
		if code := post(t, "/v1/hooks/nope/"+stripe, h, body); code != 401 && code != 400 {
			t.Errorf("unknown provider: %d", code)
		}
	})
}

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func slackSignature(secret, ts, body string) string {
	return "v0=" + hmacHex(secret, "v0:"+ts+":"+body)
}

// A finished scan publishes scan.completed, finding.created and
// grade.changed; a subscribed webhook receives them, signed.
func TestScanEventsReachIntegrations(t *testing.T) {
	t.Parallel()
	rd := startRedirector(t)
	e := startScanEnv(t, SuiteOptions{
		Scanning: func(c *scanning.Settings) {
			c.AllowCIDRs = []string{"127.0.0.0/8"}
			c.HTTPPort = rd.port
		},
		Integrations: fastRetry,
	})
	s := e.s
	sec := newWebhookSecret(t)
	rc := startReceiver(t, s.PKI, sec)
	code, out := s.req(t, "POST", "/v1/integrations", map[string]any{"name": "all", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": rc.url()}, "secret": sec}, e.owner, e.org)
	if code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	site := startSite(t, s.PKI)
	site.set(map[string][]string{"Server": {"nginx/1.18.0"}}, "<p>bare</p>")
	rd.add("/app-ev", "https://"+site.hostPort()+"/app-ev")
	asset := e.asset(t, site.hostPort()+"/app-ev", "ENVIRONMENT_STAGING")
	e.grant(t, asset)
	e.wait(t, e.scan(t, asset)["id"].(string), "SCAN_STATUS_SUCCEEDED")
	types := func() map[string]int {
		out := map[string]int{}
		for _, h := range rc.hooks() {
			if h.verified {
				out[h.typ]++
			}
		}
		return out
	}
	waitFor(t, "scan events", 15*time.Second, func() bool {
		got := types()
		return got["scan.completed"] == 1 && got["finding.created"] >= 4
	})
	site.set(hardened, "<p>fixed</p>")
	e.wait(t, e.scan(t, asset)["id"].(string), "SCAN_STATUS_SUCCEEDED")
	waitFor(t, "grade.changed", 15*time.Second, func() bool { return types()["grade.changed"] == 1 && types()["scan.completed"] == 2 })
}

// provider is a stand-in for Slack's, Jira's and PagerDuty's APIs: a real
// HTTPS server that records each call and answers as the provider does.
type provider struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []providerCall
}

type providerCall struct {
	path   string
	header http.Header
	body   map[string]any
}

// startProviderAPI runs the provider on lis (reserved before the suite
// started, so the suite's settings could name it).
func startProviderAPI(t testing.TB, pkiDir string, lis net.Listener) *provider {
	t.Helper()
	p := &provider{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
		p.mu.Lock()
		p.calls = append(p.calls, providerCall{path: r.URL.Path, header: r.Header.Clone(), body: body})
		p.mu.Unlock()
		switch {
		case r.URL.Path == "/api/chat.postMessage":
			_, _ = io.WriteString(w, `{"ok":true}`)
		case r.URL.Path == "/api/auth.revoke":
			_, _ = io.WriteString(w, `{"ok":true,"revoked":true}`)
		case r.URL.Path == "/pd":
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"status":"success","dedup_key":"x"}`)
		case r.URL.Path == "/rest/api/3/issue":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"10000","key":"SEC-1"}`)
		case strings.HasPrefix(r.URL.Path, "/services/"):
			_, _ = io.WriteString(w, "ok")
		default:
			http.NotFound(w, r)
		}
	}))
	_ = p.srv.Listener.Close()
	p.srv.Listener = lis
	cert, err := tls.LoadX509KeyPair(pki.GatewayHTTPSPaths(pkiDir).Cert, pki.GatewayHTTPSPaths(pkiDir).Key)
	if err != nil {
		t.Fatal(err)
	}
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) called(path string) []providerCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []providerCall
	for _, c := range p.calls {
		if c.path == path {
			out = append(out, c)
		}
	}
	return out
}

func TestProviderIntegrations(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	base := "https://localhost:" + port
	e := startScanEnv(t, SuiteOptions{Integrations: func(c *integrations.Settings) {
		fastRetry(c)
		c.SlackHosts = []string{"localhost:" + port}
		c.Providers = integrations.Providers{SlackAPI: base + "/api", PagerDutyURL: base + "/pd"}
	}})
	s := e.s
	prov := startProviderAPI(t, s.PKI, lis)
	pub := s.publisher(t)
	mk := func(body map[string]any) string {
		t.Helper()
		code, out := s.req(t, "POST", "/v1/integrations", body, e.owner, e.org)
		if code != 200 {
			t.Fatalf("create %v: %d %v", body["kind"], code, out)
		}
		x := out["integration"].(map[string]any)
		if strings.Contains(toJSON(out), fmt.Sprint(body["secret"])) {
			t.Fatalf("%v: the secret came back", body["kind"])
		}
		return x["id"].(string)
	}
	const botToken = "xoxb-1234567890-abcdefghijkl"
	bot := mk(map[string]any{"name": "bot", "kind": "INTEGRATION_KIND_SLACK", "slack": map[string]any{"channel": "#security"}, "secret": botToken})
	mk(map[string]any{"name": "hook", "kind": "INTEGRATION_KIND_SLACK", "slack": map[string]any{}, "secret": base + "/services/T0/B0/xyz"})
	mk(map[string]any{"name": "jira", "kind": "INTEGRATION_KIND_JIRA", "secret": "jira-api-token-123",
		"jira": map[string]any{"baseUrl": base, "projectKey": "SEC", "email": "bot@example.com"}})
	mk(map[string]any{"name": "pd", "kind": "INTEGRATION_KIND_PAGERDUTY", "pagerduty": map[string]any{}, "secret": "abcdefghijklmnopqrstuvwxyz012345"})

	// A low finding goes to Slack only; a high one to all four.
	if n := publish(t, pub, e.org, "finding.created", map[string]any{"severity": "LOW", "title": "Referrer"}); n != 2 {
		t.Errorf("low finding queued for %d integrations, want 2 (Slack)", n)
	}
	if n := publish(t, pub, e.org, "finding.created", map[string]any{"severity": "CRITICAL", "title": "Exposed .env"}); n != 4 {
		t.Errorf("critical finding queued for %d integrations, want 4", n)
	}
	waitFor(t, "every provider", 10*time.Second, func() bool {
		return len(prov.called("/api/chat.postMessage")) == 2 && len(prov.called("/services/T0/B0/xyz")) == 2 &&
			len(prov.called("/rest/api/3/issue")) == 1 && len(prov.called("/pd")) == 1
	})
	post := prov.called("/api/chat.postMessage")[0]
	if post.header.Get("Authorization") != "Bearer "+botToken || post.body["channel"] != "#security" {
		t.Errorf("slack post: %v %v", post.header, post.body)
	}
	issue := prov.called("/rest/api/3/issue")[0]
	if !strings.HasPrefix(issue.header.Get("Authorization"), "Basic ") ||
		issue.body["fields"].(map[string]any)["project"].(map[string]any)["key"] != "SEC" {
		t.Errorf("jira issue: %v", issue.body)
	}
	page := prov.called("/pd")[0]
	if page.body["routing_key"] != "abcdefghijklmnopqrstuvwxyz012345" || page.body["event_action"] != "trigger" ||
		page.body["payload"].(map[string]any)["severity"] != "critical" {
		t.Errorf("pagerduty event: %v", page.body)
	}

	// Disconnecting Slack revokes the bot token with Slack, erases the
	// secret and leaves an audit event saying so.
	if code, out := s.req(t, "DELETE", "/v1/integrations/"+bot, nil, e.owner, e.org); code != 200 {
		t.Fatalf("delete: %d %v", code, out)
	}
	rev := prov.called("/api/auth.revoke")
	if len(rev) != 1 || rev[0].header.Get("Authorization") != "Bearer "+botToken {
		t.Fatalf("revocation: %v", rev)
	}
	waitFor(t, "the audit event", 15*time.Second, func() bool {
		return slices.Contains(s.auditActions(t, e.owner, e.org), "integrations.integration.delete")
	})
}

// Rotating the KEK re-wraps every data key under the new key; afterwards the
// old key alone opens nothing and the new ring opens every secret.
func TestKEKRotation(t *testing.T) {
	t.Parallel()
	e := startScanEnv(t, SuiteOptions{Integrations: fastRetry})
	s := e.s
	sec := newWebhookSecret(t)
	code, out := s.req(t, "POST", "/v1/integrations", map[string]any{"name": "k", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": "https://example.com/h"}, "secret": sec, "inboundSecret": "slack-signing-secret"}, e.owner, e.org)
	if code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	id := out["integration"].(map[string]any)["id"].(string)
	ctx := context.Background()
	db, err := pgxpool.New(ctx, s.databases["integrations"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ring, err := envelope.ParseKeyring("kek2:" + randomKey() + "," + s.KEKSpec)
	if err != nil {
		t.Fatal(err)
	}
	n, err := integrations.RotateKEK(ctx, db, ring)
	if err != nil || n != 1 {
		t.Fatalf("rotate: %d %v", n, err)
	}
	var blob, inbound []byte
	var org string
	err = postgres.InOrg(ctx, db, postgres.AllOrgs, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT secret, inbound_secret, org_id::text FROM integrations WHERE id = $1`, id).Scan(&blob, &inbound, &org)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"secret": blob, "inbound": inbound} {
		if kid, _ := envelope.KeyID(b); kid != "kek2" {
			t.Errorf("%s wrapped by %q after rotation", name, kid)
		}
		aad := []byte("integrations/" + org + "/" + id + "/" + name)
		if _, err := s.KEK.Open(b, aad); err == nil {
			t.Errorf("%s: the old key alone still opens it", name)
		}
		if _, err := ring.Open(b, aad); err != nil {
			t.Errorf("%s: the new ring cannot open it: %v", name, err)
		}
	}
	if pt, _ := ring.Open(blob, []byte("integrations/"+org+"/"+id+"/secret")); string(pt) != sec {
		t.Error("the secret changed in rotation")
	}
}

// A destination whose name resolves to the cloud metadata address is
// refused when dialled, even though its URL looked public.
func TestDeliveryToANameResolvingToMetadataIsRefused(t *testing.T) {
	t.Parallel()
	dnsSrv := startDNS(t)
	dnsSrv.setA("metadata.pythorix.test", "169.254.169.254")
	e := startScanEnv(t, SuiteOptions{Integrations: func(c *integrations.Settings) {
		fastRetry(c)
		c.DNSServer = dnsSrv.addr
	}})
	s := e.s
	code, out := s.req(t, "POST", "/v1/integrations", map[string]any{"name": "meta", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": "https://metadata.pythorix.test/latest/meta-data/"}}, e.owner, e.org)
	if code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	id := out["integration"].(map[string]any)["id"].(string)
	code, out = s.req(t, "POST", "/v1/integrations/"+id+":test", map[string]any{}, e.owner, e.org)
	d, _ := out["delivery"].(map[string]any)
	if code != 200 || d["status"] != "DELIVERY_STATUS_FAILED" || d["responseStatus"] != nil ||
		!strings.Contains(toJSON(d["responseSnippet"]), "not allowed") {
		t.Fatalf("delivery to a metadata address: %d %v", code, out)
	}
}
