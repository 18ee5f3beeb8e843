package e2e_test

import (
	"testing"
	"time"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	"github.com/pythorix/pythorix/services/integrations"
)

// benchRetry outlasts a receiver outage of a few seconds.
func benchRetry(c *integrations.Settings) {
	c.AllowCIDRs = []string{"127.0.0.0/8"}
	c.Retry = integrations.Retry{Schedule: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, time.Second, time.Second, time.Second, time.Second, time.Second, time.Second}, DisableAfter: time.Hour}
	c.Timeout = 2 * time.Second
	c.Workers = 20
}

// delivered counts the distinct events the receiver took with a valid
// signature while it was answering.
func (rc *receiver) delivered() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.okIDs)
}

// startWebhookBench starts a suite with one webhook integration pointing at
// a receiver, and a publisher.
func startWebhookBench(b *testing.B) (*scanEnv, *receiver, integrationsv1.IntegrationsServiceClient) {
	b.Helper()
	e := startScanEnv(b, SuiteOptions{Integrations: benchRetry})
	sec := newWebhookSecret(b)
	rc := startReceiver(b, e.s.PKI, sec)
	if code, out := e.s.req(b, "POST", "/v1/integrations", map[string]any{"name": "bench", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": rc.url()}, "secret": sec}, e.owner, e.org); code != 200 {
		b.Fatalf("create: %d %v", code, out)
	}
	return e, rc, e.s.publisher(b)
}

// BenchmarkWebhookDeliveries publishes events to a webhook integration and
// waits until the receiver has taken every one: River job, signing, HTTPS
// POST, signature check at the receiver and the delivery log write.
func BenchmarkWebhookDeliveries(b *testing.B) {
	const events = 500
	e, rc, pub := startWebhookBench(b)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for range events {
			publish(b, pub, e.org, "scan.completed", map[string]any{"grade": "A", "n": i})
		}
		waitFor(b, "every delivery", 5*time.Minute, func() bool { return rc.delivered() >= (i+1)*events })
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*events)/elapsed.Seconds(), "deliveries/s")
}

// BenchmarkWebhookOutage publishes events while the receiver answers 503
// for three seconds, then lets it recover, and counts what was sent,
// delivered and lost (lost must be 0).
func BenchmarkWebhookOutage(b *testing.B) {
	const events = 200
	e, rc, pub := startWebhookBench(b)
	b.ResetTimer()
	sent := 0
	for range b.N {
		base := rc.delivered()
		rc.set("fail")
		down := time.Now()
		for range events {
			publish(b, pub, e.org, "finding.created", map[string]any{"severity": "LOW"})
			sent++
		}
		time.Sleep(3*time.Second - time.Since(down))
		rc.set("ok")
		deadline := time.Now().Add(2 * time.Minute)
		for rc.delivered() < base+events && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	b.StopTimer()
	delivered := rc.delivered()
	b.ReportMetric(float64(sent), "sent")
	b.ReportMetric(float64(delivered), "delivered")
	b.ReportMetric(float64(sent-delivered), "lost")
	if delivered != sent {
		b.Errorf("lost %d of %d events", sent-delivered, sent)
	}
}
