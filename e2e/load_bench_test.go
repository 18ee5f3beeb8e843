package e2e_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkLoadP99 offers a mixed workload through the gateway at rising
// fixed rates (open loop, loopback only, a few seconds per step, bounded)
// and reports the highest rate reached whose p99 stays under 100 ms, the p99
// there, and each process's resident memory at that rate: the suite runs as
// `make run` runs it, one process per service and the gateway.
func BenchmarkLoadP99(b *testing.B) {
	const step = 3 * time.Second
	rates := []int{50, 100, 200, 300, 400, 600, 800, 1000, 1200, 1600, 2400}
	s, procs := StartProcesses(b)
	s.signup(b, "load@example.com", goodPassword)
	tok, _ := s.login(b, "load@example.com", goodPassword)
	_, out := s.req(b, "POST", "/v1/orgs", map[string]any{"name": "Load"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)
	b.ResetTimer()
	var best, bestP99 float64
	bestRSS := map[string]int64{}
	for range b.N {
		for _, rate := range rates {
			var mu sync.Mutex
			var lat []time.Duration
			errs := 0
			var wg sync.WaitGroup
			cpu0 := map[string]time.Duration{}
			for name, p := range procs {
				cpu0[name] = p.cpu()
			}
			ticker := time.NewTicker(time.Second / time.Duration(rate))
			end := time.Now().Add(step)
			for i := 0; time.Now().Before(end); i++ {
				<-ticker.C
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					var code int
					switch i % 10 {
					case 0: // a write: rename the organisation
						code, _ = s.req(b, "PATCH", "/v1/orgs/"+org, map[string]any{"name": fmt.Sprintf("Load %d", i)}, tok, org)
					case 1, 2:
						code, _ = s.req(b, "GET", "/v1/assets", nil, tok, org)
					case 3:
						code, _ = s.req(b, "GET", "/v1/audit/events?pageSize=10", nil, tok, org)
					default:
						code, _ = s.req(b, "GET", "/v1/orgs/"+org, nil, tok, org)
					}
					took := time.Since(start)
					mu.Lock()
					lat = append(lat, took)
					if code != 200 {
						errs++
					}
					mu.Unlock()
				}()
			}
			ticker.Stop()
			wg.Wait()
			rss := map[string]int64{}
			var mem []string
			for _, name := range slices.Sorted(maps.Keys(procs)) {
				r, peak := procs[name].memory()
				rss[name] = r
				busy := float64(procs[name].cpu()-cpu0[name]) / float64(step) * 100
				mem = append(mem, fmt.Sprintf("%s %d/%d MB %.0f%%", name, r>>20, peak>>20, busy))
			}
			slices.Sort(lat)
			p99 := lat[len(lat)*99/100]
			b.Logf("rate %d/s: %d requests, %d errors, p50 %s, p99 %s; RSS/peak, CPU: %s", rate, len(lat), errs,
				lat[len(lat)/2].Round(time.Millisecond), p99.Round(time.Millisecond), strings.Join(mem, ", "))
			if p99 >= 100*time.Millisecond || errs > 0 {
				break
			}
			// The rate reached, which a busy machine may hold below the one offered.
			best, bestP99, bestRSS = float64(len(lat))/step.Seconds(), float64(p99.Microseconds())/1000, rss
		}
	}
	b.StopTimer()
	b.ReportMetric(best, "req/s-at-p99<100ms")
	b.ReportMetric(bestP99, "p99-ms")
	for name, r := range bestRSS {
		b.ReportMetric(float64(r)/(1<<20), name+"-RSS-MB")
	}
}
