package e2e_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pythorix/pythorix/services/scanning"
)

// BenchmarkScanQueue200Targets scans 200 local HTTPS sites (each its own
// target host) through the whole path: REST -> scanning -> River -> scanner
// -> findings, and reports scans per minute, requests per scan and the peak
// heap of the process (all services and the sites run in it).
func BenchmarkScanQueue200Targets(b *testing.B) {
	const targets = 200
	rd := startRedirector(b)
	e := startScanEnv(b, SuiteOptions{Scanning: func(c *scanning.Settings) {
		c.AllowCIDRs = []string{"127.0.0.0/8"}
		c.HTTPPort = rd.port
		c.Limits = scanning.Limits{PerOrg: 64, PerHost: 1, Active: 2 * targets, Workers: 32}
	}})
	assets := make([]string, targets)
	for i := range assets {
		st := startSite(b, e.s.PKI)
		st.set(hardened, "<!doctype html><title>bench</title>")
		assets[i] = e.asset(b, st.hostPort(), "ENVIRONMENT_STAGING")
		e.grant(b, assets[i])
	}
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	requests := 0
	for range b.N {
		ids := make([]string, targets)
		for i, a := range assets {
			ids[i] = e.scan(b, a)["id"].(string)
		}
		for _, id := range ids {
			sc := e.wait(b, id, "SCAN_STATUS_SUCCEEDED")
			requests += int(sc["requests"].(float64))
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(done)
	scans := float64(b.N * targets)
	b.ReportMetric(scans/elapsed.Minutes(), "scans/min")
	b.ReportMetric(float64(requests)/scans, "req/scan")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
}
